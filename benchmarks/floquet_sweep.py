"""Benchmark: Floquet sweeps, satode against a scipy loop and JaxCont, side by side.

Problems (`--problem`):

- `mlp` (default): the quickstart network (`configs/quickstart.toml`: a 2-D, 64-unit tanh MLP with
    a frozen bias shift of 2.5, fitted to Stuart-Landau), swept over `N` gains evenly spaced in
    [1, 1.2], where it keeps a stable limit cycle (period ~6.6-10), from `y0 = (1, 0)`.
- `morris-lecar`: Morris-Lecar (`hopf` preset) over `N` applied currents in [95, 115] uA/cm^2
    (period ~90-110 ms), from `y0 = (20, 0)`.

At every level each side finds the field's own periodic orbit and its Floquet exponents, at the
same integration tolerances (rtol 1e-10, atol 1e-12, 8th-order Dormand-Prince, float64):

- satode: one call of `satode.sweep` (strands of levels continued in parallel, see `_sweep.py`).
- scipy: the loop a careful researcher would write: `solve_ivp(method="DOP853")`, a Poincare
    section located with `events` for the first level, Newton shooting on `(y0, T)` with a phase
    condition warm-started from the previous level, the variational equation (state, 2x2 `Phi`
    and `int tr Df`) integrated with the analytic numpy Jacobian, and the non-trivial exponent
    from the Liouville identity `lambda = (1/T) int_0^T tr Df dt` (as satode reports it in 2-D).
- JaxCont (`jaxcont.problems.periodic.periodic_orbit_problem` on a
    `jaxcont.core.collocation.Collocation(20, 5)` mesh, `jaxcont.stability.floquet.
    floquet_multipliers`, batched with `jax.lax.map(..., batch_size=64)`): JaxCont has no
    integrator, so each level gets a guess trajectory (one lap, 200 points, and its period)
    integrated here with diffrax at rtol 1e-8 from `y0` (untimed: JaxCont's time is its own work
    only, which favours it).

Times are run time after compilation for the whole batch (best of `--repeats`); `compile_s` is
satode's first call minus its run time. Accuracy: `max_abs_exponent_diff` is satode vs scipy,
`jaxcont_max_abs_exponent_diff` JaxCont vs scipy, over the levels both found.

Usage:

    python benchmarks/floquet_sweep.py --levels 1024 [--json] [--problem mlp|morris-lecar]
        [--peers scipy,jaxcont|none] [--dtype float64|float32] [--unrolled] [--repeats 3]
        [--chunk-size C] [--scipy-levels M] [--jaxcont-levels M] [--out DIR]

For timings, pin to one core and one XLA thread (see `benchmarks/README.md`).
"""

import os  # noqa: E402
import sys  # noqa: E402

import jax


# Float64 before satode builds any array: multipliers like e^{-4pi} need it (SCIENCE.md 6).
jax.config.update("jax_enable_x64", True)

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import diffrax  # noqa: E402
import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import satode  # noqa: E402
from satode import systems  # noqa: E402


ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache" / "quickstart_network.npz"
RTOL, ATOL = 1e-10, 1e-12
# float32 cannot reach rtol 1e-10: its run uses the tightest tolerances float32 holds (the
# unit roundoff is 6e-8) and Newton tolerances to match.
RTOL32, ATOL32 = 1e-6, 1e-8
SHOOTING32 = satode.Shooting(rtol=1e-5, atol=1e-5, closure_tol=1e-4)
# Orbit samples satode takes for its saturation audit; the peers do no audit, so keep it small
# to compare the orbit + Floquet work.
N_SAMPLES = 257
# By default the scipy loop times at most this many levels (the first ones); beyond that its
# cost per orbit is extrapolated to N (flagged in the record).
SCIPY_MAX_LEVELS = 256
JAXCONT_MAX_LEVELS = 1024
# Newton shooting, as satode's defaults: at most 12 steps, accept a closure of 1e-8 (relative
# to max(1, |y|)). Stop once the residual is below 1e-10: converged Newton reaches ~1e-12 here,
# so this is met at once while staying far above the integration error at rtol 1e-10.
NEWTON_MAX_STEPS = 12
NEWTON_STOP = 1e-10
CLOSURE_TOL = 1e-8
# Damping: a step may move the point by at most 0.3*scale and the period by at most half.
# Undamped Newton diverges on coarse level grids (a 30% period change between neighbours).
MAX_STEP_Y, MAX_STEP_T = 0.3, 0.5
# JaxCont: the mesh the issue found it needs for 1e-6 on these networks, its batch size, and the
# guess trajectory it is handed (points on one lap).
JAXCONT_MESH = (20, 5)
JAXCONT_BATCH = 64
GUESS_POINTS = 200


