"""Paper reproductions and studies: the paper's prescribed circle beside the network's own orbit.

A config with a `[paper]` (or `[grid]`) section is a *study*: one or more ordinary sweeps (the
true-orbit column set, by `run_config`) plus the columns the paper's scripts compute without ever
finding an orbit (the prescribed-circle column set), point probes, phase portraits, and the
illustration's tables and figures (`_paper_report.py`). Everything is written under one folder:

- `network.npz` (the network a `[network.fit]` produced, fitted once for the whole study),
- `runs/<member>/` (each sweep's own `results.csv`, `table.md`, `manifest.json`, resumable),
- `paper.csv` (all rows, both column sets), `tables.md`, `fig_*.png`, `study.json` (timings).

The paper's conventions, reproduced exactly: circles of `circle_points` distinct points
`t = 2πk/n` (no endpoint); its "C(U)" is `max ‖Df‖` over those points (satode's `C_emp` on the
circle); its `δ` is the sampled `max σ'` (satode's audit adds σ's peaks crossed between samples,
which is what makes `C_theory` a rigorous bound). Both are reported.
"""

import copy
import dataclasses
import itertools
import json
import math
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._analysis import at_level
from ._bounds import _ORDER_SLACK, saturation_audit
from ._config import SweepConfig
from ._curve import _EIG_RESOLUTION, circle, circle_spectrum
from ._flow import integrate
from ._io import load_mlp, save_mlp
from ._mlp import SaturatingMLP
from ._periodic_orbit import PeriodicOrbit, sample_orbit
from ._results import RESULTS
from ._runner import config_digest, fit_network, flow_options, run_config


# --------------------------------------------------------------------------------------------
# The prescribed-circle column set (the paper's method) and point probes
# --------------------------------------------------------------------------------------------


def _jacobian(vf, y):
    if isinstance(vf, SaturatingMLP):
        return vf.jacobian(y)
    return jax.jacfwd(lambda z: vf(0.0, z, None))(y)


@eqx.filter_jit
def _circle_batch(field, parameter, levels, radius, n_points, options):
    def one(level):
        vf = at_level(field, parameter, level)
        spec = circle_spectrum(vf, radius, options=options)
        # n distinct points t = 2πk/n plus the closing one (the audit needs a closed path).
        pts = circle(radius, n_points + 1, dtype=levels.dtype)
        norms = jax.vmap(lambda y: jnp.linalg.norm(_jacobian(vf, y), ord=2))(pts[:-1])
        out = dict(
            multipliers=spec.multipliers,
            exponents=spec.exponents,
            trace_integral=spec.trace_integral,
            liouville_residual=spec.liouville_residual,
            c_empirical=jnp.max(norms),
        )
        if isinstance(vf, SaturatingMLP):
            # The exponents are checked after the Liouville repair below (circle_columns).
            audit = saturation_audit(vf, pts, period=spec.period)
            pre = jax.vmap(vf.pre_activations)(pts[:-1])
            sampled = jnp.stack(
                [jnp.max(vf.activation_fn.derivative(u)) for u in pre]  # the paper's δ
            )
            out.update(
                delta=audit.delta,
                delta_sampled=sampled,
                zero_crossing=audit.zero_crossing,
                c_w=audit.c_w,
                c_theory=audit.c_theory,
                c_refined=audit.c_refined,
                c_sampled_bound=audit.c_w * jnp.prod(sampled),
                contained=audit.contained,
            )
        else:
            out["contained"] = jnp.asarray(True)
        return out

    return jax.vmap(one)(levels)


