"""The paper's tables and figures, each with its true-orbit column set beside the circle's.

Pure numpy/matplotlib on the rows of a study (`_paper.py`): `circle_*` columns are the paper's
prescribed unit circle, `probe_*` a fixed point, the plain columns the network's own orbit.
"""

import csv
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ._report import MISSING


_DPI = 110


def _num(x) -> float:
    if x is None or isinstance(x, (bool, np.bool_, str)):
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _g(x, digits=4) -> str:
    v = _num(x)
    if not math.isfinite(v):
        return MISSING if math.isnan(v) else ("∞" if v > 0 else "-∞")
    return f"{v:.{digits}g}"


def _e(x) -> str:
    v = _num(x)
    return f"{v:.3e}" if math.isfinite(v) else MISSING


def _tick(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "✓" if x else "✗"
    return MISSING


def _cross(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    return MISSING


def _exp_window(c, t, sign):
    c, t = _num(c), _num(t)
    return math.exp(sign * c * t) if math.isfinite(c * t) else math.nan


def _nontrivial(row):
    """The non-trivial exponent of a planar orbit (the trivial one is reported as exactly 0)."""
    a, b = _num(row.get("exponent_1")), _num(row.get("exponent_2"))
    return b if a == 0 else a


def _order(row):
    """The true-orbit bound order `|λ| ≤ C_emp ≤ C̃ ≤ C` as the audit checked it."""
    return _tick(row.get("contained")) if row.get("status") == "ok" else MISSING


# Column sets: (header, cell function). "∘" marks the paper's prescribed circle, "@h" a point.
def _orbit_set(extra=()):
    cols = [
        ("status", lambda r: str(r.get("status", MISSING))),
        ("T", lambda r: _g(r.get("period"))),
        ("λ2", lambda r: _g(_nontrivial(r))),
        ("δ", lambda r: _g(r.get("delta_1")) + ("†" if r.get("zero_crossing_1") is True else "")),
        ("C_emp", lambda r: _g(r.get("c_empirical"))),
        ("C̃", lambda r: _g(r.get("c_refined"))),
        ("C", lambda r: _g(r.get("c_theory"))),
        ("rot", lambda r: _g(r.get("rotation_ratio"))),
    ]
    cols += list(extra)
    cols.append(("order", _order))
    return cols


_SEP = ("‖", lambda r: "")

_TABLES = {
    "A": (
        "Illustration A — Jacobian attenuation (h0 and the prescribed unit circle vs the orbit)",
        [
            ("s", lambda r: _g(r["level"])),
            ("‖Df(h0)‖", lambda r: _g(r.get("probe_c_empirical"))),
            ("C_W δ(h0)", lambda r: _g(r.get("probe_c_theory"))),
            ("δ(h0)", lambda r: _g(r.get("probe_delta_1"))),
            ("C_W", lambda r: _g(r.get("probe_c_w"))),
            ("max‖Df‖∘", lambda r: _g(r.get("circle_c_empirical"))),
            ("max C_Wδ∘", lambda r: _g(r.get("circle_c_sampled_bound"))),
            ("order∘", lambda r: _tick(r.get("circle_contained"))),
            ("order@h0", lambda r: _tick(r.get("probe_contained"))),
            _SEP,
        ]
        + _orbit_set(),
    ),
    "B": (
        "Illustration B — Floquet–Liouville obstruction (per shift c)",
        [
            ("c", lambda r: _g(r.get("series_shift"))),
            ("s", lambda r: _g(r["level"])),
            ("C(U)∘", lambda r: _g(r.get("circle_c_empirical"))),
            ("d·C∘·T", lambda r: _g(2 * _num(r.get("circle_c_empirical")) * 2 * math.pi)),
            ("crossing∘", lambda r: _cross(r.get("circle_zero_crossing_1"))),
            ("order∘", lambda r: _tick(r.get("circle_contained"))),
            _SEP,
        ]
        + _orbit_set(
            [
                ("|ln det M|", lambda r: _g(abs(_num(r.get("period")) * _nontrivial(r)))),
                ("d·C_emp·T", lambda r: _g(2 * _num(r.get("c_empirical")) * _num(r.get("period")))),
                (
                    "crossing",
                    lambda r: _cross(r.get("zero_crossing_1")) if r["status"] == "ok" else MISSING,
                ),
            ]
        ),
    ),
    "C": (
        "Illustration C — saturation levels of the phase portraits",
        [
            ("s", lambda r: _g(r["level"])),
            ("δ∘", lambda r: _g(r.get("circle_delta_sampled_1"))),
            ("ln det M∘", lambda r: _g(r.get("circle_trace_integral"))),
            ("det M∘", lambda r: _e(math.exp(_num(r.get("circle_trace_integral"))))),
            ("C(U)∘", lambda r: _g(r.get("circle_c_empirical"))),
            ("order∘", lambda r: _tick(r.get("circle_contained"))),
            _SEP,
        ]
        + _orbit_set(
            [("ln det M", lambda r: _g(_num(r.get("period")) * _nontrivial(r)))],
        ),
    ),
    "D": (
        "Table 1 — Stuart–Landau reference (exact field; μ = 1 is the paper's row)",
        [
            ("μ", lambda r: _g(r["level"])),
            ("∫tr Df∘", lambda r: _g(r.get("circle_trace_integral"), 10)),
            ("det M∘", lambda r: _e(math.exp(_num(r.get("circle_trace_integral"))))),
            ("C_SL∘", lambda r: _g(r.get("circle_c_empirical"), 10)),
            ("d·C∘·T", lambda r: _g(2 * _num(r.get("circle_c_empirical")) * 2 * math.pi, 6)),
            ("order∘", lambda r: _tick(r.get("circle_contained"))),
            _SEP,
            ("status", lambda r: str(r.get("status", MISSING))),
            ("T", lambda r: _g(r.get("period"), 10)),
            ("λ2", lambda r: _g(_nontrivial(r), 10)),
            ("∫tr Df", lambda r: _g(_num(r.get("period")) * _nontrivial(r), 10)),
            ("C_emp", lambda r: _g(r.get("c_empirical"), 10)),
            ("d·C_emp·T", lambda r: _g(2 * _num(r.get("c_empirical")) * _num(r.get("period")), 6)),
            ("rot", lambda r: _g(r.get("rotation_ratio"))),
            ("order", lambda r: _tick(r.get("contained"))),
        ],
    ),
    "E": (
        "Table 3 — Illustration E: refined vs original bound (at h* and on the orbit)",
        [
            ("s", lambda r: _g(r["level"])),
            ("‖Df(h*)‖", lambda r: _g(r.get("probe_c_empirical"))),
            ("C̃(h*)", lambda r: _g(r.get("probe_c_refined"))),
            ("C(h*)", lambda r: _g(r.get("probe_c_theory"))),
            ("C/C̃", lambda r: _g(_num(r.get("probe_c_theory")) / _num(r.get("probe_c_refined")))),
            ("δ(h*)", lambda r: _g(r.get("probe_delta_1"))),
            ("order@h*", lambda r: _tick(r.get("probe_contained"))),
            _SEP,
        ]
        + _orbit_set([("C/C̃", lambda r: _g(_num(r.get("c_theory")) / _num(r.get("c_refined"))))]),
    ),
    "F": (
        "Table 2 — Illustration F: individual multipliers (unit circle vs the network's orbit)",
        [
            ("s", lambda r: _g(r["level"])),
            ("δ∘", lambda r: _g(r.get("circle_delta_sampled_1"))),
            ("C(U)∘", lambda r: _g(r.get("circle_c_empirical"))),
            ("|μ1|∘", lambda r: _e(r.get("circle_multiplier_abs_1"))),
            ("|μ2|∘", lambda r: _e(r.get("circle_multiplier_abs_2"))),
            ("e^{−CT}∘", lambda r: _e(_exp_window(r.get("circle_c_empirical"), 2 * math.pi, -1))),
            ("e^{CT}∘", lambda r: _e(_exp_window(r.get("circle_c_empirical"), 2 * math.pi, 1))),
            ("order∘", lambda r: _tick(r.get("circle_contained"))),
            _SEP,
            ("status", lambda r: str(r.get("status", MISSING))),
            ("T", lambda r: _g(r.get("period"))),
            ("|μ2|", lambda r: _e(math.exp(_num(r.get("period")) * _nontrivial(r)))),
            ("δ", lambda r: _g(r.get("delta_1"))),
            ("C_emp", lambda r: _g(r.get("c_empirical"))),
            ("C", lambda r: _g(r.get("c_theory"))),
            ("e^{−C_emp T}", lambda r: _e(_exp_window(r.get("c_empirical"), r.get("period"), -1))),
            ("e^{C_emp T}", lambda r: _e(_exp_window(r.get("c_empirical"), r.get("period"), 1))),
            ("rot", lambda r: _g(r.get("rotation_ratio"))),
            ("order", _order),
        ],
    ),
}

_NOTE = (
    "*∘ = along the paper's prescribed unit circle (not an orbit of the scaled network: its "
    "'multipliers' are not Floquet multipliers); C(U)∘ = max ‖Df‖ over the circle's points (the "
    "paper's C(U)); plain columns = on the network's own periodic orbit found at that level "
    "(— where it has none): C_emp = max ‖Df‖, C = C_W∏δ (the theorem's bound), C̃ the refined "
    "bound, rot = C_emp·T/2π (≥ 1 on a planar cycle), † = a unit's pre-activation crosses 0 on "
    "the orbit; order = |λ| ≤ C_emp ≤ C̃ ≤ C held (✓/✗).*"
)


def _select(rows, levels, max_rows):
    if levels:
        picked = []
        for target in levels:
            best = min(rows, key=lambda r: abs(r["level"] - target))
            if best not in picked:
                picked.append(best)
        return picked
    if max_rows and len(rows) > max_rows:
        idx = np.unique(np.round(np.linspace(0, len(rows) - 1, max_rows)).astype(int))
        return [rows[i] for i in idx]
    return rows


def markdown(columns, rows) -> str:
    head = "| " + " | ".join(h.replace("|", r"\|") for h, _ in columns) + " |"
    rule = "|" + "|".join("---:" if h != "status" else ":---" for h, _ in columns) + "|"
    body = [
        "| " + " | ".join(str(f(r)).replace("|", r"\|") for _, f in columns) + " |" for r in rows
    ]
    return "\n".join([head, rule, *body])


def illustration_table(illustration, rows, *, levels=None, max_rows=None) -> str:
    """The Markdown table of one illustration (both column sets), with its caption."""
    title, columns = _TABLES[illustration]
    if illustration == "B":
        parts = []
        for member in dict.fromkeys(r["member"] for r in rows):
            sub = [r for r in rows if r["member"] == member]
            parts.append(markdown(columns, _select(sub, levels, max_rows)))
        text = "\n\n".join(parts)
    else:
        text = markdown(columns, _select(rows, levels, max_rows))
    return f"## {title}\n\n{text}\n\n{_NOTE}\n"


# --------------------------------------------------------------------------------------------
# The summary of the study beyond the paper
# --------------------------------------------------------------------------------------------

# C_emp below this is the collapse criterion (the orbit barely rotates any more).
_COLLAPSE_C_EMP = 0.1


def summary_rows(rows) -> list[dict]:
    """Per (depth, activation, saturation kind): where the orbit disappears or C_emp < 0.1."""
    out = []
    for member in dict.fromkeys(r["member"] for r in rows):
        sub = [r for r in rows if r["member"] == member]
        ok = [r for r in sub if r["status"] == "ok"]
        collapse, reason = None, "none in range"
        seen = False
        for r in sub:
            if r["status"] == "ok":
                seen = True
                if _num(r.get("c_empirical")) < _COLLAPSE_C_EMP:
                    collapse, reason = r["level"], "C_emp < 0.1"
                    break
            elif r["status"] == "no_orbit" and (seen or r is sub[0]):
                collapse, reason = r["level"], "orbit lost"
                break
        # Other statuses (not_converged, check_failed, …) are failures to compute, not a result.
        failed = sum(r["status"] not in ("ok", "no_orbit") for r in sub)

        def ratio(a, b, pick, ok=ok):
            vals = [_num(r.get(a)) / _num(r.get(b)) for r in ok]
            vals = [v for v in vals if math.isfinite(v)]
            return pick(vals) if vals else math.nan

        out.append(
            dict(
                depth=sub[0].get("depth"),
                activation=sub[0].get("activation"),
                saturation=sub[0].get("saturation"),
                levels=f"{sub[0]['level']:g}–{sub[-1]['level']:g}",
                orbits=f"{len(ok)}/{len(sub)}" + (f" ({failed} failed)" if failed else ""),
                collapse_level=collapse,
                reason=reason,
                crossing=any(r.get("zero_crossing_1") is True for r in ok),
                emp_over_theory_max=ratio("c_empirical", "c_theory", max),
                emp_over_theory_min=ratio("c_empirical", "c_theory", min),
                refined_over_theory_max=ratio("c_refined", "c_theory", max),
                refined_over_theory_min=ratio("c_refined", "c_theory", min),
                order_ok=all(r.get("contained") is True for r in ok),
            )
        )
    return out


def summary_table(summary) -> str:
    cols = [
        ("depth", lambda r: str(r["depth"])),
        ("σ", lambda r: str(r["activation"])),
        ("saturation", lambda r: str(r["saturation"])),
        ("levels", lambda r: r["levels"]),
        ("orbits", lambda r: r["orbits"]),
        ("collapse at", lambda r: _g(r["collapse_level"])),
        ("why", lambda r: r["reason"]),
        ("crossing", lambda r: _cross(r["crossing"])),
        (
            "C_emp/C",
            lambda r: f"{_g(r['emp_over_theory_min'], 2)}–{_g(r['emp_over_theory_max'], 2)}",
        ),
        (
            "C̃/C",
            lambda r: (
                f"{_g(r['refined_over_theory_min'], 2)}–{_g(r['refined_over_theory_max'], 2)}"
            ),
        ),
        ("order", lambda r: _tick(r["order_ok"])),
    ]
    note = (
        "*orbits = levels with an orbit found and every check passed (failed = the search or an "
        "accuracy check failed there: no number is reported); collapse at = the first level "
        "where the orbit is lost (`no_orbit`) or C_emp < 0.1 (— if neither happens in the "
        "range); C_emp/C and C̃/C: range over the levels with an orbit (tightness of the "
        "theorem's bound, 1 = tight); crossing = some first-layer unit crosses 0 on the orbit "
        "at some level (then δ = sup σ' there); order = |λ| ≤ C_emp ≤ C̃ ≤ C at every level "
        "with an orbit. gain: s swept at c = 0; shift: c swept at s = 1.*"
    )
    return (
        "## Beyond the paper — depth × activation × saturation kind\n\n"
        + markdown(cols, summary)
        + f"\n\n{note}\n"
    )


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _col(rows, key):
    return np.array([_num(r.get(key)) for r in rows])


def _pos(x):
    x = np.asarray(x, float)
    return np.where(x > 0, x, np.nan)


def figure_A(rows, path):
    s = _col(rows, "level")
    fig = Figure(figsize=(12, 4.6))
    ax, bx = fig.subplots(1, 2)
    ax.loglog(s, _pos(_col(rows, "probe_c_empirical")), "b-", label="‖Df(h0)‖")
    ax.loglog(s, _pos(_col(rows, "probe_c_theory")), "r--", label="C_W δ(h0)")
    ax.loglog(s, _pos(_col(rows, "circle_c_empirical")), "c-", label="max‖Df‖ on unit circle ∘")
    ax.loglog(s, _pos(_col(rows, "c_empirical")), "ko", ms=3, label="C_emp on the true orbit")
    ax.loglog(s, _pos(_col(rows, "c_theory")), "k^", ms=3, mfc="none", label="C(U) on the orbit")
    ax.set_xlabel("gain s")
    ax.set_title("(a) ‖Df‖ ≤ C_W·δ", loc="left", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    bx.loglog(s, _pos(_col(rows, "probe_delta_1")), "g-", label="δ(h0)")
    bx.loglog(s, _pos(_col(rows, "probe_c_w")), "m--", label="C_W(s)")
    bx.loglog(s, _pos(_col(rows, "delta_1")), "ko", ms=3, label="δ on the orbit")
    bx.set_xlabel("gain s")
    bx.set_title("(b) δ decays, C_W grows", loc="left", fontsize=10)
    bx.legend(fontsize=8)
    bx.grid(True, which="both", alpha=0.25)
    fig.suptitle("Illustration A — Jacobian attenuation")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


def figure_B(rows, path):
    fig = Figure(figsize=(9, 5.5))
    ax = fig.subplots()
    for k, member in enumerate(dict.fromkeys(r["member"] for r in rows)):
        sub = [r for r in rows if r["member"] == member]
        s = _col(sub, "level")
        cross = any(r.get("circle_zero_crossing_1") is True for r in sub)
        c = sub[0].get("series_shift")
        label = f"c = {c:.2f} ({'with' if cross else 'no'} zero crossings on the circle)"
        color = f"C{k}"
        ax.loglog(s, _pos(_col(sub, "circle_c_empirical")), "-", color=color, label=label + " ∘")
        ax.loglog(s, _pos(_col(sub, "c_empirical")), "o", color=color, ms=3, mfc="none")
        ax.loglog(s, _pos(_col(sub, "c_theory")), ":", color=color, lw=1)
    ax.plot([], [], "ko", mfc="none", ms=3, label="C_emp on the network's own orbit")
    ax.plot([], [], "k:", label="C(U) = C_W∏δ on the orbit")
    ax.axhline(1.0, color="0.5", lw=0.6)
    ax.set_xlabel("gain s")
    ax.set_ylabel("C(U)")
    ax.set_title("Illustration B — C(U) vs s per shift (∘ = prescribed unit circle)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


def figure_E(rows, path):
    s = _col(rows, "level")
    fig = Figure(figsize=(12, 4.6))
    ax, bx = fig.subplots(1, 2)
    ax.semilogy(s, _pos(_col(rows, "probe_c_theory")), "k-", label="C(h*) original")
    ax.semilogy(s, _pos(_col(rows, "probe_c_refined")), "r-", label="C̃(h*) refined")
    ax.semilogy(s, _pos(_col(rows, "probe_c_empirical")), "b-", label="‖Df(h*)‖")
    ax.semilogy(s, _pos(_col(rows, "c_theory")), "k^", ms=3, mfc="none", label="C on the orbit")
    ax.semilogy(s, _pos(_col(rows, "c_refined")), "rs", ms=3, mfc="none", label="C̃ on the orbit")
    ax.semilogy(s, _pos(_col(rows, "c_empirical")), "bo", ms=3, label="C_emp on the orbit")
    ax.set_xlabel("gain s")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    ax.set_title("(a) actual, refined and original bounds", loc="left", fontsize=10)
    bx.plot(s, _col(rows, "probe_c_theory") / _col(rows, "probe_c_refined"), "g-", label="at h*")
    bx.plot(s, _col(rows, "c_theory") / _col(rows, "c_refined"), "go", ms=3, label="on the orbit")
    bx.axhline(1, color="0.5", ls="--", lw=0.8)
    bx.set_xlabel("gain s")
    bx.set_ylabel("C / C̃")
    bx.legend(fontsize=8)
    bx.grid(True, alpha=0.25)
    bx.set_title("(b) improvement ratio", loc="left", fontsize=10)
    fig.suptitle("Illustration E — refined vs original bound")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


def figure_F(rows, path):
    s = _col(rows, "level")
    c_circ = _col(rows, "circle_c_empirical")
    fig = Figure(figsize=(9, 5.5))
    ax = fig.subplots()
    ax.semilogy(s, np.exp(c_circ * 2 * np.pi), "k--", label="e^{±C(U)T} ∘ (circle)")
    ax.semilogy(s, np.exp(-c_circ * 2 * np.pi), "k--")
    ax.fill_between(
        s, np.exp(-c_circ * 2 * np.pi), np.exp(c_circ * 2 * np.pi), color="0.5", alpha=0.08
    )
    ax.semilogy(s, _col(rows, "circle_multiplier_abs_1"), "bo-", ms=5, label="|μ1| ∘")
    ax.semilogy(s, _col(rows, "circle_multiplier_abs_2"), "rs-", ms=5, label="|μ2| ∘")
    c, t = _col(rows, "c_empirical"), _col(rows, "period")
    lam = np.array([_nontrivial(r) for r in rows])
    ax.semilogy(s, np.exp(c * t), "g:", label="e^{±C_emp T} on the true orbit")
    ax.semilogy(s, np.exp(-c * t), "g:")
    ax.semilogy(s, np.exp(lam * t), "g^", ms=6, label="|μ2| of the true orbit")
    ax.axhline(1.0, color="0.5", ls=":", lw=0.8)
    ax.set_xlabel("gain s")
    ax.set_ylabel("|μ| (log)")
    ax.set_title("Illustration F — multiplier window vs s", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


def figure_C(portraits, path):
    n = len(portraits)
    fig = Figure(figsize=(4.6 * n, 4.8))
    axes = np.atleast_1d(fig.subplots(1, n))
    palette = [f"C{k}" for k in range(8)]
    names = ["mild", "moderate", "strong"] + [""] * max(0, n - 3)
    for ax, (level, starts, ys, orbit, row), name in zip(axes, portraits, names, strict=False):
        for k, (y0, y) in enumerate(zip(starts, ys, strict=True)):
            color = palette[(k // 4) % 8]
            ax.plot(y[:, 0], y[:, 1], color=color, lw=0.7, alpha=0.7)
            ax.plot(*y0, "o", ms=3.5, color=color, mec="k", mew=0.5)
        phi = np.linspace(0, 2 * np.pi, 300)
        ax.plot(np.cos(phi), np.sin(phi), "k--", lw=1.3, label="unit circle (SL cycle)")
        if orbit is not None:
            ax.plot(orbit[:, 0], orbit[:, 1], "r-", lw=2.2, label="network's own orbit")
        text = (
            f"T = {_g(row.get('period'))}\nλ2 = {_g(_nontrivial(row))}\n"
            if orbit is not None
            else "no periodic orbit\n"
        )
        text += f"δ∘ = {_g(row.get('circle_delta_sampled_1'))}"
        ax.text(
            0.03,
            0.97,
            text,
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            bbox=dict(boxstyle="round", fc="white", ec="0.6", alpha=0.9),
        )
        ax.set_xlim(-2.5, 2.5)
        ax.set_ylim(-2.5, 2.5)
        ax.set_aspect("equal")
        ax.set_title(f"s = {level:g} ({name})", fontsize=10)
        ax.legend(fontsize=6.5, loc="lower right")
        ax.grid(True, alpha=0.2)
    fig.suptitle("Illustration C — phase portraits at mild / moderate / strong saturation")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)


# --------------------------------------------------------------------------------------------
# Writing a study's outputs
# --------------------------------------------------------------------------------------------


def _write_csv(path, rows):
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)


def write_study(config, members, rows, out_dir) -> list[str]:
    """Write `paper.csv`, `tables.md` and the illustration's figures; return the figure names."""
    from ._paper import orbit_points, portrait_data
    from ._runner import flow_options

    out_dir = Path(out_dir)
    paper = config.paper or {}
    illustration = paper.get("illustration")
    _write_csv(out_dir / "paper.csv", rows)
    figures = []
    title = config.output["title"] or Path(config.path).name
    parts = [f"# {title}\n"]
    if config.grid is not None or illustration == "beyond":
        summary = summary_rows(rows)
        _write_csv(out_dir / "summary.csv", summary)
        parts.append(summary_table(summary))
    elif illustration in _TABLES:
        parts.append(
            illustration_table(
                illustration,
                rows,
                levels=paper.get("table_levels"),
                max_rows=config.output["table_rows"],
            )
        )
        figure = {"A": figure_A, "B": figure_B, "E": figure_E, "F": figure_F}.get(illustration)
        if figure is not None:
            name = f"fig_{illustration}.png"
            figure(rows, out_dir / name)
            figures.append(name)
    if paper.get("portraits"):
        options = flow_options(config.solver)
        _, member, _, field = members[0]
        parameter = member.sweep["parameter"]
        panels = []
        for level, t_end in zip(paper["portraits"], paper["portrait_time"], strict=True):
            row = min(rows, key=lambda r: abs(r["level"] - level))
            starts, ys = portrait_data(field, parameter, level, t_end, options)
            panels.append((level, starts, ys, orbit_points(field, parameter, row, options), row))
        figure_C(panels, out_dir / "fig_C_portraits.png")
        figures.append("fig_C_portraits.png")
    (out_dir / "tables.md").write_text("\n".join(parts), encoding="utf-8")
    return figures