# ----------------------------------------------------------------------------------------------
# The problems


def quickstart_network(path: Path | None) -> satode.SaturatingMLP:
    """The benchmark network: `path` if given, else the quickstart fit (cached after the first).

    The fit is exactly `configs/quickstart.toml`'s `[network.fit]`, run by satode itself
    (float64, as the CLI runs it), so it is the network `make demo` sweeps.
    """
    if path is not None:
        return satode.load_mlp(path)
    if not CACHE.exists():
        from satode._config import load_config
        from satode._runner import fit_network

        config = load_config(ROOT / "configs" / "quickstart.toml")
        mlp = fit_network(config.fit, config.path)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        satode.save_mlp(CACHE, mlp)
    return satode.load_mlp(CACHE)


class NumpyMLP:
    """`f(y) = W_L tanh(s (W_{L-1} ... tanh(s (W_1 y + b_1 + c)) ... + b_{L-1} + c)) + b_L` and its
    Jacobian `Df = W_L D_{L-1} (s W_{L-1}) ... D_1 (s W_1)`, `D_k = diag(1 - tanh^2(u_k))`."""

    def __init__(self, mlp: satode.SaturatingMLP):
        if mlp.activation != "tanh" or mlp.dim != 2:
            raise ValueError("the scipy reference handles planar tanh networks only")
        self.weights = [np.asarray(w, dtype=np.float64) for w in mlp.weights]
        self.biases = [np.asarray(b, dtype=np.float64) for b in mlp.biases]
        self.shift = float(mlp.shift)

    def field(self, y, gain):
        a = y
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            a = np.tanh(gain * (w @ a + b + self.shift))
        return self.weights[-1] @ a + self.biases[-1]

    def field_and_jacobian(self, y, gain):
        a, jac = y, np.eye(y.size)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            a = np.tanh(gain * (w @ a + b + self.shift))
            jac = (1.0 - a * a)[:, None] * (gain * w @ jac)
        return self.weights[-1] @ a + self.biases[-1], self.weights[-1] @ jac


class NumpyMorrisLecar:
    """Morris-Lecar (`hopf` preset) in numpy, with its analytic Jacobian; the level is `I`."""

    def __init__(self, system: systems.MorrisLecar):
        for name in system.param_names:
            setattr(self, name, float(getattr(system, name)))

    def field(self, y, current):
        return self.field_and_jacobian(y, current)[0]

    def field_and_jacobian(self, y, current):
        V, w = y
        tm, tw = np.tanh((V - self.V1) / self.V2), np.tanh((V - self.V3) / self.V4)
        m, winf = 0.5 * (1 + tm), 0.5 * (1 + tw)
        dm, dwinf = 0.5 * (1 - tm * tm) / self.V2, 0.5 * (1 - tw * tw) / self.V4
        x = (V - self.V3) / (2 * self.V4)
        ch, sh = np.cosh(x), np.sinh(x)
        i_ion = (
            self.g_L * (V - self.V_L)
            + self.g_Ca * m * (V - self.V_Ca)
            + self.g_K * w * (V - self.V_K)
        )
        f = np.array([(current - i_ion) / self.C, self.phi * (winf - w) * ch])
        jac = np.array(
            [
                [
                    -(self.g_L + self.g_Ca * (dm * (V - self.V_Ca) + m) + self.g_K * w) / self.C,
                    -self.g_K * (V - self.V_K) / self.C,
                ],
                [
                    self.phi * (dwinf * ch + (winf - w) * sh / (2 * self.V4)),
                    -self.phi * ch,
                ],
            ]
        )
        return f, jac


