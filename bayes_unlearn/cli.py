"""The ``bayes-unlearn`` command line: fit, forget, predict, causes, repair, report, audit, summary, demo.

The only module that prints. Errors print one line and return a non-zero exit code:
1 an error, 2 a usage error, 3 an unreliable result, 4 the posterior file is locked by another
writer (nothing changed; try again), 5 the file's journal holds acknowledged requests that
cannot be applied (nothing is served that ignores them).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_unlearn import registry
from bayes_unlearn.options import set_options

__all__ = ["main"]

_log = logging.getLogger("bayes_unlearn.cli")


#: The methods' names (the registry imports nothing heavy).
_FORGET_METHODS = list(registry.names())
_METHOD_HELP = "; ".join(f"{m.name}: {m.summary}" for m in registry.METHODS.values())


def _read_csv(path: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise FileNotFoundError(f"No CSV file at {path!r}.")
    return pd.read_csv(path)


def _parse_rows(text: str) -> list[int]:
    try:
        return [int(tok) for tok in text.replace(" ", "").split(",") if tok]
    except ValueError:
        raise ValueError(
            f"--rows must be comma-separated integer row ids, e.g. 3,17,42. Got {text!r}."
        ) from None


def _read_rows_file(path: str) -> list[int]:
    """Whitespace-separated integer ids; a bad token is named with its line."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"--rows-file: no file at {path!r}.")
    ids = []
    for line_no, line in enumerate(Path(path).read_text().splitlines(), start=1):
        for tok in line.split():
            if not tok.lstrip("-").isdigit():
                raise ValueError(
                    f"--rows-file {path}: line {line_no} has {tok!r}, not an integer row id."
                )
            ids.append(int(tok))
    return ids


def _key(args) -> bytes | None:
    """The signing/fingerprint key from --key-file (kept outside the posterior file)."""
    path = getattr(args, "key_file", None)
    if not path:
        return None
    if not Path(path).is_file():
        raise FileNotFoundError(f"--key-file: no file at {path!r}.")
    return Path(path).read_bytes().strip()


#: Exit codes beyond argparse's 2 (usage) and 1 (error).
EXIT_UNRELIABLE, EXIT_LOCKED, EXIT_PENDING = 3, 4, 5


def _load(args, path: str):
    import bayes_unlearn as bu

    return bu.load(path, key=_key(args), trusted=getattr(args, "trust", None) or ())


def _locked_if_in_place(args, output: str | None):
    """The input file's writer lock when the command writes over it, else nothing to hold.

    The lock is taken before the input is read, so a concurrent writer's request is either
    in what this command reads or waits for this command's save: none is lost.
    """
    from contextlib import nullcontext

    from bayes_unlearn import journal

    if output is None or not Path(output).exists() or not Path(output).samefile(args.posterior):
        return nullcontext()
    return journal.locked(args.posterior, args.lock_timeout)


def _save_and_report(post, output: str, args) -> int:
    """Save (refreshing weighted draws), print diagnostics; exit 3 when unreliable."""
    from bayes_unlearn.io import save

    written = save(
        post,
        output,
        key=_key(args),
        random_seed=getattr(args, "seed", None),
        lock_timeout=getattr(args, "lock_timeout", None),
    )
    print(post.diagnostics)
    if written is not post:
        d = written.diagnostics
        cost = f", {d.seconds:.2f} s" if d.seconds is not None else ""
        print(f"refreshed before saving: {d.reason}{cost}")
    print(f"saved {written!r} to {output}")
    return 0 if post.diagnostics.reliable and written.diagnostics.reliable else EXIT_UNRELIABLE


def _model(args):
    import bayes_unlearn as bu

    prior = {} if args.prior_sd is None else {"coef_prior_sd": args.prior_sd}
    if args.model == "logistic":
        return bu.LogisticRegression(**prior)
    return bu.PolynomialRegression(degree=args.degree, sigma=args.sigma, **prior)