def circle_columns(field, parameter, levels, radius, n_points, options) -> list[dict]:
    """The paper's prescribed-circle numbers at every level, as `circle_*` row entries.

    Along `γ(t) = R(cos t, sin t)`: the monodromy's multipliers (`|μ|` ascending, as the paper
    prints them), exponents `ln|μ|/2π`, `∫ tr Df dt`, and over `n_points` circle points
    `C_emp = max ‖Df‖` (the paper's "C(U)"); for an MLP also `δ` (rigorous and sampled), the
    zero-crossing flags, `C_W`, `C_theory`, `C̃` and the bound order `|λ∘| ≤ C_emp ≤ C̃ ≤ C`
    (Grönwall holds along any curve, orbit or not).
    """
    levels = jnp.asarray(levels, jnp.result_type(float))
    b = jax.device_get(_circle_batch(field, parameter, levels, radius, int(n_points), options))
    rows = []
    for i in range(levels.shape[0]):
        mu = np.sort(np.abs(np.asarray(b["multipliers"][i])))
        trace = float(b["trace_integral"][i])
        if not mu[0] > _EIG_RESOLUTION * mu[1]:
            # eig cannot resolve it: |μ1 μ2| = exp ∫ tr Df dt (Liouville) gives the small one.
            mu[0] = math.exp(trace - math.log(mu[1]))
        lam = np.log(mu) / (2 * math.pi)
        c_emp = float(b["c_empirical"][i])
        # Grönwall along any curve: e^{−C_emp T} ≤ |μ| ≤ e^{C_emp T}. ln|μ| carries the
        # integration error (~rtol per unit time; 10·rtol over 2π leaves room), which decides
        # the check once C_emp is that small (deeply saturated levels: C_emp ~ 1e-14).
        slack = 10 * options.rtol / (2 * math.pi)
        exp_ok = bool(np.max(np.abs(lam)) <= c_emp * (1 + _ORDER_SLACK) + slack)
        row = {
            "circle_radius": float(radius),
            "circle_points": int(n_points),
            "circle_multiplier_abs_1": float(mu[0]),
            "circle_multiplier_abs_2": float(mu[1]),
            "circle_exponent_1": float(lam[1]),
            "circle_exponent_2": float(lam[0]),
            "circle_trace_integral": trace,
            "circle_liouville_residual": float(b["liouville_residual"][i]),
            "circle_orbit_gap": float(np.min(np.abs(np.asarray(b["multipliers"][i]) - 1))),
            "circle_c_empirical": float(b["c_empirical"][i]),
            "circle_contained": bool(b["contained"][i]) and exp_ok,
        }
        if "delta" in b:
            for k, d in enumerate(np.asarray(b["delta"][i]), 1):
                row[f"circle_delta_{k}"] = float(d)
                row[f"circle_delta_sampled_{k}"] = float(b["delta_sampled"][i][k - 1])
                row[f"circle_zero_crossing_{k}"] = bool(b["zero_crossing"][i][k - 1])
            for key in ("c_w", "c_theory", "c_refined", "c_sampled_bound"):
                row[f"circle_{key}"] = float(b[key][i])
        rows.append(row)
    return rows


@eqx.filter_jit
def _probe_batch(mlp, parameter, levels, point):
    def one(level):
        vf = at_level(mlp, parameter, level)
        a = saturation_audit(vf, point[None, :])
        return a.delta, a.c_w, a.c_theory, a.c_empirical, a.c_refined

    return jax.vmap(one)(levels)


def probe_columns(mlp, parameter, levels, point) -> list[dict]:
    """At one point `h`: `‖Df(h)‖`, `C̃(h)`, `C_W`, `δ(h)`, `C_W ∏δ(h)` per level (`probe_*`)."""
    levels = jnp.asarray(levels, jnp.result_type(float))
    point = jnp.asarray(point, levels.dtype)
    delta, c_w, c_t, c_e, c_r = jax.device_get(_probe_batch(mlp, parameter, levels, point))
    rows = []
    slack = 1 + 1e-9  # pointwise inequalities: only rounding separates the sides
    for i in range(levels.shape[0]):
        row = {f"probe_x_{j}": float(v) for j, v in enumerate(np.asarray(point), 1)}
        for k, d in enumerate(np.asarray(delta[i]), 1):
            row[f"probe_delta_{k}"] = float(d)
        row.update(
            probe_c_w=float(c_w[i]),
            probe_c_theory=float(c_t[i]),
            probe_c_empirical=float(c_e[i]),
            probe_c_refined=float(c_r[i]),
        )
        refined_ok = np.isnan(c_r[i]) or (c_e[i] <= c_r[i] * slack and c_r[i] <= c_t[i] * slack)
        row["probe_contained"] = bool(c_e[i] <= c_t[i] * slack and refined_ok)
        rows.append(row)
    return rows