class Problem:
    """A field swept over one parameter: satode's Module, the numpy twin, JaxCont's `f(u, p)`."""

    def __init__(self, name: str, network: Path | None = None):
        self.name = name
        if name == "mlp":
            self.field = quickstart_network(network)
            self.parameter, self.range, self.y0 = "gain", (1.0, 1.2), (1.0, 0.0)
            self.numpy = NumpyMLP(self.field)
            self.guess_time = 60.0  # ~6-9 laps: the cycle attracts at exponent ~ -1.4
            self.source = str(network) if network is not None else str(CACHE.relative_to(ROOT))
        elif name == "morris-lecar":
            self.field = systems.MorrisLecar()
            self.parameter, self.range, self.y0 = "current", (95.0, 115.0), (20.0, 0.0)
            self.numpy = NumpyMorrisLecar(self.field)
            self.guess_time = 1500.0  # ~15 laps
            self.source = "satode.systems.MorrisLecar() (hopf preset)"
        else:
            raise ValueError(f"--problem: expected 'mlp' or 'morris-lecar', got {name!r}")

    def levels(self, n: int, *, midpoints: bool = False) -> np.ndarray:
        """`n` levels evenly spaced in the range; `midpoints` gives a different set of the same
        size (the centres of `n` equal bins), so timed repeats never see the first call's input."""
        lo, hi = self.range
        if midpoints:
            return lo + (hi - lo) * (np.arange(n) + 0.5) / n
        return np.linspace(lo, hi, n)

    def jax_f(self, u, p, args=None):
        return satode.at_level(self.field, self.parameter, p)(0.0, u)


# ----------------------------------------------------------------------------------------------
# The scipy loop (numpy/scipy only)


def _solve(rhs, t_span, z0, **kwargs):
    return solve_ivp(rhs, t_span, z0, method="DOP853", rtol=RTOL, atol=ATOL, **kwargs)


def variational_flow(net, level, y0, period):
    """`phi_T(y0)`, `M = Phi(T)` and `int_0^T tr Df dt`, integrated together under error control."""
    d = y0.size

    def rhs(t, z):
        f, jac = net.field_and_jacobian(z[:d], level)
        phi = z[d : d + d * d].reshape(d, d)
        return np.concatenate([f, (jac @ phi).ravel(), [np.trace(jac)]])

    z = _solve(rhs, (0.0, period), np.concatenate([y0, np.eye(d).ravel(), [0.0]])).y[:, -1]
    return z[:d], z[d : d + d * d].reshape(d, d), z[-1]


def poincare_search(net, level, y0, max_laps: int = 60):
    """A point near the cycle reached from `y0`, and a period estimate (or `None`).

    The section is the line through `y0` normal to `f(y0)`; its crossings are located by
    `events` while the trajectory is integrated in windows of three estimated laps, until two
    consecutive crossings agree to 1e-3 (satode's return-map tolerance) or `max_laps` elapse.
    """
    f0 = net.field(y0, level)
    lap = 2 * np.pi * max(1.0, np.max(np.abs(y0))) / np.linalg.norm(f0)

    def section(t, y):
        return (y - y0) @ f0

    section.direction = 1.0
    times, points = [], []
    t, y = 0.0, y0
    while t < max_laps * lap:
        sol = _solve(lambda t, y: net.field(y, level), (t, t + 3 * lap), y, events=section)
        times += list(sol.t_events[0])
        points += list(sol.y_events[0])
        t, y = sol.t[-1], sol.y[:, -1]
        if len(times) >= 2 and np.max(np.abs(points[-1] - points[-2])) <= 1e-3 * max(
            1.0, np.max(np.abs(points[-1]))
        ):
            return points[-1], times[-1] - times[-2]
    return None