def _cmd_fit(args) -> int:
    import bayes_unlearn as bu

    df = _read_csv(args.data)
    if args.target not in df.columns:
        raise ValueError(
            f"--target {args.target!r} is not a column of {args.data}; columns: {list(df.columns)}."
        )
    features = (
        args.features.split(",") if args.features else [c for c in df.columns if c != args.target]
    )
    unknown = [c for c in features if c not in df.columns]
    if unknown:
        raise ValueError(
            f"--features names unknown columns {unknown}; columns: {list(df.columns)}."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.MCMCConvergenceWarning)  # the verdict is printed below
        post = bu.fit(
            _model(args),
            df[features],
            df[args.target],
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            random_seed=args.seed,
            progressbar=args.progress,
        )
    return _save_and_report(post, args.output, args)


def _cmd_forget(args) -> int:
    import bayes_unlearn as bu

    rows = _parse_rows(args.rows) if args.rows else []
    if args.rows_file:
        rows += _read_rows_file(args.rows_file)
    if not rows:
        raise ValueError("Name the rows to forget with --rows or --rows-file.")
    if bool(args.output) == bool(args.in_place):
        raise ValueError("Pass exactly one of -o/--output and --in-place.")
    output = args.posterior if args.in_place else args.output
    with _locked_if_in_place(args, output):
        post = _load(args, args.posterior)
        if args.in_place:  # durable before the work: a crash from here on loses nothing
            from bayes_unlearn import journal

            journal.append(args.posterior, journal.entry_for(post, rows, _key(args)), _key(args))
        with warnings.catch_warnings():
            # Printed below instead, as the diagnostics' verdict.
            warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
            warnings.simplefilter("ignore", bu.MCMCConvergenceWarning)
            un = bu.unlearn(
                post,
                forget=rows,
                method=args.method,
                random_seed=args.seed,
                key=_key(args),
                progressbar=args.progress,
            )
        return _save_and_report(un, output, args)


def _cmd_predict(args) -> int:
    post = _load(args, args.posterior)
    df = _read_csv(args.data)
    table = post.predict_interval(df, prob=args.prob)
    if post.model.binary_target:
        table.insert(0, "predicted_class", (table["mean"] >= 0.5).astype(int))
    table.index = df.index
    if args.output:
        table.to_csv(args.output, index_label="row")
        print(f"wrote {len(table)} predictions to {args.output}")
    else:
        print(table.to_string())
    return 0


def _cmd_summary(args) -> int:
    post = _load(args, args.posterior)
    print(repr(post))
    print(post.summary(prob=args.prob).round(4).to_string())
    if post.diagnostics:
        print(post.diagnostics)
    for req in post.history:
        print(
            f"request #{req['request']}: {req['method']}"
            + (
                f" (asked: {req['requested']})"
                if req.get("requested", req["method"]) != req["method"]
                else ""
            )
            + f", {len(req['row_ids'])} rows "
            f"{req['row_ids'][:10]}{' ...' if len(req['row_ids']) > 10 else ''}, at {req['time']}"
        )
    return 0


def _cmd_demo(args) -> int:
    import bayes_unlearn as bu

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.MCMCConvergenceWarning)  # verdicts printed instead
        return _demo(args)


