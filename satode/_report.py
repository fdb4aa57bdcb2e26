"""Turning a sweep's tidy rows into a Markdown table and a spectrum plot.

Pure numpy/matplotlib (no JAX): the input is `rows`, one `dict` per saturation level, as a sweep
writes them (`level`, `status`, `period`, `exponent_1..d`, `delta_1..q`, `c_theory`, `c_empirical`,
`c_refined`, `rotation_ratio`, `contained`, optional `circle_*` columns, ...). Any key may be
absent and any float may be NaN; missing values render as "—" and are skipped in the plot.
The figure is drawn on a `matplotlib.figure.Figure` (no pyplot), so no global state changes.
"""

import math
import os
import re
from collections import Counter

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator
from matplotlib.transforms import blended_transform_factory


MISSING = "—"
_OK = "ok"

# Short meanings of the statuses (kept here so this module needs no JAX import).
STATUS_MEANINGS = {
    "ok": "periodic orbit found and every accuracy/bound check passed",
    "no_orbit": "no periodic orbit (settled on an equilibrium, escaped, or never returned)",
    "not_converged": "Newton shooting did not converge",
    "max_steps": "the ODE solver reached max_steps",
    "nonfinite": "non-finite values appeared",
    "check_failed": "orbit found but an accuracy check or the bound order failed",
}

_FIGSIZE = (10.0, 7.0)
_DPI = 120
_ROT_COLOR = "tab:purple"


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _num(value) -> float:
    """`value` as a float, NaN when missing, non-numeric or a bool."""
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value) -> str:
    x = _num(value)
    if not math.isfinite(x):
        return MISSING if math.isnan(x) else ("∞" if x > 0 else "-∞")
    return f"{x:.4g}"


def _count(rows: list[dict], prefix: str) -> int:
    """Largest `i` such that some row has the key `f"{prefix}{i}"` (indices start at 1)."""
    pattern = re.compile(rf"^{re.escape(prefix)}([1-9][0-9]*)$")
    largest = 0
    for row in rows:
        for key in row:
            match = pattern.match(key)
            if match:
                largest = max(largest, int(match.group(1)))
    return largest


def _has(rows: list[dict], key: str) -> bool:
    return any(key in row for row in rows)


def _has_circle(rows: list[dict]) -> bool:
    return any(key.startswith("circle_") for row in rows for key in row)


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([_num(row.get(key)) for row in rows], dtype=float)


def _subsample(rows: list[dict], max_rows: int | None) -> list[dict]:
    """Evenly spaced rows, first and last included, when there are more than `max_rows`."""
    if max_rows is None or len(rows) <= max_rows:
        return list(rows)
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if max_rows == 1:
        return [rows[0]]
    idx = np.unique(np.round(np.linspace(0, len(rows) - 1, max_rows)).astype(int))
    return [rows[i] for i in idx]


def _md_cell(text: str) -> str:
    return str(text).replace("|", r"\|")


# --------------------------------------------------------------------------------------------
# Markdown table
# --------------------------------------------------------------------------------------------