def far_from_switching(mlp: SaturatingMLP, radii=(0.5, 2.0, 20), n_angles: int = 10000):
    """The paper's test point for Illustration E: all first-layer pre-activations far from 0.

    Over the grid `r ∈ linspace(r_min, r_max, count)`, `θ = 2πk/n_angles`, the point maximising
    `min_i |(W_1 h + b_1 + c)_i|` (first maximum in r-major order, as the paper's loop).
    """
    r = np.linspace(radii[0], radii[1], int(radii[2]))
    theta = np.linspace(0.0, 2 * np.pi, int(n_angles), endpoint=False)
    pts = (r[:, None, None] * np.stack([np.cos(theta), np.sin(theta)], -1)[None]).reshape(-1, 2)
    w1 = np.asarray(mlp.weights[0])
    pre = pts @ w1.T + np.asarray(mlp.biases[0]) + float(mlp.shift)
    return pts[int(np.argmax(np.min(np.abs(pre), axis=1)))]


# --------------------------------------------------------------------------------------------
# Orbit-derived extras: C_emp on a system's orbit, phase portraits
# --------------------------------------------------------------------------------------------


def _orbits_from_rows(rows, dim):
    y0 = np.array([[r.get(f"orbit_y0_{j}", np.nan) for j in range(1, dim + 1)] for r in rows])
    period = np.array([float(r.get("period", np.nan)) for r in rows])
    ok = np.array([r.get("status") == "ok" for r in rows]) & np.isfinite(period)
    return jnp.asarray(np.where(ok[:, None], y0, 0.0)), jnp.asarray(np.where(ok, period, 1.0)), ok


@eqx.filter_jit
def _system_orbit_norms(field, parameter, levels, y0, period, n, options):
    def one(level, y, t):
        vf = at_level(field, parameter, level)
        zero = jnp.zeros((), jnp.int32)
        orbit = PeriodicOrbit(y, t, jnp.zeros_like(t), zero, zero, RESULTS.successful)
        pts = sample_orbit(vf, orbit, n=n, options=options)
        return jnp.max(jax.vmap(lambda p: jnp.linalg.norm(_jacobian(vf, p), ord=2))(pts))

    return jax.vmap(one)(levels, y0, period)


def system_orbit_columns(field, parameter, rows, n, options) -> list[dict]:
    """`C_emp` and the rotation ratio on the true orbit of a system (the MLP audit's analogue)."""
    dim = int(field.dim)
    y0, period, ok = _orbits_from_rows(rows, dim)
    levels = jnp.asarray([r["level"] for r in rows], jnp.result_type(float))
    c = np.asarray(_system_orbit_norms(field, parameter, levels, y0, period, int(n), options))
    out = []
    for i, row in enumerate(rows):
        ce = float(c[i]) if ok[i] else float("nan")
        lam = max(abs(float(row.get(f"exponent_{j}", 0.0))) for j in range(1, dim + 1))
        out.append(
            {
                "c_empirical": ce,
                "rotation_ratio": ce * float(row["period"]) / (2 * np.pi) if ok[i] else np.nan,
                "contained": bool(lam <= ce * (1 + 1e-9)) if ok[i] else float("nan"),
            }
        )
    return out


@eqx.filter_jit
def _trajectories(vf, starts, t_end, n_save, options):
    ts = jnp.linspace(0.0, t_end, n_save)
    from diffrax import SaveAt

    return jax.vmap(lambda y: integrate(vf, y, t_end, options=options, saveat=SaveAt(ts=ts)).ys)(
        starts
    )


def portrait_data(field, parameter, level, t_end, options, *, n_save=1500):
    """Trajectories of the field at `level` from the paper's 8 angles × 4 radii starts."""
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    radii = [0.3, 0.7, 1.3, 1.8]
    starts = np.array([[r * np.cos(a), r * np.sin(a)] for a in angles for r in radii])
    vf = at_level(field, parameter, level)
    ys = _trajectories(vf, jnp.asarray(starts), float(t_end), n_save, options)
    return starts, np.asarray(ys)


@eqx.filter_jit
def _orbit_points(vf, y0, period, n, options):
    zero = jnp.zeros((), jnp.int32)
    orbit = PeriodicOrbit(y0, period, jnp.zeros_like(period), zero, zero, RESULTS.successful)
    return sample_orbit(vf, orbit, n=n, options=options)


