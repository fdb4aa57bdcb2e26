"""Lyapunov columns of a sweep: tidy rows, a Markdown table and a figure (λ_i against ±C_emp).

Rows carry `lyap_status`, `lyap_exponent_i`, `lyap_stderr_i`, `lyap_sum` and, for MLPs,
`lyap_delta_k`, `lyap_zero_crossing_k`, `lyap_c_w`, `lyap_c_theory`, `lyap_c_empirical`,
`lyap_c_refined`, `lyap_contained` (all over the sampled trajectory). The table and figure need
only numpy/matplotlib, like `_report.py`.
"""

import math

import numpy as np
from matplotlib.figure import Figure

from ._report import _fmt, _num
from ._results import status_name


def _f(x) -> float:
    return float(np.asarray(x))


def lyapunov_rows(levels, analysis) -> list[dict]:
    """One flat dict per level of a batched `TrajectoryAnalysis` (`lyap_*` columns)."""
    a = analysis
    codes = np.asarray(a.result._value)
    rows = []
    for i, level in enumerate(np.asarray(levels)):
        row = {"level": float(level), "lyap_status": status_name(codes[i])}
        for j, lam in enumerate(np.asarray(a.exponents[i]), 1):
            row[f"lyap_exponent_{j}"] = float(lam)
        for j, err in enumerate(np.asarray(a.stderr[i]), 1):
            row[f"lyap_stderr_{j}"] = float(err)
        row["lyap_sum"] = _f(a.sum[i])
        if a.audit is not None:
            audit = a.audit
            for k, d in enumerate(np.asarray(audit.delta[i]), 1):
                row[f"lyap_delta_{k}"] = float(d)
            for k, z in enumerate(np.asarray(audit.zero_crossing[i]), 1):
                row[f"lyap_zero_crossing_{k}"] = bool(z)
            for name in ("c_w", "c_theory", "c_empirical", "c_refined"):
                row["lyap_" + name] = _f(getattr(audit, name)[i])
            found = math.isfinite(row["lyap_c_empirical"])
            row["lyap_contained"] = bool(audit.contained[i]) if found else float("nan")
        rows.append(row)
    return rows


def merge_rows(floquet: list[dict] | None, lyapunov: list[dict]) -> list[dict]:
    """Floquet and Lyapunov rows of the same levels side by side. Without Floquet rows the
    Lyapunov status is the row's `status`."""
    if floquet is None:
        return [{"level": r["level"], "status": r["lyap_status"]} | r for r in lyapunov]
    return [
        f | {k: v for k, v in r.items() if k != "level"}
        for f, r in zip(floquet, lyapunov, strict=True)
    ]


def _count(rows, prefix) -> int:
    n = 0
    while any(f"{prefix}{n + 1}" in r for r in rows):
        n += 1
    return n


def has_lyapunov(rows: list[dict]) -> bool:
    return any("lyap_exponent_1" in r for r in rows)