def shoot(net, level, y, period):
    """Newton on `phi_T(y) = y`, `(y - y_ref).f(y_ref) = 0`; returns `(y, T, lambda)` or `None`.

    The Newton matrix is `[[M - I, f(phi_T(y))], [f(y_ref)^T, 0]]`, `M` from the variational
    equation; steps are damped (`MAX_STEP_Y`, `MAX_STEP_T`); the exponent comes from the last
    (converged) solve.
    """
    d = y.size
    y_ref, normal = y.copy(), net.field(y, level)
    scale = max(1.0, np.max(np.abs(y)))
    for _ in range(NEWTON_MAX_STEPS + 1):
        end, mono, trace = variational_flow(net, level, y, period)
        residual = np.append(end - y, (y - y_ref) @ normal)
        if np.max(np.abs(residual)) <= NEWTON_STOP * scale:
            break
        newton = np.block([[mono - np.eye(d), net.field(end, level)[:, None]], [normal, 0.0]])
        step = np.linalg.solve(newton, -residual)
        damping = min(
            1.0,
            MAX_STEP_Y * scale / max(np.max(np.abs(step[:d])), 1e-300),
            MAX_STEP_T * period / max(abs(step[d]), 1e-300),
        )
        y, period = y + damping * step[:d], period + damping * step[d]
        if not (np.all(np.isfinite(y)) and period > 0):
            return None
    if np.max(np.abs(end - y)) > CLOSURE_TOL * scale:
        return None
    return y, period, trace / period


def scipy_sweep(net, levels, y0):
    """Periods and exponents (largest first; NaN where no orbit) over `levels`, warm-started."""
    periods = np.full(len(levels), np.nan)
    exponents = np.full((len(levels), 2), np.nan)
    guess = None
    for i, level in enumerate(levels):
        orbit = shoot(net, level, *guess) if guess is not None else None
        if orbit is None:  # the first level, or the warm start failed: search from scratch
            start = poincare_search(net, level, y0 if guess is None else guess[0])
            orbit = shoot(net, level, *start) if start is not None else None
        if orbit is not None:
            y, period, exponent = orbit
            guess = (y, period)
            periods[i] = period
            # The trivial exponent is 0; satode reports it as exactly 0 too.
            exponents[i] = sorted([0.0, exponent], reverse=True)
    return periods, exponents


# ----------------------------------------------------------------------------------------------
# JaxCont