def orbit_points(field, parameter, row, options, n=801):
    """Points of the true orbit of a result row (`None` if the row found none)."""
    dim = int(field.dim)
    if row.get("status") != "ok":
        return None
    y0 = jnp.asarray([row[f"orbit_y0_{j}"] for j in range(1, dim + 1)], jnp.result_type(float))
    vf = at_level(field, parameter, row["level"])
    return np.asarray(_orbit_points(vf, y0, jnp.asarray(float(row["period"])), n, options))


# --------------------------------------------------------------------------------------------
# Running a study
# --------------------------------------------------------------------------------------------


def _member(config, out_dir, *, network=None, fit=None, sweep=None, levels=None):
    """A plain sweep config for one member of a study (no [paper]/[grid]: run_config's input)."""
    raw = copy.deepcopy(config.raw)
    raw.pop("paper", None)
    raw.pop("grid", None)
    net = dict(config.network) if config.network is not None else None
    if network is not None:
        net.update(network)
        raw["network"] = {k: v for k, v in net.items() if v is not None}
    sw = dict(config.sweep)
    if sweep is not None:
        sw.update(sweep)
        raw["sweep"] = dict(raw["sweep"], **sweep)
    if levels is not None:
        raw["sweep"]["levels"] = list(levels)
    return dataclasses.replace(
        config,
        raw=raw,
        network=net,
        fit=fit if network is None else None,
        sweep=sw,
        levels=list(levels) if levels is not None else config.levels,
        paper=None,
        grid=None,
    )


def _fit_once(config: SweepConfig, fit: dict, path: Path) -> tuple[SaturatingMLP, float]:
    """Fit (or reuse, when a previous run of the same fit left it) the study's network."""
    digest = json.dumps(fit, sort_keys=True, default=str)
    marker = path.with_suffix(".fit.json")
    if path.exists() and marker.exists() and marker.read_text() == digest:
        return load_mlp(path), 0.0
    t0 = time.perf_counter()
    mlp = fit_network(fit, config.path)
    jax.block_until_ready(mlp)
    elapsed = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    save_mlp(path, mlp)
    marker.write_text(digest)
    return mlp, elapsed


def _network_of(config: SweepConfig) -> SaturatingMLP:
    from ._runner import build_field

    field, _ = build_field(config)
    return field


def _extras(config, member, field, rows, timings):
    """The prescribed-circle and probe columns (and a system's orbit C_emp) for one member."""
    paper = config.paper or {}
    options = flow_options(config.solver)
    parameter = member.sweep["parameter"]
    levels = [r["level"] for r in rows]
    t0 = time.perf_counter()
    extra = [dict() for _ in rows]
    if paper.get("circle_radius") is not None:
        for e, c in zip(
            extra,
            circle_columns(
                field, parameter, levels, paper["circle_radius"], paper["circle_points"], options
            ),
            strict=True,
        ):
            e.update(c)
    point = None
    if paper.get("probe") is not None:
        point = paper["probe"][0]
    elif paper.get("probe_select") == "far_from_switching":
        point = far_from_switching(field, paper["probe_radii"], paper["probe_angles"])
    if point is not None and isinstance(field, SaturatingMLP):
        for e, p in zip(extra, probe_columns(field, parameter, levels, point), strict=True):
            e.update(p)
    if not isinstance(field, SaturatingMLP):
        cols = system_orbit_columns(field, parameter, rows, member.sweep["n_samples"], options)
        for e, c in zip(extra, cols, strict=True):
            e.update(c)
    timings["extras"] = timings.get("extras", 0.0) + time.perf_counter() - t0
    return [dict(r, **e) for r, e in zip(rows, extra, strict=True)]