def markdown_table(
    rows: list[dict], *, parameter: str = "gain", max_rows: int | None = None
) -> str:
    """A GitHub Markdown table of a sweep, one line per level, followed by a one-line caption.

    Columns: the level (`parameter`), status, period `T`, every exponent `λi`, every layer's
    saturation `δk` (marked `†` where a unit's pre-activation crosses 0 on the orbit), `C_theory`,
    `C_emp`, `C̃`, `rot = C_emp·T/2π`, `order` (✓/✗: `|λ| ≤ C_emp ≤ C̃ ≤ C_theory` held) and, when
    the rows carry the paper's prescribed-circle columns, `|μ1|∘`, `|μ2|∘`, `C_emp∘`. Audit columns
    absent from every row are left out. Numbers use 4 significant digits; NaN/missing is "—".
    With `max_rows`, at most that many evenly spaced rows are kept (first and last included).
    """
    rows = _subsample(list(rows), max_rows)
    n_exp = _count(rows, "exponent_")
    n_delta = _count(rows, "delta_")
    circle = _has_circle(rows)

    columns: list[tuple[str, object]] = [
        (parameter, lambda r: _fmt(r.get("level"))),
        ("status", lambda r: str(r.get("status", MISSING))),
        ("T", lambda r: _fmt(r.get("period"))),
    ]
    for i in range(1, n_exp + 1):
        columns.append((f"λ{i}", lambda r, i=i: _fmt(r.get(f"exponent_{i}"))))

    def delta_cell(r, k):
        text = _fmt(r.get(f"delta_{k}"))
        crossing = r.get(f"zero_crossing_{k}")
        if text != MISSING and isinstance(crossing, (bool, np.bool_)) and crossing:
            text += "†"
        return text

    for k in range(1, n_delta + 1):
        columns.append((f"δ{k}", lambda r, k=k: delta_cell(r, k)))

    optional = [
        ("C_theory", "c_theory"),
        ("C_emp", "c_empirical"),
        ("C̃", "c_refined"),
        ("rot", "rotation_ratio"),
    ]
    for name, key in optional:
        if _has(rows, key):
            columns.append((name, lambda r, key=key: _fmt(r.get(key))))

    def order_cell(r):
        value = r.get("contained")
        if value is None or isinstance(value, float) and math.isnan(value):
            return MISSING
        return "✓" if bool(value) else "✗"

    if _has(rows, "contained"):
        columns.append(("order", order_cell))

    if any(row.get("event") for row in rows):  # a continuation branch: mark its events
        columns.append(("event", lambda r: str(r.get("event") or "")))

    if circle:
        columns.append(("|μ1|∘", lambda r: _fmt(r.get("circle_multiplier_abs_1"))))
        columns.append(("|μ2|∘", lambda r: _fmt(r.get("circle_multiplier_abs_2"))))
        columns.append(("C_emp∘", lambda r: _fmt(r.get("circle_c_empirical"))))

    header = "| " + " | ".join(_md_cell(name) for name, _ in columns) + " |"
    align = "|" + "|".join(":---" if j < 2 else "---:" for j in range(len(columns))) + "|"
    lines = [header, align]
    for row in rows:
        lines.append("| " + " | ".join(_md_cell(cell(row)) for _, cell in columns) + " |")

    notes = ["rot = C_emp·T/2π (≥ 1 on any planar periodic orbit)"]
    if n_delta:
        notes.append(
            "† = a unit's pre-activation crosses 0 on the orbit (that layer cannot attenuate)"
        )
    if _has(rows, "contained"):
        notes.append("order = |λ| ≤ C_emp ≤ C̃ ≤ C_theory held")
    if circle:
        notes.append("∘ = on the paper's prescribed circle (a closed curve, not the true orbit)")
    notes.append(f"{MISSING} = not available")
    caption = "*" + "; ".join(notes) + ".*"
    return "\n".join(lines) + "\n\n" + caption + "\n"


# --------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------


def _linthresh(exponents: np.ndarray, others: list[np.ndarray]) -> float:
    """Linear threshold of the symlog axis: the decade of the smallest meaningful |value|.

    Per row the exponent closest to 0 is the trivial one (its size is only numerical error), so it
    is left out when there are at least two exponents.
    """
    values = []
    if exponents.size:
        mags = np.abs(exponents)
        if exponents.shape[1] >= 2:
            mags = np.where(np.isfinite(mags), mags, np.inf)
            mags = np.sort(mags, axis=1)[:, 1:]
        values.append(mags.ravel())
    values.extend(np.abs(o).ravel() for o in others)
    if not values:
        return 1e-6
    flat = np.concatenate(values)
    flat = flat[np.isfinite(flat) & (flat > 0)]
    if flat.size == 0:
        return 1e-6
    decade = 10.0 ** math.floor(math.log10(float(flat.min())))
    return float(np.clip(decade, 1e-12, 1.0))


