"""A self-contained HTML report that a person reads to judge a fit or a forget request.

All figures are drawn with ArviZ/matplotlib and embedded as base64 PNGs, so the single file
opens anywhere without a network. The report names forgotten rows by id and fingerprint only,
never by their values.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io as _io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_unlearn import registry
from bayes_unlearn._files import write_atomically
from bayes_unlearn.diagnostics import MIN_BULK_ESS, RHAT_MAX
from bayes_unlearn.export import to_inference_data
from bayes_unlearn.posterior import Posterior

__all__ = ["report"]

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1100px;
       margin: 2em auto; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.verdict { padding: 0.8em 1em; border-radius: 6px; font-size: 1.1em; margin: 1em 0; }
.ok { background: #e6f4ea; border: 1px solid #8bc59b; }
.bad { background: #fdecea; border: 1px solid #e39a93; }
.muted { color: #666; font-size: 0.9em; } img { max-width: 100%; }
"""


def _figure(figsize) -> Any:
    """A figure outside pyplot: the caller's backend, open figures and state stay untouched."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _figure_html(fig, alt: str) -> str:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table_html(df: pd.DataFrame, digits: int = 3) -> str:
    return df.round(digits).to_html(border=0, na_rep="")


def _verdict(post: Posterior) -> tuple[bool, str]:
    d = post.diagnostics
    if d is None:
        return True, "No diagnostics recorded for this posterior."
    if d.reliable:
        word = "Trustworthy" if d.method != registry.FIT else "Converged"
        return True, f"{word}: {d.verdict}"
    return False, f"Do not rely on this result; use method='refit'. {d.verdict}"


def _sampling_section(post: Posterior) -> str:
    import arviz as az

    source = post.draws_source
    if source == registry.REWEIGHT.name and post.diagnostics is not None:
        source = post.diagnostics.reweighted_draws or registry.FIT
    if source == registry.SMC_CHAINS:
        return (
            "<p>The draws are the states of SMC's final HMC chains, short chains stored one "
            "after another, so R-hat and chain plots of long chains do not apply; see the "
            "method diagnostics below.</p>"
        )
    if source not in (registry.FIT, registry.REFIT.name):
        return (
            f"<p>The draws were produced by {source} from stored draws, not by MCMC chains, "
            "so R-hat and chain plots do not apply; see the method diagnostics below.</p>"
        )
    idata = post.idata
    table = az.summary(idata, kind="diagnostics")[["ess_bulk", "ess_tail", "r_hat"]]
    divergences = (
        int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    )
    bad = table[(table["r_hat"] > RHAT_MAX) | (table["ess_bulk"] < MIN_BULK_ESS)]
    parts = [
        f"<p>{post.n_draws} draws in {idata.posterior.sizes['chain']} chains; "
        f"{divergences} divergent transitions; {len(bad)} parameters with R-hat &gt; "
        f"{RHAT_MAX} or bulk ESS &lt; {MIN_BULK_ESS:.0f}.</p>",
        _table_html(table, 2),
    ]
    if post.is_weighted:
        parts.insert(
            0,
            f"<p class='muted'>These are the MCMC draws of the {source}, which the "
            "unlearned posterior reweights.</p>",
        )
    n_vars = len(post.parameter_draws().columns)
    # Densities per chain (left) and rank plots (right): chains that disagree stand out.
    var_names = list(idata.posterior.data_vars)
    fig = _figure((10, 2.2 * len(var_names)))
    az.plot_trace(
        idata,
        var_names=var_names,
        kind="rank_vlines",
        compact=True,
        axes=fig.subplots(len(var_names), 2, squeeze=False),
    )
    fig.suptitle(f"Per-chain densities and rank plots ({n_vars} parameters)")
    parts.append(_figure_html(fig, "trace and rank plots"))
    return "".join(parts)


def _request_section(post: Posterior) -> str:
    if not post.history:
        return "<p>No rows have been forgotten from this posterior.</p>"
    rows = [
        {
            "request": r["request"],
            "method": r["method"],
            "rows": len(r["row_ids"]),
            "row ids": ", ".join(map(str, r["row_ids"][:20]))
            + (" ..." if len(r["row_ids"]) > 20 else ""),
            "keyed fingerprints": ", ".join(r.get("fingerprints", [])[:3])
            + (" ..." if len(r.get("fingerprints", [])) > 3 else ""),
            "rows left": r["n_remaining"],
            "time (UTC)": r["time"],
        }
        for r in post.history
    ]
    return (
        "<p>Rows are identified by id and, when a key was given, by keyed fingerprint "
        "(HMAC-SHA256) only; their values are not in this report or in the unlearned "
        "posterior file.</p>" + pd.DataFrame(rows).to_html(index=False, border=0)
    )


def _method_section(post: Posterior) -> str:

    d = post.diagnostics
    if d is None or d.method == registry.FIT:
        return "<p>This is a fitted posterior; no unlearning method has run yet.</p>"
    facts = {
        "method": d.method,
        "why": d.reason,
        "rows forgotten (this request)": d.n_forget,
        "rows remaining": d.n_remaining,
        "draws": d.n_draws,
    }
    if d.pareto_k is not None:
        facts.update(
            {
                "Pareto k̂": f"{d.pareto_k:.3f}",
                "k̂ threshold min(1 − 1/log10 S, 0.7)": f"{d.pareto_k_threshold:.3f}",
            }
        )
    for label, value in (
        ("importance ESS (Kish)", d.ess_importance),
        ("bulk ESS (smallest over parameters)", d.ess_bulk),
        ("distinct draws", d.distinct_draws),
    ):
        if value is not None:
            facts[label] = f"{value:.0f} (minimum {d.min_ess:.0f})"
    if d.stages is not None:
        facts.update({"SMC stages": d.stages, "last-stage acceptance": f"{d.acceptance:.2f}"})
    if d.seconds is not None:
        facts["wall time (s)"] = f"{d.seconds:.2f}"
    out = pd.Series(facts, name="value").to_frame().to_html(border=0)
    if d.pareto_k is not None:
        fig = _figure((10, 3.2))
        ax1, ax2 = fig.subplots(1, 2)
        ax1.barh(
            ["Pareto k̂"], [d.pareto_k], color="C3" if d.pareto_k > d.pareto_k_threshold else "C2"
        )
        ax1.axvline(
            d.pareto_k_threshold, color="k", ls="--", label=f"threshold {d.pareto_k_threshold:.2f}"
        )
        ax1.axvline(0.7, color="grey", ls=":", label="0.7")
        ax1.set_xlim(min(0, d.pareto_k) - 0.1, max(1.2, d.pareto_k + 0.1))
        ax1.legend(loc="lower right", fontsize=8)
        ax1.set_title("Pareto k̂ of the importance ratios")
        w = np.sort(post.weights)[::-1]
        ax2.plot(np.arange(1, w.size + 1), w * w.size, color="C0")
        ax2.axhline(1.0, color="grey", ls=":", label="equal weights")
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xlabel("draw (sorted by weight)")
        ax2.set_ylabel("weight x S")
        ax2.set_title(f"Importance weights (ESS {d.ess_importance:.0f} of {w.size})")
        ax2.legend(fontsize=8)
        fig.tight_layout()
        out += _figure_html(fig, "Pareto k and importance weights")
    elif d.stages:
        stages = pd.DataFrame(d.details.get("stages", []))
        if not stages.empty:
            out += _table_html(stages.rename_axis("stage"), 3)
    return out


def _posteriors_section(post, original, reference, random_seed) -> str:
    import arviz as az

    sets, names = [], []
    if original is not None:
        sets.append(to_inference_data(original, random_seed=random_seed))
        names.append("original")
    sets.append(to_inference_data(post, random_seed=random_seed))
    names.append("unlearned" if post.history else "posterior")
    if reference is not None:
        sets.append(to_inference_data(reference, random_seed=random_seed))
        names.append("reference (refit)")
    var_names = list(post.idata.posterior.data_vars)
    fig = _figure((9, 0.45 * len(post.parameter_draws().columns) * len(sets) + 1.5))
    az.plot_forest(sets, model_names=names, var_names=var_names, combined=True, ax=fig.subplots())
    out = _figure_html(fig, "forest plot")
    if reference is not None:
        from bayes_unlearn.comparison import compare

        c = compare(post, reference)
        out += (
            f"<p>Fidelity to the reference: worst standardized mean difference "
            f"{c.max_abs_smd:.3f}, worst |log sd ratio| {c.max_abs_log_sd_ratio:.3f}.</p>"
            + _table_html(c.table)
        )
    return out


def _predictions_section(post, original, reference, X_test, y_test) -> str:

    if X_test is None:
        return "<p>No held-out set was given (pass X_test to see how predictions changed).</p>"
    binary = post.model.binary_target
    predict = (lambda p: p.predict_proba(X_test)) if binary else (lambda p: p.predict(X_test))
    preds = {"unlearned": predict(post)}
    if original is not None:
        preds["original"] = predict(original)
    if reference is not None:
        preds["reference"] = predict(reference)
    label = "P(y=1)" if binary else "predicted mean"
    rows = {}
    for name, p in preds.items():
        row = {"mean " + label: float(np.mean(p))}
        if "original" in preds and name != "original":
            row["mean |change| vs original"] = float(np.mean(np.abs(p - preds["original"])))
            row["max |change| vs original"] = float(np.max(np.abs(p - preds["original"])))
            if binary:
                row["class flips vs original"] = int(
                    np.sum((p >= 0.5) != (preds["original"] >= 0.5))
                )
        if y_test is not None:
            y = np.asarray(y_test, dtype=float)
            row["accuracy" if binary else "RMSE"] = (
                float(np.mean((p >= 0.5) == y)) if binary else float(np.sqrt(np.mean((p - y) ** 2)))
            )
        rows[name] = row
    out = f"<p>{len(preds['unlearned'])} held-out rows.</p>" + _table_html(pd.DataFrame(rows).T, 4)
    if len(preds) > 1:
        others = [k for k in preds if k != "unlearned"]
        fig = _figure((4.5 * len(others), 4))
        axes = fig.subplots(1, len(others), squeeze=False)
        for ax, other in zip(axes[0], others, strict=True):
            ax.scatter(preds[other], preds["unlearned"], s=10, alpha=0.6)
            lo = min(preds[other].min(), preds["unlearned"].min())
            hi = max(preds[other].max(), preds["unlearned"].max())
            ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
            ax.set_xlabel(f"{other}: {label}")
            ax.set_ylabel(f"unlearned: {label}")
        fig.tight_layout()
        out += _figure_html(fig, "prediction changes")
    return out


def report(
    posterior: Posterior,
    path="report.html",
    *,
    original: Posterior | None = None,
    reference: Posterior | None = None,
    X_test=None,
    y_test=None,
    audit=None,
    random_seed: int = 0,
) -> Path:
    """Write a self-contained HTML report on a fitted or unlearned posterior.

    Parameters
    ----------
    posterior : Posterior
        The posterior to report on (fitted, or the result of ``unlearn``).
    path : str or path-like, default "report.html"
        Output file, written atomically.
    original : Posterior, optional
        The posterior before unlearning. For a reweighted posterior it defaults to its own
        stored draws, which are the original fit's.
    reference : Posterior, optional
        An exact refit to compare with.
    X_test, y_test : array-like, optional
        Held-out rows whose predictions are compared.
    audit : ErasureAudit, optional
        The result of :func:`~bayes_unlearn.audit_erasure`, shown as an "Erasure audit"
        section with its verdict.
    random_seed : int, default 0
        Seed of the resampling used to plot weighted draws.

    Returns
    -------
    Path
        The written file.

    Sections: verdict, sampling diagnostics, forget request, method and its diagnostics
    (k̂ against its threshold, importance weights), posteriors side by side, predictions.
    """
    if not isinstance(posterior, Posterior):
        raise TypeError(
            f"The 'posterior' parameter of report must be a Posterior. Got {type(posterior).__name__}."
        )
    if original is None and posterior.is_weighted:
        import dataclasses

        original = dataclasses.replace(
            posterior, idata=_unweighted(posterior.idata), draws_source=registry.FIT
        )
    ok, verdict = _verdict(posterior)
    sections = [
        (
            "verdict",
            "Verdict",
            f'<div class="verdict {"ok" if ok else "bad"}">{html.escape(verdict)}</div>',
        ),
        ("sampling", "Sampling diagnostics", _sampling_section(posterior)),
        ("request", "Forget request", _request_section(posterior)),
        ("method", "Method and its diagnostics", _method_section(posterior)),
        (
            "posteriors",
            "Posteriors side by side",
            _posteriors_section(posterior, original, reference, random_seed),
        ),
        (
            "predictions",
            "Changes in predictions",
            _predictions_section(posterior, original, reference, X_test, y_test),
        ),
    ]
    if audit is not None:
        sections.insert(1, ("erasure", "Erasure audit", _audit_section(audit)))
    from bayes_unlearn import __version__

    body = "".join(
        f'<section id="{sid}"><h2>{title}</h2>{content}</section>'
        for sid, title, content in sections
    )
    doc = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>bayes-unlearn report</title><style>{_CSS}</style></head><body>"
        f"<h1>bayes-unlearn report</h1><p class='muted'>{html.escape(repr(posterior))} &middot; "
        f"model {posterior.model.kind} &middot; bayes-unlearn {__version__} &middot; "
        f"{_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>{body}</body></html>"
    )
    path = Path(path)
    write_atomically(path, lambda tmp: Path(tmp).write_text(doc, encoding="utf-8"))
    return path


def _audit_section(audit) -> str:
    ok = "ok" if audit.passed else "bad"
    parts = [
        f'<div class="verdict {ok}">{html.escape(audit.verdict)}</div>',
        "<p>Each attack ran against this posterior's saved file and against the file of an "
        "exact refit on the remaining rows (the baseline any posterior of those rows gives "
        "away). Shares of variance near 1 or reconstruction errors near 0 mean an attack "
        "works.</p>",
        _table_html(audit.attacks.set_index(["attack", "target"]), 4),
    ]
    if audit.membership is not None:
        m = audit.membership
        parts.append(
            f"<p>Membership attack: {m.attrs.get('n_forgotten', '?')} forgotten rows against "
            f"{m.attrs.get('n_unseen', '?')} never-seen rows, scored by their log predictive "
            "density (ROC AUC, bootstrap 95% intervals).</p>" + _table_html(m, 3)
        )
    dup = ", ".join(f"{k}: {v:.2%}" for k, v in audit.duplicates.items())
    parts.append(f"<p>Duplicated draws (not counting MCMC repeats): {html.escape(dup)}.</p>")
    return "".join(parts)


def _unweighted(idata):
    """The stored draws with uniform weights (the original fit's posterior)."""
    from bayes_unlearn.layout import replace_sample_stats

    new = idata.copy()
    n = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    new.sample_stats = replace_sample_stats(idata, log_weight=np.full(n, -np.log(n)))
    return new