def _members(config: SweepConfig, out_dir: Path, timings: dict):
    """Yield `(labels, member_config)` for every sweep of the study, fitting networks once."""
    paper = config.paper or {}
    if config.grid is not None:
        grid = config.grid
        axes = {k: grid[k] for k in ("depth", "activation", "width") if grid[k] is not None}
        for combo in itertools.product(*axes.values()):
            labels = dict(zip(axes, combo, strict=True))
            fit = dict(config.fit, **labels)
            slug = "-".join(f"{k}{v}" for k, v in labels.items())
            file = out_dir / "networks" / f"{slug}.npz"
            _, elapsed = _fit_once(config, fit, file)
            timings["fit"] = timings.get("fit", 0.0) + elapsed
            for kind in grid["saturation"]:
                member = _member(
                    config,
                    out_dir,
                    network={"file": str(file.resolve())},
                    sweep={"parameter": kind},
                    levels=grid[f"{kind}_levels"],
                )
                yield dict(labels, saturation=kind), member, f"{slug}-{kind}"
        return
    network = None
    if config.fit is not None:
        file = out_dir / "network.npz"
        _, elapsed = _fit_once(config, config.fit, file)
        timings["fit"] = timings.get("fit", 0.0) + elapsed
        network = {"file": str(file.resolve())}
    if paper.get("series_parameter") is None:
        yield {}, _member(config, out_dir, network=network, fit=config.fit), "sweep"
        return
    base = _member(config, out_dir, network=network)
    mlp = _network_of(base)
    unit = 1.0
    if paper["series_unit"] == "w1_max_row_norm":
        unit = float(np.max(np.linalg.norm(np.asarray(mlp.weights[0]), axis=1)))
    name = paper["series_parameter"]
    for k, value in enumerate(paper["series_values"]):
        member = _member(config, out_dir, network=dict(network or {}, **{name: value * unit}))
        yield {f"series_{name}": value * unit, "series_multiple": value}, member, f"series_{k}"


def run_study(config: SweepConfig, out_dir, *, progress=True) -> list[dict]:
    """Run a config with a `[paper]` or `[grid]` section into `out_dir` (see the module doc).

    **Returns:** all rows (one dict per member and level, both column sets).

    **Raises:** `InputError` as `run_config` does, naming the file and key.
    """
    from ._paper_report import write_study

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    timings: dict = {}
    rows: list[dict] = []
    members = []
    for labels, member, name in _members(config, out_dir, timings):
        t0 = time.perf_counter()
        sub_rows = run_config(member, out_dir / "runs" / name, progress=progress)
        timings["sweeps"] = timings.get("sweeps", 0.0) + time.perf_counter() - t0
        field = _network_of(member) if member.network is not None else None
        if field is None:
            from ._runner import build_field

            field, _ = build_field(member)
        sub_rows = _extras(config, member, field, sub_rows, timings)
        rows += [dict(labels, member=name, **r) for r in sub_rows]
        members.append((labels, member, name, field))
    t0 = time.perf_counter()
    figures = write_study(config, members, rows, out_dir)
    timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    study = {
        "config_file": config.path,
        "config_digest": config_digest(config),
        "illustration": (config.paper or {}).get("illustration"),
        "members": [name for _, _, name, _ in members],
        "rows": len(rows),
        "statuses": {s: sum(r["status"] == s for r in rows) for s in {r["status"] for r in rows}},
        "timings_s": timings,
        "figures": figures,
    }
    (out_dir / "study.json").write_text(json.dumps(study, indent=2, default=str))
    return rows


def collect_grid(config: SweepConfig, out_dir) -> list[dict]:
    """Tables and summary of a `[grid]` study from the members that have finished so far.

    For a study stopped part-way (`run_study` resumes it; this only reports): reads each
    complete member's `runs/<member>/results.csv` and writes `paper.csv`, `tables.md` and
    `summary.csv`, listing the members still missing.

    **Returns:** the rows of the finished members.
    """
    from ._paper_report import write_study
    from ._runner import _read_csv

    out_dir = Path(out_dir)
    grid = config.grid
    axes = {k: grid[k] for k in ("depth", "activation", "width") if grid[k] is not None}
    rows, missing = [], []
    for combo in itertools.product(*axes.values()):
        labels = dict(zip(axes, combo, strict=True))
        slug = "-".join(f"{k}{v}" for k, v in labels.items())
        for kind in grid["saturation"]:
            name = f"{slug}-{kind}"
            run = out_dir / "runs" / name
            done = run / "manifest.json"
            if not done.exists():
                missing.append(name)
                continue
            rows += [
                dict(labels, saturation=kind, member=name, **r)
                for r in _read_csv(run / "results.csv")
            ]
    write_study(config, [], rows, out_dir)
    if missing:
        with open(out_dir / "tables.md", "a", encoding="utf-8") as f:
            f.write(f"\n*Not run (study stopped before them): {', '.join(missing)}.*\n")
    return rows