def _span_edges(xs: np.ndarray, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """Left/right edges of a cell around each (sorted, finite) level, half way to neighbours."""
    t = np.log10(xs) if log else xs.astype(float)
    if t.size == 1:
        half = np.array([0.05 if log else max(0.05 * abs(t[0]), 0.5)])
        left, right = t - half, t + half
    else:
        mid = 0.5 * (t[1:] + t[:-1])
        left = np.concatenate([[t[0] - (mid[0] - t[0])], mid])
        right = np.concatenate([mid, [t[-1] + (t[-1] - mid[-1])]])
    if log:
        return 10.0**left, 10.0**right
    return left, right


def _positive(values: np.ndarray) -> bool:
    return bool(np.any(np.isfinite(values) & (values > 0)))


def spectrum_figure(
    rows: list[dict],
    path,
    *,
    parameter: str = "gain",
    title: str | None = None,
    events: list[dict] | None = None,
) -> None:
    """Write a PNG (10×7 in at 120 dpi) of the spectrum along a sweep.

    Top: the orbit's exponents `λi` vs the level with the bands `±C_emp` (shaded) and `±C_theory`
    (dashed) on a symlog axis, the prescribed-circle exponents (hollow markers) when present, and
    every level whose status is not "ok" marked by a red × on the axis and a light red span.
    Bottom: the period `T` (log) and, on a twin axis, `rot = C_emp·T/2π` (log) with the planar
    lower bound 1 dotted. The x-axis is logarithmic when every level is > 0 and they span more
    than a factor of 20. NaN values are skipped. `events` (continuation: dicts with `type` and
    `value`) are drawn as labelled vertical lines in both panels; the rows are then kept in
    branch order (a branch may turn back at a fold).
    """
    rows = [r for r in rows if math.isfinite(_num(r.get("level")))]
    if not events:
        rows.sort(key=lambda r: _num(r.get("level")))
    x = _column(rows, "level")
    n_exp = _count(rows, "exponent_")
    exps = np.empty((len(rows), 0))
    if n_exp:
        exps = np.stack([_column(rows, f"exponent_{i}") for i in range(1, n_exp + 1)], axis=1)
    n_circ = _count(rows, "circle_exponent_")
    circ = [_column(rows, f"circle_exponent_{i}") for i in range(1, n_circ + 1)]
    c_emp = _column(rows, "c_empirical")
    c_theory = _column(rows, "c_theory")
    period = _column(rows, "period")
    rotation = _column(rows, "rotation_ratio")
    statuses = [str(r.get("status", "?")) for r in rows]
    failed = np.array([s != _OK for s in statuses], dtype=bool)

    log_x = bool(x.size and np.all(x > 0) and x.max() / x.min() > 20)

    fig = Figure(figsize=_FIGSIZE, dpi=_DPI, layout="constrained")
    ax, ax_t = fig.subplots(2, 1, sharex=True, height_ratios=[2.0, 1.0])
    if log_x:
        ax.set_xscale("log")

    # Failed levels: a light red span in both panels (drawn first, underneath everything).
    if failed.any():
        left, right = _span_edges(x, log_x)
        for j in np.flatnonzero(failed):
            for a in (ax, ax_t):
                a.axvspan(left[j], right[j], color="tab:red", alpha=0.08, lw=0, zorder=0)

    # (a) exponents and bands.
    fill_ok = np.isfinite(c_emp)
    if fill_ok.any():
        band = np.where(fill_ok, c_emp, 0.0)
        ax.fill_between(
            x, -band, band, where=fill_ok, color="tab:blue", alpha=0.12, lw=0, label="±C_emp"
        )
        for sign in (1, -1):
            ax.plot(x, sign * c_emp, color="tab:blue", lw=0.8, alpha=0.6, marker="_", ms=8)
    if np.isfinite(c_theory).any():
        for sign, label in ((1, "±C_theory"), (-1, None)):
            ax.plot(
                x, sign * c_theory, ls="--", color="0.35", lw=1.2, marker="_", ms=8, label=label
            )
    colors = [f"C{(i + 1) % 10}" for i in range(max(n_exp, n_circ))]
    for i in range(n_exp):
        label = f"λ{i + 1}" if np.isfinite(exps[:, i]).any() else None
        ax.plot(x, exps[:, i], marker="o", ms=4, lw=1.4, color=colors[i], label=label)
    for i, values in enumerate(circ):
        if not np.isfinite(values).any():
            continue
        ax.plot(
            x,
            values,
            ls="none",
            marker="D",
            ms=6,
            mfc="none",
            mew=1.2,
            color=colors[i],
            label=f"λ{i + 1}∘ (prescribed circle)",
        )
    ax.axhline(0.0, color="0.6", lw=0.6, zorder=1)
    for k, event in enumerate(events or []):
        value = _num(event.get("value"))
        if not math.isfinite(value) or (log_x and value <= 0):  # not on this axis
            continue
        for a in (ax, ax_t):
            a.axvline(value, color="tab:red", ls="-.", lw=1.2, zorder=4)
        # Labels of events in the right half of the levels go left of their line, away from
        # the legend outside the axes.
        right = x.size > 0 and value > 0.5 * (float(x.min()) + float(x.max()))
        ax.annotate(
            f"{event.get('type')} {value:.7g}",
            xy=(value, 1.0 - 0.07 * (k % 4)),
            xycoords=("data", "axes fraction"),
            xytext=(-3 if right else 3, -3),
            textcoords="offset points",
            fontsize=8,
            color="tab:red",
            va="top",
            ha="right" if right else "left",
        )
    linthresh = _linthresh(exps, [c_emp, *circ])
    ax.set_yscale("symlog", linthresh=linthresh, linscale=0.5)
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylabel(f"exponent λ  (symlog, linear within ±{linthresh:.0e})")
    if failed.any():
        names = ", ".join(sorted(set(s for s, f in zip(statuses, failed, strict=True) if f)))
        ax.plot(
            x[failed],
            np.zeros(int(failed.sum())),
            ls="none",
            marker="x",
            ms=9,
            mew=2,
            color="tab:red",
            transform=blended_transform_factory(ax.transData, ax.transAxes),
            clip_on=False,
            zorder=5,
            label=f"not ok ({names})",
        )
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            frameon=False,
            borderaxespad=0.0,
        )
    ax.set_title("(a) Floquet exponents of the orbit vs the bounds", fontsize=10, loc="left")

    # (b) period and rotation ratio: no legend, the axes are told apart by colour.
    t_ok = np.isfinite(period) & (period > 0)
    ax_t.plot(x, np.where(t_ok, period, np.nan), marker="s", ms=4, color="k")
    if _positive(period):
        ax_t.set_yscale("log")
    else:
        ax_t.set_yticks([])
        ax_t.text(
            0.5,
            0.8,
            "no period at any level",
            transform=ax_t.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
    ax_t.set_ylabel("period T (■)")
    ax_t.set_xlabel(parameter + (" (log scale)" if log_x else ""))
    ax_t.grid(True, which="major", alpha=0.3)
    ax_r = ax_t.twinx()
    r_ok = np.isfinite(rotation) & (rotation > 0)
    ax_r.plot(x, np.where(r_ok, rotation, np.nan), marker="^", ms=4, color=_ROT_COLOR)
    ax_r.axhline(1.0, ls=":", lw=1.5, color=_ROT_COLOR)
    ax_r.annotate(
        "rot = 1 (planar lower bound)",
        xy=(0.005, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(0, 2),
        textcoords="offset points",
        fontsize=8,
        color=_ROT_COLOR,
        va="bottom",
    )
    ax_r.set_yscale("log")
    low, high = (float(rotation[r_ok].min()), float(rotation[r_ok].max())) if r_ok.any() else (1, 1)
    r_low, r_high = min(0.8, 0.8 * low), max(1.25, 1.25 * high)
    ax_r.set_ylim(r_low, r_high)
    if r_high / r_low < 10:  # under a decade: evenly spaced plain ticks read better
        ax_r.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax_r.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        ax_r.yaxis.set_minor_locator(NullLocator())
    ax_r.set_ylabel("rot = C_emp·T/2π (▲)", color=_ROT_COLOR)
    ax_r.tick_params(axis="y", which="both", colors=_ROT_COLOR)
    ax_t.set_title("(b) period T and rotation ratio C_emp·T/2π", fontsize=10, loc="left")

    fig.suptitle(title or f"Floquet spectrum vs {parameter}")
    fig.savefig(path, dpi=_DPI)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def bracket_text(event: dict) -> str:
    """How an event was located: the bisection bracket of the branch's last cycles, and, where
    the event was then refined on the equilibrium (`hopf`, `snic`), that its value lies there."""
    bracket = event.get("bracket")
    if not bracket:
        return ""
    lo, hi = sorted(bracket)
    text = f"{bracket[0]:.12g} .. {bracket[1]:.12g}"
    value = _num(event.get("value"))
    if math.isfinite(value) and not lo <= value <= hi:
        return f"(cycles bracketed in {text}; the value is refined on the equilibrium)"
    return f"(bracket {text})"


def write_report(
    rows: list[dict],
    out_dir,
    *,
    parameter: str = "gain",
    title: str | None = None,
    events: list[dict] | None = None,
) -> None:
    """Write `out_dir/table.md` (title, table, status legend) and `out_dir/spectrum.png`."""
    rows = list(rows)
    os.makedirs(out_dir, exist_ok=True)
    heading = title or f"Floquet spectrum vs {parameter}"
    counts = Counter(str(r.get("status", "?")) for r in rows)
    legend = [f"Statuses ({len(rows)} levels):", ""]
    for status, count in sorted(counts.items(), key=lambda kv: (kv[0] != _OK, kv[0])):
        meaning = STATUS_MEANINGS.get(status, "")
        if status == _OK and not any("period" in r for r in rows):  # Lyapunov-only sweep
            meaning = "Lyapunov spectrum computed and |λ| ≤ C_emp ≤ C̃ ≤ C_theory held"
        legend.append(f"- `{status}`: {count}" + (f" — {meaning}" if meaning else ""))
    from ._lyapunov_report import has_lyapunov, lyapunov_figure, lyapunov_table

    floquet = any("period" in r for r in rows) or not has_lyapunov(rows)
    text = f"# {heading}\n\n"
    if floquet:
        text += markdown_table(rows, parameter=parameter) + "\n"
    if has_lyapunov(rows):
        text += "## Lyapunov spectra\n\n" + lyapunov_table(rows, parameter=parameter) + "\n"
    text += "\n".join(legend) + "\n"
    if events is not None:
        text += f"\nEvents of the branch ({len(events)}):\n\n"
        for e in events:
            text += f"- `{e.get('type')}` at {parameter} = {_fmt(e.get('value'))}"
            text += f" {bracket_text(e)}\n"
    with open(os.path.join(out_dir, "table.md"), "w", encoding="utf-8") as fh:
        fh.write(text)
    if floquet:
        path = os.path.join(out_dir, "spectrum.png")
        spectrum_figure(rows, path, parameter=parameter, title=title, events=events)
    if has_lyapunov(rows):
        path = os.path.join(out_dir, "lyapunov.png")
        lyapunov_figure(rows, path, parameter=parameter, title=title)