def _demo(args) -> int:
    from sklearn.model_selection import train_test_split

    import bayes_unlearn as bu

    df = bu.datasets.load_pima(data_dir=args.data_dir, impute=True)
    print(f"data: {df.attrs['source']}")
    X, y = df.drop(columns="Outcome"), df["Outcome"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=args.seed, stratify=y
    )
    settings = {"draws": args.draws, "tune": args.draws, "chains": args.chains}
    print(f"fitting Bayesian logistic regression on {len(y_train)} rows ...")
    post = bu.fit(
        bu.LogisticRegression(),
        X_train,
        y_train.to_numpy(),
        random_seed=args.seed,
        progressbar=args.progress,
        **settings,
    )
    print(post.diagnostics, "\n")
    rng = np.random.default_rng(args.seed)
    n_forget = max(1, round(0.01 * len(y_train)))
    forget = np.sort(rng.choice(post.row_ids, size=n_forget, replace=False))
    print(f"forgetting {n_forget} rows (1%): {forget.tolist()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)  # verdicts printed below
        un = bu.unlearn(post, forget=forget, random_seed=args.seed)
        print(un.diagnostics, "\n")
        print(
            "exact refit on the remaining rows (reference), and a second one for the noise floor ..."
        )
        ref, floor = (
            bu.unlearn(
                post,
                forget=forget,
                method=registry.REFIT.name,
                random_seed=args.seed + k,
                progressbar=args.progress,
            )
            for k in (1, 2)
        )
    print(f"refit: {ref.diagnostics.verdict}")
    fidelity = bu.compare(un, ref, X_test=X_test, y_test=y_test.to_numpy())
    noise = bu.compare(floor, ref, X_test=X_test, y_test=y_test.to_numpy())
    print(f"unlearned ({un.diagnostics.method}) vs refit: {fidelity}")
    print(f"refit vs refit (noise):   {noise}")
    acc = {
        name: float(np.mean(p.predict(X_test) == y_test.to_numpy()))
        for name, p in (("original", post), ("unlearned", un), (registry.REFIT.label, ref))
    }
    print("test accuracy: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    print("\nper-parameter fidelity (unlearned vs refit):")
    print(fidelity.table[["mean", "mean_ref", "smd", "sd_ratio"]].round(3).to_string())
    return 0


def _posterior_and_rows(args, path: str, csv: str, target: str | None, option: str):
    """The saved posterior, and the rows of ``csv`` with their target column."""
    post = _load(args, path)
    rows = _read_csv(csv)
    target = target or post.target_name
    if target not in rows.columns:
        raise ValueError(f"{option} CSV has no target column {target!r}; pass --target.")
    return post, rows, rows[target]


def _cmd_causes(args) -> int:
    import bayes_unlearn as bu

    post, fail, y_fail = _posterior_and_rows(
        args, args.posterior, args.failures, args.target, "--failures"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableScoresWarning)  # the verdict is printed
        causes = bu.identify_causes(
            post,
            fail,
            y_fail,
            method=args.method,
            score=args.score,
            top_k=args.top_k,
            threshold=args.threshold,
            random_seed=args.seed,
        )
    print(f"{causes.row_ids.size} causes among {len(causes.table)} training rows")
    print(causes.diagnostics)
    print(causes.table.head(args.top).round(4).to_string())
    if args.output:
        causes.table.to_csv(args.output)
        print(f"wrote the table to {args.output}")
    return 0 if causes.reliable else 3


def _cmd_repair(args) -> int:
    with _locked_if_in_place(args, args.output):
        return _repair(args)


def _repair(args) -> int:
    import bayes_unlearn as bu

    post, val, y_val = _posterior_and_rows(
        args, args.posterior, args.validation, args.target, "--validation"
    )
    fixed = bu.repair(
        post,
        val,
        y_val,
        rule=args.rule,
        cause_method=args.cause_method,
        score=args.score,
        method=args.method,
        allow_unreliable=args.allow_unreliable,
        random_seed=args.seed,
        progressbar=args.progress,
    )
    print(f"candidates (log predictive density of the {len(val)} trusted rows):")
    print(fixed.candidates.round(3).to_string())
    scores = fixed.scores.table
    print(
        f"forgetting the top {fixed.n_causes} of {len(scores)} training rows by {fixed.scores.score}"
    )
    if args.causes:
        scores.assign(forgotten=scores.index.isin(fixed.causes)).to_csv(args.causes)
        print(f"wrote the cause scores to {args.causes}")
    return _save_and_report(fixed.posterior, args.output, args)


def _cmd_report(args) -> int:
    import bayes_unlearn as bu

    post = _load(args, args.posterior)
    original = _load(args, args.original) if args.original else None
    reference = _load(args, args.reference) if args.reference else None
    X_test = y_test = None
    if args.test:
        test = _read_csv(args.test)
        X_test = test
        y_test = test[post.target_name] if post.target_name in test.columns else None
    path = bu.report(
        post, args.output, original=original, reference=reference, X_test=X_test, y_test=y_test
    )
    print(f"wrote {path}")
    return 0


def _cmd_audit(args) -> int:
    import bayes_unlearn as bu

    post, forgotten, y_forgotten = _posterior_and_rows(
        args, args.posterior, args.forgotten, args.target, "--forgotten"
    )
    X_u = y_u = None
    if args.unseen:
        _, X_u, y_u = _posterior_and_rows(
            args, args.posterior, args.unseen, args.target, "--unseen"
        )
    result = bu.audit_erasure(
        args.posterior,
        forgotten,
        y_forgotten,
        X_unseen=X_u,
        y_unseen=y_u,
        reference=args.reference,
        key=_key(args),
        random_seed=args.seed,
    )
    print(result)
    if args.output:
        path = bu.report(post, args.output, audit=result)
        print(f"wrote {path}")
    return 0 if result.passed else 3


def _sampling(p) -> None:
    p.add_argument("--draws", type=int, default=1000, help="draws per chain (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _progress(p) -> None:
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="hide the progress bars (sampling, long sweeps over rows, SMC stages)",
    )
    p.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help="training rows per block of likelihood evaluations (default: the model's "
        "block_values, about 10^5 values a block for the built-in models)",
    )
    p.add_argument(
        "--dask",
        action="store_true",
        help='run the sweeps over rows as Dask tasks (pip install "bayes-unlearn[dask]")',
    )


def _options(args) -> dict:
    """Library options (bu.set_options) from the command's flags, where it has them."""
    if not hasattr(args, "progress"):
        return {}
    return {"progressbar": args.progress, "chunk_rows": args.chunk_rows, "dask": args.dask}


def _key_file(p) -> None:
    p.add_argument(
        "--key-file",
        help="file holding a secret key (>= 16 bytes) kept outside the posterior: signs "
        "written files, verifies read ones, and fingerprints forgotten rows",
    )
    p.add_argument(
        "--trust",
        action="append",
        metavar="MODULE:NAME",
        help="import path of code a custom model's file may import (its builder or mean "
        "function); repeat for each. A file names code but runs none unless trusted here "
        "or signed with --key-file's key",
    )


def _lock_timeout(p) -> None:
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=120.0,
        help="seconds to wait while another writer holds the output file (default 120); "
        "exit code 4 after that",
    )


