"""The command line, called as main([...])."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn.cli import main

FAST = ["--draws", "400", "--tune", "400", "--chains", "2", "--no-progress"]


@pytest.fixture(scope="module")
def csv(
    tmp_path_factory,
):
    X, y = bu.datasets.make_linear_regression(n=60, random_seed=0)
    path = tmp_path_factory.mktemp("cli") / "data.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "target": y}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(csv):
    out = csv.parent / "post.nc"
    argv = ["fit", str(csv), "--target", "target", "--model", "polynomial", "--sigma", "1"]
    # Converged: bulk ESS 632 of 800 (minimum 400), R-hat 1.006, no divergences: exit 0.
    assert main([*argv, *FAST, "-o", str(out)]) == 0
    return out


def test_fit_forget_predict_summary(fitted, csv, capsys):
    out = fitted.parent / "forgot.nc"
    assert main(["forget", str(fitted), "--rows", "3,17,42", "--seed", "0", "-o", str(out)]) == 0
    assert "Pareto k̂" in capsys.readouterr().out
    assert bu.load(out).history[0]["row_ids"] == [3, 17, 42]
    preds = fitted.parent / "preds.csv"
    assert main(["predict", str(out), str(csv), "-o", str(preds)]) == 0
    assert list(pd.read_csv(preds).columns) == ["row", "mean", "lower", "upper"]
    assert main(["summary", str(out)]) == 0
    text = capsys.readouterr().out
    assert "coef[a]" in text and "request #1: reweight (asked: auto), 3 rows" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["forget", "{post}", "--rows", "3,x", "-o", "{dir}/o.nc"], "comma-separated integer"),
        (["forget", "{post}", "--rows", "999", "-o", "{dir}/o.nc"], "unknown ids [999]"),
        (["forget", "{dir}/missing.nc", "--rows", "1", "-o", "{dir}/o.nc"], "No posterior file"),
        (["fit", "{csv}", "--target", "nope", "-o", "{dir}/o.nc"], "--target 'nope'"),
        (["predict", "{post}", "{dir}/missing.csv"], "No CSV file"),
    ],
)
def test_errors_are_one_line_and_nonzero(fitted, csv, capsys, argv, message):
    argv = [a.format(post=fitted, csv=csv, dir=fitted.parent) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_unreliable_forget_exits_3(fitted, capsys):
    rows = ",".join(str(i) for i in range(0, 50))
    argv = ["forget", str(fitted), "--rows", rows, "--method", "reweight", "--seed", "0"]
    assert main([*argv, "-o", str(fitted.parent / "x.nc")]) == 3
    assert "method='refit'" in capsys.readouterr().out


def test_help_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "forget" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["forget"])
    assert exc.value.code == 2


def test_demo_runs_on_offline_default(capsys, monkeypatch):
    monkeypatch.delenv("BAYES_UNLEARN_DATA", raising=False)
    assert main(["demo", "--draws", "150", "--chains", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "offline default" in out and "vs refit" in out
    assert np.isfinite(float(out.split("test accuracy: original ")[1].split(",")[0]))


def test_rows_file_bad_token_names_the_option_and_line(fitted, capsys, tmp_path):
    rows = tmp_path / "rows.txt"
    rows.write_text("3 17\n42 x9\n")
    out = str(tmp_path / "o.nc")
    argv = ["forget", str(fitted), "--rows-file", str(rows), "--seed", "0", "-o", out]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "--rows-file" in err and "line 2" in err and "'x9'" in err and len(err.splitlines()) == 1
    rows.write_text("3\n17 42\n")
    assert main(argv) == 0
    assert bu.load(tmp_path / "o.nc").history[0]["row_ids"] == [3, 17, 42]


def test_in_place_with_a_key_file_and_audit(fitted, csv, capsys, tmp_path):
    key = tmp_path / "key"
    key.write_bytes(b"controller-secret-0123456789\n")
    post = tmp_path / "post.nc"
    bu.save(bu.load(fitted), post, key=key.read_bytes().strip())  # start signing an old file
    argv = ["forget", str(post), "--rows", "5", "--in-place", "--key-file", str(key), "--seed", "1"]
    assert main(argv) == 0
    assert "refreshed before saving" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    with pytest.raises(ValueError, match="is signed"):
        bu.load(post)
    loaded = bu.load(post, key=key.read_bytes().strip())
    assert loaded.history[0]["row_ids"] == [5] and len(loaded.history[0]["fingerprints"]) == 1
    # The erasure audit on the command line, with forgotten and never-seen rows as CSVs.
    data = pd.read_csv(csv)
    data.iloc[[5]].to_csv(tmp_path / "forgotten.csv", index=False)
    unseen = data.iloc[:20].assign(a=lambda d: d["a"] + 0.5)  # rows the model never saw
    unseen.to_csv(tmp_path / "unseen.csv", index=False)
    argv = ["audit", str(post), "--forgotten", str(tmp_path / "forgotten.csv")]
    argv += ["--unseen", str(tmp_path / "unseen.csv"), "--key-file", str(key)]
    code = main([*argv, "-o", str(tmp_path / "audit.html")])
    out = capsys.readouterr().out
    assert code == 0 and "Erasure audit passed" in out
    assert 'id="erasure"' in (tmp_path / "audit.html").read_text()


def test_forget_needs_one_output(fitted, capsys):
    assert main(["forget", str(fitted), "--rows", "1"]) == 1
    assert "exactly one of -o/--output and --in-place" in capsys.readouterr().err


def test_damaged_file_is_one_line_and_exit_1(fitted, capsys, tmp_path):
    import h5py

    path = tmp_path / "edited.nc"
    path.write_bytes(fitted.read_bytes())
    with h5py.File(path, "r+") as fh:  # an edit of the model spec inside the metadata
        meta = fh.attrs["bayes_unlearn"]
        meta = meta.decode() if isinstance(meta, bytes) else meta
        fh.attrs["bayes_unlearn"] = meta.replace('"sigma": 1.0', '"sigma": 9.5')
    assert main(["summary", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "failed its checksum" in err and len(err.splitlines()) == 1


def test_the_method_choices_are_unlearns_methods(capsys):
    from bayes_unlearn import registry
    from bayes_unlearn.cli import build_parser

    for name in registry.names():
        assert build_parser().parse_args(["forget", "p.nc", "--method", name]).method == name
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["forget", "p.nc", "--method", "mcmc"])
    assert exc.value.code == 2 and ", ".join(map(repr, registry.names())) in capsys.readouterr().err


def test_a_fit_that_did_not_converge_exits_3_and_says_so(csv, capsys, tmp_path):
    out = tmp_path / "short.nc"
    argv = ["fit", str(csv), "--target", "target", "--model", "polynomial", "--sigma", "1"]
    short = ["--draws", "30", "--tune", "10", "--chains", "2", "--no-progress"]
    assert main([*argv, *short, "-o", str(out)]) == 3  # R-hat 1.11, bulk ESS 21 of 60
    text = capsys.readouterr().out
    assert "verdict: MCMC did not converge" in text and f"to {out}" in text
    assert not bu.load(out).diagnostics.reliable  # saved all the same, with its verdict


def _forget_with(fitted, tmp_path, name, *flags):
    out = tmp_path / f"{name}.nc"
    argv = ["forget", str(fitted), "--rows", "3,17,42", "--seed", "1", *flags, "-o", str(out)]
    assert main(argv) == 0
    return bu.load(out)


def test_chunk_rows_and_dask_reach_every_sweep_over_rows(fitted, tmp_path, monkeypatch):
    """forget (reweighting, then the refresh before saving sweeps the 57 rows left):
    ``--chunk-rows 7`` cuts every sweep into blocks of 7 rows, ``--dask`` runs them as Dask
    tasks, and neither changes a number (the same blocks are combined in the same order)."""
    import dask

    from bayes_unlearn import _rowwise
    from bayes_unlearn.options import get_options

    sweeps = []
    row_tasks = _rowwise.row_tasks

    def recorded(*args, **kwargs):
        tasks = row_tasks(*args, **kwargs)
        sizes = [rows.stop - rows.start for task in tasks for rows in task]
        sweeps.append((get_options()["chunk_rows"], get_options()["dask"], sizes))
        return tasks

    monkeypatch.setattr(_rowwise, "row_tasks", recorded)
    plain = _forget_with(fitted, tmp_path, "plain")
    assert sweeps and all(c is None and not d and len(s) == 1 for c, d, s in sweeps)
    assert max(s[0] for *_, s in sweeps) == 57  # one block holds every row

    sweeps.clear()
    chunked = _forget_with(fitted, tmp_path, "chunked", "--chunk-rows", "7")
    assert sweeps and all(c == 7 and max(s) <= 7 for c, _, s in sweeps)
    assert [7] * 8 + [1] in [s for *_, s in sweeps]  # the 57 rows in 9 blocks

    sweeps.clear()
    computed = []
    compute = dask.compute

    def on_dask(*delayed, **kwargs):
        computed.append(len(delayed))
        return compute(*delayed, **kwargs)

    monkeypatch.setattr(dask, "compute", on_dask)
    dasked = _forget_with(fitted, tmp_path, "dask", "--dask")
    assert sweeps and all(d for _, d, _ in sweeps)
    assert len(computed) == len(sweeps)  # every sweep ran as Dask tasks
    assert get_options()["chunk_rows"] is None and not get_options()["dask"]  # restored

    for other in (chunked, dasked):
        for name, values in plain.params.items():
            assert_allclose(other.params[name], values, rtol=1e-9, atol=1e-12)


def test_an_audit_of_a_file_that_still_holds_the_rows_exits_3(fitted, csv, capsys, tmp_path):
    """The fitted file, audited as if row 5 had been forgotten, against a refit without it:
    the row is still stored verbatim, so the audit fails."""
    ref = tmp_path / "refit.nc"
    argv = ["forget", str(fitted), "--rows", "5", "--method", "refit", "--seed", "2"]
    assert main([*argv, "-o", str(ref)]) == 0
    pd.read_csv(csv).iloc[[5]].to_csv(tmp_path / "row5.csv", index=False)
    capsys.readouterr()
    argv = [
        "audit",
        str(fitted),
        "--forgotten",
        str(tmp_path / "row5.csv"),
        "--reference",
        str(ref),
    ]
    assert main(argv) == 3
    out = capsys.readouterr().out
    assert "Erasure audit FAILED" in out and "rows stored verbatim" in out