def jaxcont_guesses(problem: Problem, levels: np.ndarray):
    """One lap of the trajectory from `y0` at every level (JaxCont's required guess).

    diffrax (Dopri5, rtol 1e-8) integrates `guess_time` from `y0`; on the host, the last two
    upward crossings of the first coordinate through its mid-range give the period and the lap,
    resampled to `GUESS_POINTS` points. Levels without two crossings get NaN (JaxCont skips them).
    """
    n_save = 4000
    options = satode.FlowOptions(solver=diffrax.Dopri5(), rtol=1e-8, atol=1e-10)
    ts = jnp.linspace(0.0, problem.guess_time, n_save)

    @jax.jit
    def trajectories(ps):
        def one(p):
            vf = satode.at_level(problem.field, problem.parameter, p)
            return satode.integrate(
                vf, jnp.asarray(problem.y0), ts[-1], options=options, saveat=diffrax.SaveAt(ts=ts)
            ).ys

        return jax.lax.map(one, ps, batch_size=256)

    ys = np.asarray(trajectories(jnp.asarray(levels)))
    t = np.asarray(ts)
    u = np.full((len(levels), GUESS_POINTS, 2), np.nan)
    tt = np.full((len(levels), GUESS_POINTS), np.nan)
    period = np.full(len(levels), np.nan)
    for i, y in enumerate(ys):
        x = y[n_save // 2 :, 0]
        mid = 0.5 * (x.min() + x.max())
        up = np.flatnonzero((x[:-1] < mid) & (x[1:] >= mid)) + n_save // 2
        if len(up) < 2:
            continue
        a, b = up[-2], up[-1]
        frac = lambda k, y=y, mid=mid: (mid - y[k, 0]) / (y[k + 1, 0] - y[k, 0])  # noqa: E731
        t0 = t[a] + frac(a) * (t[a + 1] - t[a])
        t1 = t[b] + frac(b) * (t[b + 1] - t[b])
        grid = np.linspace(t0, t1, GUESS_POINTS)
        u[i] = np.stack([np.interp(grid, t, y[:, c]) for c in range(2)], axis=1)
        tt[i] = grid - t0
        period[i] = t1 - t0
    return u, tt, period


def jaxcont_solver(problem: Problem):
    """A jitted `(levels, u, t, T0) -> (periods, multipliers)` over the whole batch."""
    from jaxcont.core.collocation import Collocation
    from jaxcont.problems.periodic import periodic_orbit_problem
    from jaxcont.stability.floquet import floquet_multipliers

    mesh = Collocation(*JAXCONT_MESH)

    def one(args):
        p, u, t, period0 = args
        prob = periodic_orbit_problem(problem.jax_f, u, t, period0, p, mesh)
        mults = floquet_multipliers(problem.jax_f, mesh, prob.u0, p)
        return prob.u0[-1], mults

    @jax.jit
    def solve(ps, us, ts, periods):
        return jax.lax.map(one, (ps, us, ts, periods), batch_size=JAXCONT_BATCH)

    return solve


def jaxcont_exponents(periods, multipliers):
    """`(0, ln|mu_2|/T)` with the trivial multiplier the one closest to 1."""
    mults = np.asarray(multipliers)
    trivial = np.argmin(np.abs(mults - 1), axis=1)
    other = np.take_along_axis(mults, (1 - trivial)[:, None], axis=1)[:, 0]
    lam = np.log(np.abs(other)) / np.asarray(periods)
    return np.sort(np.stack([np.zeros_like(lam), lam], axis=1), axis=1)[:, ::-1]


# ----------------------------------------------------------------------------------------------
# Timing and comparison


def run_satode(problem: Problem, levels, chunk_size, dtype, unrolled=False):
    field, y0 = problem.field, jnp.asarray(problem.y0)
    solver = satode.Unrolled(diffrax.Dopri8()) if unrolled else diffrax.Dopri8()
    options = satode.FlowOptions(solver=solver, rtol=RTOL, atol=ATOL)
    shooting = satode.Shooting()
    if dtype == "float32":
        field = jax.tree.map(
            lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, field
        )
        y0 = y0.astype(jnp.float32)
        # Dopri5: Dopri8's error estimate is rounding-dominated in float32 (satode.FlowOptions).
        options = satode.FlowOptions(solver=diffrax.Dopri5(), rtol=RTOL32, atol=ATOL32)
        shooting = SHOOTING32
    result = satode.sweep(
        field,
        jnp.asarray(levels, y0.dtype),
        y0,
        parameter=problem.parameter,
        chunk_size=chunk_size,
        n_samples=N_SAMPLES,
        options=options,
        shooting=shooting,
    )
    return jax.block_until_ready(result)


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _cpu_timed(fn, *args):  # noqa: D401
    """Wall and process CPU seconds (on a loaded shared machine the CPU time is the steadier)."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def _git_revision():
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return out.stdout.strip(), bool(dirty.stdout.strip())


def _max_or_none(x):
    x = np.asarray(x)
    return float(np.max(x)) if x.size else None


def _range(x):
    x = np.asarray(x)
    return [float(np.min(x)), float(np.max(x))] if x.size else None


def _versions():
    out = {
        "satode": satode.__version__,
        "jax": jax.__version__,
        "diffrax": diffrax.__version__,
        "equinox": eqx.__version__,
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    try:
        import jaxcont

        out["jaxcont"] = getattr(jaxcont, "__version__", "unknown")
    except ImportError:
        out["jaxcont"] = None
    return out


def benchmark(
    n: int,
    problem: str = "mlp",
    network: Path | None = None,
    repeats: int = 3,
    chunk_size: int | None = None,
    scipy_levels: int = SCIPY_MAX_LEVELS,
    jaxcont_levels: int = JAXCONT_MAX_LEVELS,
    peers: tuple[str, ...] = ("scipy", "jaxcont"),
    dtype: str = "float64",
    unrolled: bool = False,
) -> dict:
    """Run satode and the peers on `n` levels and return the record (the JSON object)."""
    prob = Problem(problem, network)
    run_satode_ = functools.partial(run_satode, unrolled=unrolled)
    # The first call (compile + run) sees one set of levels; the timed calls and the peers
    # another set of the same size, so that nothing computed by the first call is reused.
    levels = prob.levels(n, midpoints=True)
    if repeats == 0:  # one call only (big memory runs): its time includes the compilation
        result, first_s, first_cpu = _cpu_timed(run_satode_, prob, levels, chunk_size, dtype)
        runs, cpu = [first_s], [first_cpu]
    else:
        _, first_s, first_cpu = _cpu_timed(run_satode_, prob, prob.levels(n), chunk_size, dtype)
        runs, cpu = [], []
    for _ in range(repeats):
        result, seconds, cpu_s = _cpu_timed(run_satode_, prob, levels, chunk_size, dtype)
        runs.append(seconds)
        cpu.append(cpu_s)
    satode_s = min(runs)
    a = result.analysis
    sat_ok = np.asarray(a.result._value) == satode.RESULTS.successful._value
    sat_periods = np.asarray(a.orbit.period, np.float64)
    sat_exponents = np.asarray(a.spectrum.exponents, np.float64)
    record = {
        "problem": problem,
        "levels": n,
        "level_range": list(prob.range),
        "parameter": prob.parameter,
        "levels_timed": "centres of N equal bins of the range (first call: np.linspace)",
        "satode_s": satode_s,
        "satode_runs_s": runs,
        "satode_first_call_s": first_s,
        "compile_s": first_s - satode_s,
        "compile_cpu_s": first_cpu - min(cpu),
        "satode_cpu_s": min(cpu),
        "satode_ms_per_orbit": 1e3 * satode_s / n,
        "satode_cpu_ms_per_orbit": 1e3 * min(cpu) / n,
        "satode_failed_levels": int(np.sum(~sat_ok)),
        "satode_failed_levels_values": [float(g) for g in levels[~sat_ok]][:20],
        "satode_solves_mean": float(np.mean(np.asarray(result.solves)[sat_ok]))
        if sat_ok.any()
        else None,
        "satode_solves_max": int(np.max(np.asarray(result.solves))),
        "period_range": _range(sat_periods[sat_ok]),
        "exponent_range": _range(sat_exponents[sat_ok, -1]),
        "satode_trivial_multiplier_error_max": _max_or_none(
            np.asarray(a.spectrum.trivial_multiplier_error, np.float64)[sat_ok]
        ),
        "scipy_s": None,
        "jaxcont_s": None,
        "max_abs_exponent_diff": None,
    }
    if dtype == "float32":
        # The accuracy cost of float32: against satode's own float64 run on the same levels.
        ref = run_satode(prob, levels, chunk_size, "float64")
        ref_ok = np.asarray(ref.analysis.result._value) == 0
        both = sat_ok & ref_ok
        ref_exp = np.asarray(ref.analysis.spectrum.exponents)
        ref_T = np.asarray(ref.analysis.orbit.period)
        record["float32_vs_float64_max_abs_exponent_diff"] = _max_or_none(
            np.abs(sat_exponents[both] - ref_exp[both])
        )
        record["float32_vs_float64_max_rel_period_diff"] = _max_or_none(
            np.abs(sat_periods[both] - ref_T[both]) / ref_T[both]
        )
        record["float32_vs_float64_compared_levels"] = int(np.sum(both))
    if "scipy" in peers:
        n_scipy = min(n, scipy_levels)
        (periods, exponents), scipy_timed_s, scipy_cpu = _cpu_timed(
            scipy_sweep, prob.numpy, levels[:n_scipy], np.asarray(prob.y0)
        )
        both = sat_ok[:n_scipy] & np.isfinite(periods)
        exp_diff = np.abs(sat_exponents[:n_scipy][both] - exponents[both])
        period_diff = np.abs(sat_periods[:n_scipy][both] - periods[both]) / periods[both]
        record.update(
            scipy_s=scipy_timed_s * n / n_scipy,
            scipy_levels_timed=n_scipy,
            scipy_timed_s=scipy_timed_s,
            scipy_extrapolated=n_scipy < n,
            scipy_ms_per_orbit=1e3 * scipy_timed_s / n_scipy,
            scipy_failed_levels=int(np.sum(~np.isfinite(periods))),
            compared_levels=int(np.sum(both)),
            max_abs_exponent_diff=_max_or_none(exp_diff),
            max_rel_period_diff=_max_or_none(period_diff),
            ratio_scipy=scipy_timed_s / n_scipy * n / satode_s,
            scipy_cpu_ms_per_orbit=1e3 * scipy_cpu / n_scipy,
            ratio_scipy_cpu=scipy_cpu / n_scipy * n / min(cpu),
        )
        scipy_ref = (periods, exponents, n_scipy)
    if "jaxcont" in peers:
        try:
            import jaxcont  # noqa: F401
        except ImportError:
            record["jaxcont_note"] = "jaxcont is not installed (pip install '.[bench]')"
        else:
            n_jc = min(n, jaxcont_levels)
            u, tt, t0 = jaxcont_guesses(prob, levels[:n_jc])
            have = np.isfinite(t0)
            solve = jaxcont_solver(prob)
            args = (
                jnp.asarray(levels[:n_jc][have]),
                jnp.asarray(u[have]),
                jnp.asarray(tt[have]),
                jnp.asarray(t0[have]),
            )
            first_args = (jnp.asarray(prob.levels(n_jc)[have]),) + args[1:]
            _, jc_first = _timed(lambda: jax.block_until_ready(solve(*first_args)))
            jc_runs, jc_cpu = [], []
            for _ in range(max(1, min(repeats, 2))):
                (jc_T, jc_mu), s, c = _cpu_timed(lambda: jax.block_until_ready(solve(*args)))
                jc_runs.append(s)
                jc_cpu.append(c)
            jc_s = min(jc_runs)
            jc_exp = np.full((n_jc, 2), np.nan)
            jc_per = np.full(n_jc, np.nan)
            jc_exp[have] = jaxcont_exponents(jc_T, jc_mu)
            jc_per[have] = np.asarray(jc_T)
            record.update(
                jaxcont_s=jc_s * n / n_jc,
                jaxcont_levels_timed=n_jc,
                jaxcont_timed_s=jc_s,
                jaxcont_extrapolated=n_jc < n,
                jaxcont_ms_per_orbit=1e3 * jc_s / n_jc,
                jaxcont_compile_s=jc_first - jc_s,
                jaxcont_levels_without_guess=int(np.sum(~have)),
                jaxcont_mesh=list(JAXCONT_MESH),
                ratio_jaxcont=jc_s / n_jc * n / satode_s,
                jaxcont_cpu_ms_per_orbit=1e3 * min(jc_cpu) / n_jc,
                ratio_jaxcont_cpu=min(jc_cpu) / n_jc * n / min(cpu),
            )
            if "scipy" in peers:
                periods, exponents, n_scipy = scipy_ref
                m = min(n_scipy, n_jc)
                both = np.isfinite(periods[:m]) & np.isfinite(jc_per[:m])
                record["jaxcont_max_abs_exponent_diff"] = _max_or_none(
                    np.abs(jc_exp[:m][both] - exponents[:m][both])
                )
                record["jaxcont_max_rel_period_diff"] = _max_or_none(
                    np.abs(jc_per[:m][both] - periods[:m][both]) / periods[:m][both]
                )
                record["jaxcont_compared_levels"] = int(np.sum(both))
    revision, dirty = _git_revision()
    record.update(
        settings={
            "solver": "Dopri5"
            if dtype == "float32"
            else ("Unrolled(Dopri8)" if unrolled else "Dopri8"),
            "rtol": RTOL32 if dtype == "float32" else RTOL,
            "atol": ATOL32 if dtype == "float32" else ATOL,
            "y0": list(prob.y0),
            "chunk_size": chunk_size,
            "n_samples": N_SAMPLES,
            "repeats": repeats,
            "source": prob.source,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "cpu_affinity": sorted(os.sched_getaffinity(0)),
            "devices": len(jax.devices()),
        },
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        versions=_versions(),
        device=str(jax.devices()[0]),
        dtype=dtype,
        git_revision=revision,
        git_dirty=dirty,
        command=" ".join([Path(sys.executable).name] + sys.argv),
    )
    return record


HEADER = [
    "problem",
    "levels",
    "cores",
    "satode s",
    "satode ms/orbit",
    "compile s",
    "scipy s",
    "x scipy",
    "JaxCont s",
    "x JaxCont",
    "max abs dlambda satode/scipy",
    "max abs dlambda JaxCont/scipy",
    "CPU ms/orbit satode / scipy / JaxCont",
    "x scipy (CPU)",
    "x JaxCont (CPU)",
    "solves/level",
    "peak RSS MiB",
]


def _fmt(x, spec, none="n/a"):
    return none if x is None else format(x, spec)


def markdown_row(r: dict) -> str:
    est = lambda key: " (est.)" if r.get(key) else ""  # noqa: E731
    cores = len(r["settings"]["cpu_affinity"])
    row = [
        r["problem"] + ("" if r["dtype"] == "float64" else f" ({r['dtype']})"),
        str(r["levels"]),
        str(cores),
        f"{r['satode_s']:.3f}",
        f"{r['satode_ms_per_orbit']:.2f}",
        f"{r['compile_s']:.1f}",
        _fmt(r.get("scipy_s"), ".2f") + est("scipy_extrapolated"),
        _fmt(r.get("ratio_scipy"), ".0f"),
        _fmt(r.get("jaxcont_s"), ".2f") + est("jaxcont_extrapolated"),
        _fmt(r.get("ratio_jaxcont"), ".1f"),
        _fmt(r.get("max_abs_exponent_diff"), ".1e"),
        _fmt(r.get("jaxcont_max_abs_exponent_diff"), ".1e"),
        " / ".join(
            _fmt(r.get(k), ".2f")
            for k in (
                "satode_cpu_ms_per_orbit",
                "scipy_cpu_ms_per_orbit",
                "jaxcont_cpu_ms_per_orbit",
            )
        ),
        _fmt(r.get("ratio_scipy_cpu"), ".0f"),
        _fmt(r.get("ratio_jaxcont_cpu"), ".1f"),
        _fmt(r.get("satode_solves_mean"), ".2f"),
        f"{r['peak_rss_mib']:.0f}",
    ]
    return "| " + " | ".join(row) + " |"


def markdown(records) -> str:
    """Records as a Markdown table."""
    records = [records] if isinstance(records, dict) else records
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + [markdown_row(r) for r in records])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, required=True, help="number of levels N")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--problem", default="mlp", choices=["mlp", "morris-lecar"])
    parser.add_argument("--network", type=Path, default=None, help="an MLP .npz (default: fit)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed satode calls (best kept); 0: the first call only",
    )
    parser.add_argument("--chunk-size", type=int, default=None, help="satode strands per batch")
    parser.add_argument("--peers", default="scipy,jaxcont", help="comma list, or 'none'")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument(
        "--unrolled", action="store_true", help="satode with Unrolled(Dopri8) (float64 only)"
    )
    parser.add_argument(
        "--scipy-levels",
        type=int,
        default=SCIPY_MAX_LEVELS,
        help=f"levels the scipy loop times; more are extrapolated ({SCIPY_MAX_LEVELS})",
    )
    parser.add_argument(
        "--jaxcont-levels",
        type=int,
        default=JAXCONT_MAX_LEVELS,
        help=f"levels JaxCont times; more are extrapolated ({JAXCONT_MAX_LEVELS})",
    )
    parser.add_argument("--out", type=Path, default=None, help="append the record to DIR/*.jsonl")
    args = parser.parse_args(argv)
    for name in ("levels", "repeats", "chunk_size", "scipy_levels", "jaxcont_levels"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "repeats" else 1):
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    peers = () if args.peers == "none" else tuple(p.strip() for p in args.peers.split(","))
    bad = [p for p in peers if p not in ("scipy", "jaxcont")]
    if bad:
        parser.error(f"--peers: unknown peer(s) {bad}; expected scipy, jaxcont or none")
    record = benchmark(
        args.levels,
        args.problem,
        args.network,
        args.repeats,
        args.chunk_size,
        args.scipy_levels,
        args.jaxcont_levels,
        peers,
        args.dtype,
        args.unrolled,
    )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "floquet_sweep.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=2) if args.json else markdown(record))


if __name__ == "__main__":
    main()