def _parser_fit(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="fit a model to a CSV and save its posterior",
        description="Fit a Bayesian model by MCMC (PyMC NUTS) and save the posterior.",
    )
    p.add_argument("data", help="CSV file with a header row")
    p.add_argument("--target", required=True, help="name of the target column")
    p.add_argument("--features", help="comma-separated feature columns (default: all others)")
    p.add_argument("--model", choices=["logistic", "polynomial"], default="logistic")
    p.add_argument("--degree", type=int, default=1, help="polynomial degree (default 1)")
    p.add_argument("--sigma", type=float, default=None, help="fixed noise sd (default: learned)")
    p.add_argument(
        "--prior-sd",
        type=float,
        default=None,
        help="sd of the coefficient priors (default: the model's, 2.5 logistic, 10 polynomial)",
    )
    p.add_argument("--tune", type=int, default=1000, help="tuning steps per chain (default 1000)")
    _sampling(p)
    _progress(p)
    _key_file(p)
    p.add_argument("-o", "--output", required=True, help="where to write the posterior (.nc)")
    _lock_timeout(p)
    p.set_defaults(func=_cmd_fit)


def _parser_forget(sub) -> None:
    p = sub.add_parser(
        "forget",
        help="remove training rows from a saved posterior",
        description="Forget training rows by id; exit code 3 if the result is unreliable.",
    )
    p.add_argument("posterior", help="posterior file (.nc)")
    p.add_argument("--rows", help="comma-separated row ids, e.g. 3,17,42")
    p.add_argument("--rows-file", help="file of whitespace-separated row ids")
    p.add_argument(
        "--method",
        choices=_FORGET_METHODS,
        default=registry.AUTO.name,
        help=_METHOD_HELP.replace("%", "%%"),
    )
    p.add_argument("--seed", type=int, default=None, help="seed of SMC, a refit or the refresh")
    _progress(p)
    _key_file(p)
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="where to write the unlearned posterior")
    out.add_argument(
        "--in-place",
        action="store_true",
        help="replace the input file atomically (other copies of it are yours to delete)",
    )
    _lock_timeout(p)
    p.set_defaults(func=_cmd_forget)