def lyapunov_table(rows: list[dict], *, parameter: str = "gain") -> str:
    """A Markdown table: level, status, `λ_i ± stderr`, `Σλ`, `δ_k` (`†`: zero crossing),
    `C_theory`, `C_emp`, `λ1/C_emp` and the order check, one line per level."""
    n_exp = _count(rows, "lyap_exponent_")
    n_delta = _count(rows, "lyap_delta_")
    audit = any("lyap_c_empirical" in r for r in rows)
    head = [parameter, "status"] + [f"λ{i}" for i in range(1, n_exp + 1)] + ["Σλ"]
    if audit:
        head += [f"δ{k}" for k in range(1, n_delta + 1)]
        head += ["C_theory", "C_emp", "λ1/C_emp", "order"]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(":---" if j < 2 else "---:" for j in range(len(head))) + "|",
    ]
    for r in rows:
        cells = [_fmt(r.get("level")), str(r.get("lyap_status", "—"))]
        for i in range(1, n_exp + 1):
            lam, err = r.get(f"lyap_exponent_{i}"), r.get(f"lyap_stderr_{i}")
            cells.append(_fmt(lam) if not math.isfinite(_num(err)) else f"{_fmt(lam)} ± {err:.1g}")
        cells.append(_fmt(r.get("lyap_sum")))
        if audit:
            for k in range(1, n_delta + 1):
                text = _fmt(r.get(f"lyap_delta_{k}"))
                cells.append(text + ("†" if r.get(f"lyap_zero_crossing_{k}") is True else ""))
            c_emp = _num(r.get("lyap_c_empirical"))
            ratio = _num(r.get("lyap_exponent_1")) / c_emp if c_emp > 0 else math.nan
            contained = r.get("lyap_contained")
            order = (
                "—" if not isinstance(contained, (bool, np.bool_)) else ("✓" if contained else "✗")
            )
            cells += [_fmt(r.get("lyap_c_theory")), _fmt(c_emp), _fmt(ratio), order]
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["λ ± one batch-means standard error; Σλ = time average of tr Df"]
    if audit:
        notes.append(
            "δ, C_theory, C_emp over the sampled trajectory; † = a unit's "
            "pre-activation crosses 0 on it; order = |λ| ≤ C_emp ≤ C̃ ≤ C_theory held"
        )
    return "\n".join(lines) + "\n\n*" + "; ".join(notes) + ".*\n"


def lyapunov_figure(rows: list[dict], path, *, parameter: str = "gain", title=None) -> None:
    """Write a PNG: `λ_i ± stderr` against the level, with the `±C_emp` band (shaded) and
    `±C_theory` (dashed) of the trajectory audit when present, failed levels marked."""
    rows = sorted(
        (r for r in rows if math.isfinite(_num(r.get("level")))), key=lambda r: r["level"]
    )
    x = np.array([_num(r.get("level")) for r in rows])
    n_exp = _count(rows, "lyap_exponent_")
    fig = Figure(figsize=(9.0, 5.5), dpi=120, layout="constrained")
    ax = fig.subplots()
    c_emp = np.array([_num(r.get("lyap_c_empirical")) for r in rows])
    c_th = np.array([_num(r.get("lyap_c_theory")) for r in rows])
    if np.isfinite(c_emp).any():
        ok = np.isfinite(c_emp)
        ax.fill_between(
            x,
            -np.where(ok, c_emp, 0),
            np.where(ok, c_emp, 0),
            where=ok,
            color="tab:blue",
            alpha=0.12,
            lw=0,
            label="±C_emp (trajectory)",
        )
    if np.isfinite(c_th).any():
        ax.plot(x, c_th, ls="--", color="tab:gray", lw=1, label="±C_theory")
        ax.plot(x, -c_th, ls="--", color="tab:gray", lw=1)
    for i in range(1, n_exp + 1):
        lam = np.array([_num(r.get(f"lyap_exponent_{i}")) for r in rows])
        err = np.array([_num(r.get(f"lyap_stderr_{i}")) for r in rows])
        ax.errorbar(
            x,
            lam,
            yerr=np.where(np.isfinite(err), err, 0),
            marker="o",
            ms=4,
            capsize=2,
            label=f"λ{i}",
        )
    bad = np.array([r.get("lyap_status") != "ok" for r in rows], dtype=bool)
    if bad.any():
        ax.plot(x[bad], np.zeros(int(bad.sum())), "x", color="tab:red", ms=9, mew=2, label="not ok")
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_yscale("symlog", linthresh=0.1, linscale=0.5)
    if x.size and np.all(x > 0) and x.max() / x.min() > 20:
        ax.set_xscale("log")
    ax.set_xlabel(parameter)
    ax.set_ylabel("Lyapunov exponent (symlog)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.suptitle(title or f"Lyapunov spectrum vs {parameter}")
    fig.savefig(path, dpi=120)