def _parser_predict(sub) -> None:
    p = sub.add_parser("predict", help="posterior predictive means and intervals for new rows")
    p.add_argument("posterior")
    p.add_argument("data", help="CSV with the feature columns")
    p.add_argument("--prob", type=float, default=0.94, help="interval probability (default 0.94)")
    p.add_argument("-o", "--output", help="write a CSV instead of printing")
    _key_file(p)
    p.set_defaults(func=_cmd_predict)


def _score(p, default: str) -> None:
    from bayes_unlearn.causes import SCORES

    p.add_argument(
        "--score",
        choices=sorted(SCORES),
        default=default,
        help=f"the ranking (default {default}): r (Tanno et al.'s r(z)), misfit (to the model "
        "that has learned the failures), surprise (ignores the failures), trusted (misfit "
        "to the model fitted on the failures alone, for a trusted set) or flipped (each "
        "row's probability of a flipped label under a label-noise model, logistic models)",
    )


def _parser_causes(sub) -> None:
    from bayes_unlearn.causes import DEFAULT_SCORE

    p = sub.add_parser(
        "causes",
        help="score training rows by their responsibility for failures",
        description="Cause identification (Tanno et al. 2022): r(z), the misfit and the "
        "surprise of every training row; "
        "exit code 3 if the scores are unreliable.",
    )
    p.add_argument("posterior")
    p.add_argument(
        "--failures",
        required=True,
        help="CSV of failure cases with their correct target, or a trusted validation set "
        "(verified labels; finds random label noise that misclassified cases cannot)",
    )
    p.add_argument("--target", help="target column in the failures CSV (default: the fit's)")
    p.add_argument(
        "--method",
        choices=_FORGET_METHODS,
        default=registry.AUTO.name,
        help="how p(θ | D, F) is obtained, by the forget methods' rungs run the other way "
        "(default auto: the first whose diagnostics pass)",
    )
    _score(p, DEFAULT_SCORE)
    p.add_argument(
        "--top-k",
        type=int,
        default=None,
        help="mark the top K rows as causes (default: as many as have r > threshold)",
    )
    p.add_argument("--threshold", type=float, default=0.0)
    p.add_argument("--top", type=int, default=20, help="rows to print (default 20)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("-o", "--output", help="write the full table as CSV")
    _key_file(p)
    p.set_defaults(func=_cmd_causes)


def _parser_repair(sub) -> None:
    from bayes_unlearn.repairing import DEFAULT_SCORE as REPAIR_SCORE

    p = sub.add_parser(
        "repair",
        help="forget the rows that make the model worse on a trusted validation set",
        description="Score the causes with a trusted validation set, forget the top K "
        "(K chosen on the same rows); exit code 3 if the result is unreliable.",
    )
    p.add_argument("posterior")
    p.add_argument(
        "--validation", required=True, help="CSV of trusted rows with their verified target"
    )
    p.add_argument("--target", help="target column in the validation CSV (default: the fit's)")
    p.add_argument(
        "--rule",
        choices=["one_se", "best"],
        default="one_se",
        help="one_se (default): smallest K within one standard error of the best; best",
    )
    p.add_argument(
        "--cause-method",
        choices=_FORGET_METHODS,
        default=registry.AUTO.name,
        help="how the cause scores are computed (default auto)",
    )
    _score(p, REPAIR_SCORE)
    p.add_argument(
        "--allow-unreliable",
        action="store_true",
        help="rank on cause scores whose diagnostics failed instead of refusing",
    )
    p.add_argument(
        "--method",
        choices=_FORGET_METHODS,
        default=registry.AUTO.name,
        help="how each candidate forgets its rows (default auto)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="seed of SMC or refits (default: the fit's)"
    )
    _progress(p)
    p.add_argument("--causes", help="write the cause scores (with a 'forgotten' column) as CSV")
    p.add_argument("-o", "--output", required=True, help="where to write the repaired posterior")
    _key_file(p)
    _lock_timeout(p)
    p.set_defaults(func=_cmd_repair)


def _parser_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML diagnostic report",
        description="HTML report: verdict, sampling diagnostics, forget request, "
        "k̂/ESS, posteriors side by side, prediction changes.",
    )
    p.add_argument("posterior")
    p.add_argument("--original", help="posterior before unlearning (default: the stored draws)")
    p.add_argument("--reference", help="an exact refit to compare with")
    p.add_argument("--test", help="CSV of held-out rows (with the target column for accuracy)")
    p.add_argument("-o", "--output", default="report.html")
    _key_file(p)
    p.set_defaults(func=_cmd_report)


def _parser_audit(sub) -> None:
    p = sub.add_parser(
        "audit",
        help="attack a saved posterior: can it give forgotten rows back?",
        description="Erasure audit: reconstruction attacks on every stored array and "
        "aggregate, a membership attack (forgotten vs never-seen rows) and duplicated "
        "draws, each beside the same attack on an exact refit's file; exit code 3 if any "
        "does better against the posterior than against the refit.",
    )
    p.add_argument("posterior", help="the saved, unlearned posterior (.nc)")
    p.add_argument("--forgotten", required=True, help="CSV of the forgotten rows (with target)")
    p.add_argument("--unseen", help="CSV of rows never trained on, for the membership attack")
    p.add_argument("--target", help="target column in the CSVs (default: the fit's)")
    p.add_argument("--reference", help="an exact refit's file (default: refit now)")
    p.add_argument("--seed", type=int, default=0, help="seed of the refit and bootstrap")
    p.add_argument("-o", "--output", help="also write an HTML report with the audit")
    _key_file(p)
    p.set_defaults(func=_cmd_audit)


def _parser_summary(sub) -> None:
    p = sub.add_parser("summary", help="parameter summary, diagnostics and forget history")
    p.add_argument("posterior")
    p.add_argument("--prob", type=float, default=0.94)
    _key_file(p)
    p.set_defaults(func=_cmd_summary)


def _parser_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="fit Pima, forget 1%% of rows, compare with a refit",
        description="End-to-end demo on the Pima data (offline default if no CSV).",
    )
    p.add_argument(
        "--data-dir",
        help="directory holding pima-indians-diabetes.csv "
        "(default: $BAYES_UNLEARN_DATA, else the offline default)",
    )
    p.add_argument("--draws", type=int, default=1000, help="draws (and tuning steps) per chain")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    _progress(p)
    p.set_defaults(func=_cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation tools)."""
    parser = argparse.ArgumentParser(
        prog="bayes-unlearn",
        description="Fit Bayesian models, forget training rows without refitting, verify against a refit.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what happens (and PyMC's messages)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _parser_fit(sub)
    _parser_forget(sub)
    _parser_predict(sub)
    _parser_causes(sub)
    _parser_repair(sub)
    _parser_report(sub)
    _parser_audit(sub)
    _parser_summary(sub)
    _parser_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module's docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("pymc").setLevel(logging.ERROR)
        # Import-time notices from dependencies that a command-line user cannot act on.
        warnings.filterwarnings("ignore", message="ArviZ is undergoing a major refactor")
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    from bayes_unlearn.journal import FileLockedError, PendingRequestsError

    try:
        with set_options(**_options(args)):
            return args.func(args)
    except FileLockedError as err:
        print(f"bayes-unlearn {args.command}: locked: {err}", file=sys.stderr)
        return EXIT_LOCKED
    except PendingRequestsError as err:
        print(f"bayes-unlearn {args.command}: pending requests: {err}", file=sys.stderr)
        return EXIT_PENDING
    except (ValueError, TypeError, FileNotFoundError, OSError, ImportError) as err:
        print(f"bayes-unlearn {args.command}: error: {err}", file=sys.stderr)
        return 1
    except MemoryError as err:
        hint = "" if "chunk_rows" in str(err) else ": lower --chunk-rows, or pass --dask"
        print(f"bayes-unlearn {args.command}: out of memory ({err}){hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
