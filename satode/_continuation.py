"""Continuation of periodic orbits in a parameter, with the events where a branch ends or changes.

A branch is a sequence of points `z = (y0, T, p)`: a point `y0` of a `T`-periodic orbit of
`y' = f(y; p)`. Every point is corrected by Newton shooting on the bordered system

    φ_T(y0; p) − y0 = 0,        (y0 − ŷ)·f(ŷ; p̂) = 0,        ⟨W (z − ẑ), t⟩ = 0,

where `ẑ = (ŷ, T̂, p̂)` is the predicted point, `t` a unit direction and `W` the diagonal scaling of
the state, period and parameter. With `t = e_p` this is natural-parameter continuation (the last
equation fixes `p = p̂`); with `t` the secant of the last two points it is pseudo-arclength
continuation, which passes folds of cycles. The Jacobian comes from the variational equation of
the extended field `(y, p)' = (f(y; p), 0)`, so `∂φ/∂p` costs nothing extra.

The driver is a host-side loop (step control is sequential); the corrector, the analysis of a
point and the equilibrium tests are compiled once per field type. Events, as in AUTO / MatCont:

- `fold` — a fold (limit point) of cycles: the branch turns back in `p` (pseudo-arclength), or the
    stable branch ends with a multiplier → 1 at finite period and amplitude (natural);
- `hopf` — the cycle shrinks to an equilibrium (amplitude → 0, nontrivial multiplier → 1); the
    value is refined on the equilibrium branch, where a complex pair crosses the imaginary axis;
- `snic` / `homoclinic` — the period grows without bound: `snic` when the cycle ends on a
    saddle-node of equilibria (an eigenvalue → 0 there), `homoclinic` when on a hyperbolic saddle;
- `period_doubling` — a multiplier crosses −1; `torus` — a complex pair crosses `|μ| = 1`
    (both only possible for `d ≥ 3`).

Where the cycle disappears is located by bisection in `p` between the last parameter with a cycle
and the first without one, to the tolerance `tol`.
"""

import math
from collections.abc import Callable

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from ._analysis import analyse_periodic_orbit, at_level, OrbitAnalysis
from ._flow import FlowOptions, integrate
from ._periodic_orbit import (
    _EQUILIBRIUM_SIZE,
    _scale,
    _shoot,
    _unit,
    find_periodic_orbit,
    PeriodicOrbit,
    Shooting,
)
from ._results import RESULTS


EVENT_TYPES = ("fold", "hopf", "snic", "homoclinic", "period_doubling", "torus")

# The end of a branch is a Hopf point when the cycle has shrunk below this fraction of its largest
# amplitude on the branch (near a Hopf point the amplitude goes like √|p − p_H|: at the location
# tolerance it is orders of magnitude below this).
_HOPF_AMPLITUDE = 0.05
# ...and the period has gone to infinity (SNIC/homoclinic) when it grew by more than this factor
# over the branch (the period diverges like |p − p*|^(-1/2) or log|p − p*|).
_PERIOD_GROWTH = 5.0
# A fold ends a stable branch with a nontrivial multiplier near 1 (it goes like √|p − p_F|, but
# single shooting loses the cycle before: Morris–Lecar's ends at 0.94, ~1e-4 from its fold).
_FOLD_MULTIPLIER = 0.1
# ...or, farther from 1, extrapolates to 1 by the square-root law within this many bracket
# widths of the last orbit.
_FOLD_REACH = 20.0
# An equilibrium on the vanished cycle is a saddle-node (SNIC) when its smallest |eigenvalue| is
# below this fraction of its largest (it goes like √|p − p*| there; a saddle keeps O(1) ratios).
_SADDLE_NODE_RATIO = 0.05
# Multipliers with |Im μ| below this fraction of |μ| are real (eig of a real matrix returns real
# eigenvalues with zero or rounding-level imaginary parts).
_REAL = 1e-7
# A corrector whose solution is farther than this (in the scaled norm) from its prediction has
# jumped to another branch: reject it (the step is then halved).
_MAX_JUMP = 1.0
# ...and a pseudo-arclength correction farther than twice its step plus this from its prediction.
_ARC_SLACK = 0.01
# Natural steps halve down to this fraction of the range before a failure is taken as the end
# of the branch (and bisection, to `tol`, starts).
_MIN_NATURAL = 1e-3
# Equilibria are solved to near machine precision relative to the state's scale.
_EQ_TOL = 1e-12


class BranchEvent(eqx.Module):
    """A special point of a branch of periodic orbits.

    **Fields:**

    - `kind`: one of `fold`, `hopf`, `snic`, `homoclinic`, `period_doubling`, `torus`.
    - `value`: the parameter where it happens.
    - `lower`, `upper`: the bracket it was located in (`upper − lower ≤ tol`, or the refined
        bracket of the equilibrium test for `hopf`).
    - `period`: the period of the last orbit before it (`inf`-like for `snic`/`homoclinic`).
    - `multiplier`: the nontrivial multiplier nearest the crossing (complex).
    - `equilibrium_value`: for `hopf` the Hopf point of the equilibrium, for `snic` the
        saddle-node of equilibria (both computed on the equilibrium branch); NaN otherwise.
    """

    kind: str = eqx.field(static=True)
    value: float
    lower: float
    upper: float
    period: float
    multiplier: complex
    equilibrium_value: float = math.nan

    def to_dict(self) -> dict:
        return {
            "type": self.kind,
            "value": self.value,
            "bracket": [self.lower, self.upper],
            "period": self.period,
            "multiplier": [self.multiplier.real, self.multiplier.imag],
            "equilibrium_value": self.equilibrium_value,
        }


class Branch(eqx.Module):
    """A branch of periodic orbits followed in one parameter.

    **Fields:**

    - `parameter`: the Module field continued (`"gain"`, `"current"`, `"mu"`…).
    - `levels`: the parameter at each point, in branch order.
    - `analysis`: a batched `OrbitAnalysis` (orbit, Floquet spectrum, audit), one per point.
    - `amplitude`: the largest peak-to-peak extent of each orbit over the coordinates.
    - `events`: the `BranchEvent`s found, in branch order.
    - `stop_reason`: `reached_stop`, `event` (the cycle disappeared there), `left_range`,
        `max_points`, `lost` (the corrector failed with no classifiable cause) or `no_start`.
    - `result`: `successful` unless the branch could not start (`no_orbit`) or was `lost` /
        ran out of points (`not_converged`).
    """

    parameter: str = eqx.field(static=True)
    levels: Float[Array, " n"]
    analysis: OrbitAnalysis | None
    amplitude: Float[Array, " n"]
    events: tuple[BranchEvent, ...]
    stop_reason: str = eqx.field(static=True)
    result: RESULTS


class _Extended(eqx.Module):
    """`(y, p)' = (f(y; p), 0)`: its variational equation carries `∂φ/∂p` along."""

    vector_field: eqx.Module
    parameter: str = eqx.field(static=True)

    def __call__(self, t, z, args):
        vf = at_level(self.vector_field, self.parameter, z[-1])
        return jnp.concatenate([vf(t, z[:-1], args), jnp.zeros((1,), z.dtype)])


def _flow_end(vector_field, parameter, z, args, options):
    d = z.shape[0] - 2
    ext = _Extended(vector_field, parameter)
    state = jnp.concatenate([z[:d], z[d + 1 :]])
    return _shoot(state, z[d], vector_field=ext, args=args, options=options)[:d]


@eqx.filter_jit
def _correct(vector_field, parameter, z_pred, tangent, weights, args, options, shooting):
    """Newton on the bordered shooting system from `z_pred`; `(z, closure, steps, ok)`."""
    d = z_pred.shape[0] - 2
    y_hat, t_hat, p_hat = z_pred[:d], z_pred[d], z_pred[d + 1]
    normal, _ = _unit(at_level(vector_field, parameter, p_hat)(0.0, y_hat, args))

    def residual(z, _):
        y = z[:d]
        gap = _flow_end(vector_field, parameter, z, args, options) - y
        phase = jnp.dot(y - y_hat, normal)
        arclength = jnp.dot(weights * (z - z_pred), tangent)
        return jnp.concatenate([gap, jnp.stack([phase, arclength])])

    scale = _scale(y_hat)
    solver = optx.Newton(rtol=shooting.rtol, atol=shooting.atol * scale)
    # As in `find_periodic_orbit`: a diverging Newton step may not change the period by more
    # than 4x (an enormous period would stall the integration).
    inf = jnp.full_like(z_pred, jnp.inf)
    lower = (z_pred - inf).at[d].set(t_hat / 4)
    upper = (z_pred + inf).at[d].set(t_hat * 4)
    sol = optx.root_find(
        residual,
        solver,
        z_pred,
        options={"lower": lower, "upper": upper},
        max_steps=shooting.max_steps,
        throw=False,
    )
    z = sol.value
    vf = at_level(vector_field, parameter, z[d + 1])
    y, period = z[:d], z[d]
    end = integrate(vf, y, period, args, options=options).ys[-1]
    closure = jnp.max(jnp.abs(end - y))
    size = jnp.linalg.norm(vf(0.0, y, args)) * period / (2 * jnp.pi)
    # Newton must converge, not merely close the orbit to `closure_tol`: next to a Hopf point a
    # slowly decaying spiral closes to 1e-8 over one turn without being a cycle.
    ok = (
        (sol.result == optx.RESULTS.successful)
        & jnp.all(jnp.isfinite(z))
        # Newton converged, so what remains of the gap is the integration error of φ_T, which is
        # not damped along a cycle with a multiplier near 1 (a fold) and is amplified by an
        # unstable one (Morris–Lecar past its fold: |μ| ≈ 13, gap 5e-6 at rtol 1e-11): allow
        # 100x `closure_tol`, still far below any visible gap.
        & (closure <= 100 * shooting.closure_tol * _scale(y))
        & (period > 1e-3 * t_hat)  # not the degenerate root T → 0
        & (size > _EQUILIBRIUM_SIZE * _scale(y))  # not an equilibrium
    )
    return z, closure, sol.stats["num_steps"], ok


@eqx.filter_jit
def _tangent(vector_field, parameter, z, args, options):
    """The unit null vector of the shooting Jacobian `∂(φ_T(y) − y, phase)/∂(y, T, p)`."""
    d = z.shape[0] - 2
    y0 = z[:d]
    normal, _ = _unit(at_level(vector_field, parameter, z[d + 1])(0.0, y0, args))

    def core(z):
        gap = _flow_end(vector_field, parameter, z, args, options) - z[:d]
        return jnp.concatenate([gap, jnp.dot(z[:d] - y0, normal)[None]])

    jac = jax.jacfwd(core)(z)
    _, _, vh = jnp.linalg.svd(jac)
    return vh[-1]


@eqx.filter_jit
def _analyse(vector_field, parameter, z, closure, steps, args, options, n_samples):
    d = z.shape[0] - 2
    vf = at_level(vector_field, parameter, z[d + 1])
    orbit = PeriodicOrbit(
        y0=z[:d],
        period=z[d],
        closure=jnp.asarray(closure, z.dtype),
        returns=jnp.asarray(0),
        newton_steps=jnp.asarray(steps),
        result=RESULTS.successful,
    )
    analysis = analyse_periodic_orbit(vf, orbit, args, n_samples=n_samples, options=options)
    # The orbit's shape from the solver's own steps (one solve): equal time samples of a slow
    # cycle miss its fast spike, the adaptive steps crowd there (and are sparse, but present, on
    # the slow part, where the slowest step point marks the bottleneck).
    sol = integrate(vf, z[:d], z[d], args, options=options, saveat=dfx.SaveAt(t0=True, steps=True))
    taken = jnp.isfinite(sol.ts)
    ys = jnp.where(taken[:, None], sol.ys, sol.ys[0])
    extent = jnp.max(ys, axis=0) - jnp.min(ys, axis=0)
    dt = jnp.where(taken[1:], jnp.diff(jnp.where(taken, sol.ts, 0.0)), 0.0)
    centre = jnp.sum(0.5 * (ys[1:] + ys[:-1]) * dt[:, None], axis=0) / jnp.sum(dt)
    speed = jax.vmap(lambda y: jnp.linalg.norm(vf(0.0, y, args)))(ys)
    bottleneck = ys[jnp.argmin(jnp.where(taken, speed, jnp.inf))]
    return analysis, jnp.max(extent), extent, centre, bottleneck


@eqx.filter_jit
def _equilibrium(vector_field, parameter, p, y_guess, args):
    """The equilibrium Newton reaches from `y_guess` at `p`: `(y, converged, eigenvalues of Df)`."""
    vf = at_level(vector_field, parameter, p)
    solver = optx.Newton(rtol=_EQ_TOL, atol=_EQ_TOL * _scale(y_guess))
    sol = optx.root_find(lambda y, _: vf(0.0, y, args), solver, y_guess, max_steps=60, throw=False)
    y = sol.value
    jac = jax.jacfwd(lambda y: vf(0.0, y, args))(y)
    residual = jnp.max(jnp.abs(vf(0.0, y, args)))
    fscale = jnp.maximum(jnp.max(jnp.abs(jac)) * _scale(y), 1e-300)
    converged = (sol.result == optx.RESULTS.successful) & (residual <= 1e-9 * fscale)
    return y, converged, jnp.linalg.eigvals(jac)


@eqx.filter_jit
def _saddle_node(vector_field, parameter, y_guess, p_guess, args):
    """The saddle-node of equilibria `f(y; p) = 0, det Df(y; p) = 0` near `(y_guess, p_guess)`."""
    d = y_guess.shape[0]

    def residual(x, _):
        vf = at_level(vector_field, parameter, x[d])
        jac = jax.jacfwd(lambda y: vf(0.0, y, args))(x[:d])
        return jnp.concatenate([vf(0.0, x[:d], args), jnp.linalg.det(jac)[None]])

    x0 = jnp.concatenate([y_guess, jnp.asarray(p_guess, y_guess.dtype)[None]])
    solver = optx.Newton(rtol=_EQ_TOL, atol=_EQ_TOL * _scale(x0))
    sol = optx.root_find(residual, solver, x0, max_steps=60, throw=False)
    return sol.value[:d], sol.value[d], sol.result == optx.RESULTS.successful


class _Point:
    """One corrected point (host side)."""

    def __init__(self, z, analysis, amplitude, extent, centre, bottleneck, steps):
        self.z = np.asarray(z)
        self.analysis = analysis
        self.amplitude = float(amplitude)
        self.extent = np.asarray(extent)
        self.centre = np.asarray(centre)
        self.bottleneck = np.asarray(bottleneck)
        self.steps = int(steps)
        self.tangent = None

    @property
    def p(self):
        return float(self.z[-1])

    @property
    def period(self):
        return float(self.z[-2])

    def nontrivial(self) -> np.ndarray:
        mult = np.asarray(self.analysis.spectrum.multipliers)
        keep = np.ones(mult.shape, bool)
        keep[int(self.analysis.spectrum.trivial_index)] = False
        return mult[keep]

    def crossing_counts(self) -> tuple[int, int, int]:
        """Nontrivial multipliers outside the unit circle: (real > 0, real < 0, complex)."""
        mu = self.nontrivial()
        outside = np.abs(mu) > 1
        real = np.abs(mu.imag) <= _REAL * np.abs(mu)
        return (
            int(np.sum(outside & real & (mu.real > 0))),
            int(np.sum(outside & real & (mu.real < 0))),
            int(np.sum(outside & ~real)),
        )


def continue_orbit(
    vector_field,
    parameter: str,
    start: float,
    stop: float,
    y0: Float[Array, " d"],
    args=None,
    *,
    period=None,
    method: str = "arclength",
    step: float | None = None,
    max_step: float | None = None,
    min_step: float = 1e-4,
    tol: float | None = None,
    max_points: int = 400,
    transient=0.0,
    n_samples: int = 1025,
    options: FlowOptions = FlowOptions(),
    shooting: Shooting = Shooting(),
    max_period=1e7,
    progress: Callable[[str], None] | None = None,
) -> Branch:
    """Follow the periodic orbit reached from `y0` at `parameter = start` towards `stop`.

    Natural-parameter (`method="natural"`) or pseudo-arclength (`"arclength"`, the default)
    continuation with secant predictors and Newton-shooting correctors (module docstring), step
    control (the step grows by 1.5 after an easy correction, up to `max_step`, and halves after a
    failure), detection of the events listed in `EVENT_TYPES`, and location of each by bisection
    to `tol` in the parameter. Where the cycle disappears (Hopf, SNIC/homoclinic, or the fold
    ending a stable branch followed naturally) the branch ends with that event.

    **Arguments:**

    - `vector_field`: an `eqx.Module` field with a scalar field `parameter`.
    - `parameter`: the field to continue in (`"gain"`, `"shift"`, `"current"`, `"mu"`…).
    - `start`, `stop`: the parameter range, in the direction of continuation.
    - `y0`: where the first orbit is sought (a point on it if `period` is given).
    - `args`: passed to the field.
    - `period`: the first orbit's period, if known (then Newton starts from `(y0, period)`;
        otherwise a transient and a Poincaré search find the orbit).
    - `method`: `"arclength"` or `"natural"`.
    - `step`, `max_step`: the first and largest step: in the parameter for `natural` (defaults
        5% and 10% of the range), in scaled arclength units for `arclength` (0.05 and 0.2).
    - `min_step`: below this arclength step the branch end is located by natural bisection.
    - `tol`: the location tolerance in the parameter (default `1e-7 · max(1, |start|, |stop|)`).
    - `max_points`: the most points on the branch.
    - `transient`, `n_samples`, `options`, `shooting`, `max_period`: as in `analyse_orbit`.
    - `progress`: called with a one-line message after every accepted point.

    **Returns:** a `Branch`.
    """
    if method not in ("natural", "arclength"):
        raise ValueError(f"continue_orbit: method must be 'natural' or 'arclength', got {method!r}")
    start, stop = float(start), float(stop)
    if not (math.isfinite(start) and math.isfinite(stop)) or start == stop:
        raise ValueError(f"continue_orbit: need finite start != stop, got {start}, {stop}")
    if not hasattr(vector_field, parameter):
        raise ValueError(
            f"continue_orbit: {parameter!r} is not a parameter of {type(vector_field).__name__}"
        )
    y0 = jnp.asarray(y0)
    dtype = y0.dtype
    d = y0.shape[0]
    span = abs(stop - start)
    direction = 1.0 if stop > start else -1.0
    tol = 1e-7 * max(1.0, abs(start), abs(stop)) if tol is None else float(tol)
    natural_step = (0.05 * span) if (step is None or method == "arclength") else float(step)
    natural_max = (0.1 * span) if (max_step is None or method == "arclength") else float(max_step)
    arc_step = 0.05 if (step is None or method == "natural") else float(step)
    arc_max = 0.2 if (max_step is None or method == "natural") else float(max_step)
    say = progress or (lambda _: None)

    def attempt(z_pred, tangent, weights):
        z, closure, steps, ok = _correct(
            vector_field,
            parameter,
            jnp.asarray(z_pred, dtype),
            jnp.asarray(tangent, dtype),
            jnp.asarray(weights, dtype),
            args,
            options,
            shooting,
        )
        if not bool(ok) or float(z[d]) > max_period:
            return None
        out = _analyse(vector_field, parameter, z, closure, steps, args, options, n_samples)
        analysis = out[0]
        if int(analysis.orbit.result._value) != RESULTS.successful._value:
            return None
        return _Point(z, *out, steps)

    # The first point.
    if period is not None:
        z0 = np.concatenate([np.asarray(y0), [float(period), start]])
        first = attempt(z0, _unit_p(d), np.ones(d + 2))
    else:
        orbit = eqx.filter_jit(find_periodic_orbit)(
            at_level(vector_field, parameter, start),
            y0,
            args,
            transient=transient,
            options=options,
            shooting=shooting,
            max_period=max_period,
            throw=False,
        )
        first = None
        if int(orbit.result._value) == RESULTS.successful._value:
            z0 = np.concatenate([np.asarray(orbit.y0), [float(orbit.period), start]])
            first = attempt(z0, _unit_p(d), np.ones(d + 2))
    if first is None:
        return Branch(
            parameter,
            jnp.zeros((0,), dtype),
            None,
            jnp.zeros((0,), dtype),
            (),
            "no_start",
            RESULTS.no_orbit,
        )
    points = [first]
    events: list[BranchEvent] = []
    state_scale = np.maximum(first.extent, 1e-3 * max(first.amplitude, 1e-300))

    def weights_at(point):
        # Scaled coordinates: the state by the first orbit's extent, the period relative to the
        # current one (so a diverging period is followed in log T), the parameter by the range.
        return 1.0 / np.concatenate([state_scale, [point.period, span]])

    say(f"start: {parameter} = {first.p:.10g}, period {first.period:.10g}")
    mode = method
    arc_tangent = None
    h_nat, h_arc = natural_step, arc_step
    p_fail = None  # set while locating where the cycle disappears (natural bisection)
    stop_reason = None
    ran_points = 0
    while stop_reason is None:
        ran_points += 1
        if len(points) >= max_points or ran_points > 20 * max_points:
            stop_reason = "max_points"
            break
        last = points[-1]
        w = weights_at(last)
        final = False
        if mode == "natural" or p_fail is not None:
            if p_fail is not None:
                p_new = 0.5 * (last.p + p_fail)
            else:
                p_new = last.p + direction * h_nat
                if (p_new - stop) * direction >= 0:
                    p_new, final = stop, True
            z_pred = _extrapolate(points, p_new)
            tangent = _unit_p(d)
        else:
            t = _secant(points, w, direction, d)
            z_pred = last.z + h_arc * t / w
            if (z_pred[-1] - stop) * direction >= 0:
                z_pred, tangent, final = _extrapolate(points, stop), _unit_p(d), True
            else:
                tangent = arc_tangent = t
        new = attempt(z_pred, tangent, w)
        if new is not None:
            jump = w * (new.z - z_pred)
            if tangent is arc_tangent:
                # Pseudo-arclength: the correction is orthogonal to the secant; more than about
                # a step away from the prediction it has jumped to another part of the branch.
                jumped = np.linalg.norm(jump) > 2 * h_arc + _ARC_SLACK
            else:
                jumped = np.linalg.norm(jump[:-1]) > _MAX_JUMP
            if jumped:
                new = None
        if new is not None:
            points.append(new)
            say(
                f"{parameter} = {new.p:.12g}  period {new.period:.10g}  "
                f"amplitude {new.amplitude:.4g}  ({new.steps} Newton steps)"
            )
            if mode == "arclength" and p_fail is None:
                new.tangent = _oriented_tangent(
                    vector_field, parameter, new, new.z - last.z, w, args, options
                )
            events += _detect(
                vector_field, parameter, points, attempt, weights_at, tol, mode, args, options
            )
            if final and p_fail is None:
                stop_reason = "reached_stop"
            elif (new.p - start) * direction < -0.01 * span:
                stop_reason = "left_range"
            elif p_fail is not None:
                if abs(p_fail - new.p) <= tol:
                    stop_reason = _end_or_resume(points, p_fail, attempt, weights_at)
                    if stop_reason == "resume":
                        stop_reason, p_fail = None, None
                        h_nat = max(h_nat / 4, 4 * tol)
            else:
                if new.steps <= 4:
                    h_nat = min(1.5 * h_nat, natural_max)
                    h_arc = min(1.5 * h_arc, arc_max)
                if mode == "arclength" and _ending(points):
                    mode = "natural"
                    h_nat = max(abs(points[-1].p - points[-2].p), 4 * tol)
            continue
        # A failed step.
        if p_fail is not None:
            p_fail = float(z_pred[-1])
            if abs(p_fail - last.p) <= tol:
                stop_reason = _end_or_resume(points, p_fail, attempt, weights_at)
                if stop_reason == "resume":
                    stop_reason, p_fail = None, None
                    h_nat = max(h_nat / 4, 4 * tol)
        elif mode == "natural":
            # Halve the step first (a poor predictor fails too); only a failure at a small step
            # starts locating the end by bisection.
            if h_nat > _MIN_NATURAL * span:
                h_nat /= 2
            else:
                p_fail = float(z_pred[-1])
                if abs(p_fail - last.p) <= tol:
                    stop_reason = "event"
        else:
            h_arc /= 2
            if h_arc < min_step:
                mode = "natural"
                h_nat = max(abs(last.p - points[-2].p) if len(points) > 1 else natural_step, tol)
    result = RESULTS.successful
    if stop_reason == "event":
        end = _classify_end(vector_field, parameter, points, p_fail, args, span)
        if end is None:
            stop_reason, result = "lost", RESULTS.not_converged
        else:
            events.append(end)
            say(f"event: {end.kind} at {parameter} = {end.value:.12g}")
    elif stop_reason in ("lost", "max_points"):
        result = RESULTS.not_converged
    analyses = [pt.analysis for pt in points]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *analyses)
    return Branch(
        parameter,
        jnp.asarray([pt.p for pt in points], dtype),
        stacked,
        jnp.asarray([pt.amplitude for pt in points], dtype),
        tuple(events),
        stop_reason,
        result,
    )


def _unit_p(d):
    e = np.zeros(d + 2)
    e[-1] = 1.0
    return e


def _extrapolate(points, p_new):
    """The secant predictor at parameter `p_new` from the last two points (or the last one).

    The state is extrapolated linearly, the period linearly in `1/T²`: exact to first order
    like a linear `T`, and also the right law as the period diverges at a saddle-node on the
    cycle (`T ∝ |p − p*|^(-1/2)`), where a linear `T` falls far behind.
    """
    last = points[-1]
    z = last.z.copy()
    if len(points) >= 2 and points[-2].p != last.p:
        prev = points[-2]
        ratio = (p_new - last.p) / (last.p - prev.p)
        z = last.z + ratio * (last.z - prev.z)
        inv2_last, inv2_prev = last.period**-2, prev.period**-2
        inv2 = inv2_last + ratio * (inv2_last - inv2_prev)
        # At most a doubling (or halving) per step; Newton may move the period 4x.
        z[-2] = 1 / math.sqrt(min(max(inv2, inv2_last / 4), 4 * inv2_last))
    z[-1] = p_new
    return z


def _secant(points, w, direction, d):
    """The unit secant of the last two points in scaled coordinates (or `±e_p` at the start)."""
    if len(points) < 2:
        return direction * _unit_p(d)
    chord = w * (points[-1].z - points[-2].z)
    return chord / np.linalg.norm(chord)


def _oriented_tangent(vector_field, parameter, point, reference, weights, args, options):
    """The branch tangent at `point`, oriented along `reference` (a direction in `z`)."""
    t = np.asarray(_tangent(vector_field, parameter, jnp.asarray(point.z), args, options))
    return t if np.dot(weights * t, weights * reference) >= 0 else -t


def _ending(points) -> bool:
    """Arclength steps near an end of the branch go nowhere in the parameter: hand over to
    natural bisection when the period diverges or the cycle shrinks to a point."""
    if len(points) < 3:
        return False
    periods = [pt.period for pt in points[-3:]]
    grows = periods[2] > periods[1] > periods[0] and periods[2] > 2 * min(
        pt.period for pt in points
    )
    shrinks = points[-1].amplitude < 0.1 * max(pt.amplitude for pt in points)
    return grows or shrinks


def _end_or_resume(points, p_fail, attempt, weights_at):
    """The bisection bracket closed: try the failed parameter once more from the point next to
    it (a near-perfect predictor). Still failing, the cycle ends there (`event`); converging, the
    first failure was the predictor's, not the branch's (`resume`)."""
    z_pred = _extrapolate(points, p_fail)
    new = attempt(z_pred, _unit_p(z_pred.shape[0] - 2), weights_at(points[-1]))
    if new is None:
        return "event"
    points.append(new)
    return "resume"


def _bisect(lo, hi, test, attempt, weights_at, tol):
    """Bisect the chord from `lo` to `hi` (both on the branch) until `|p_hi − p_lo| ≤ tol` or a
    correction fails, keeping `test(lo) != test(hi)`."""
    target = test(lo)
    for _ in range(60):
        if abs(hi.p - lo.p) <= tol:
            break
        w = weights_at(lo)
        chord = w * (hi.z - lo.z)
        norm = np.linalg.norm(chord)
        if norm == 0:
            break
        mid = attempt(0.5 * (lo.z + hi.z), chord / norm, w)
        if mid is None:
            break
        if test(mid) == target:
            lo = mid
        else:
            hi = mid
    return lo, hi


def _closest_to_circle(point) -> complex:
    mu = point.nontrivial()
    return complex(mu[np.argmin(np.abs(np.abs(mu) - 1))]) if mu.size else complex(math.nan)


def _detect(vector_field, parameter, points, attempt, weights_at, tol, mode, args, options):
    """Events between the last two points: folds (the tangent's `p` component changes sign)
    and, for `d ≥ 3`, multipliers crossing the unit circle at −1 or as a complex pair."""
    if len(points) < 2:
        return []
    a, b = points[-2], points[-1]
    found = []
    if mode == "arclength" and a.tangent is not None and b.tangent is not None:
        if np.sign(a.tangent[-1]) * np.sign(b.tangent[-1]) < 0:
            chord, w = b.z - a.z, weights_at(a)

            def turning(pt):
                if pt.tangent is None:
                    pt.tangent = _oriented_tangent(
                        vector_field, parameter, pt, chord, w, args, options
                    )
                return np.sign(pt.tangent[-1])

            lo, hi = _bisect(a, b, turning, attempt, weights_at, tol)
            found.append(_event("fold", lo, hi.p))
    if a.z.shape[0] - 2 >= 3:
        ca, cb = a.crossing_counts(), b.crossing_counts()
        for kind, i in (("period_doubling", 1), ("torus", 2)):
            if ca[i] != cb[i]:
                lo, hi = _bisect(
                    a, b, lambda pt, i=i: pt.crossing_counts()[i], attempt, weights_at, tol
                )
                found.append(_event(kind, lo, hi.p))
    return found


def _event(kind, lo, p_other, value=None, equilibrium_value=math.nan):
    """The event located between the point `lo` and the parameter `p_other`."""
    return BranchEvent(
        kind=kind,
        value=0.5 * (lo.p + p_other) if value is None else float(value),
        lower=min(lo.p, p_other),
        upper=max(lo.p, p_other),
        period=lo.period,
        multiplier=_closest_to_circle(lo),
        equilibrium_value=float(equilibrium_value),
    )


def _classify_end(vector_field, parameter, points, p_fail, args, span):
    """Why the cycle disappeared between the last point and `p_fail` (`None` if unclear)."""
    lo = points[-1]
    if lo.amplitude < _HOPF_AMPLITUDE * max(pt.amplitude for pt in points):
        value = _hopf_point(vector_field, parameter, lo, p_fail, args, span)
        return _event("hopf", lo, p_fail, value=value, equilibrium_value=value)
    if lo.period > _PERIOD_GROWTH * min(pt.period for pt in points):
        # A SNIC ends on a saddle-node of equilibria at the cycle's slowest point (its ghost):
        # solve for it there. Otherwise the cycle ends on a saddle it passes ever closer to.
        near = 0.05 * lo.extent + 1e-12
        guess = jnp.asarray(lo.bottleneck)
        y_sn, p_sn, ok = _saddle_node(vector_field, parameter, guess, p_fail, args)
        y_sn, p_sn = np.asarray(y_sn), float(p_sn)
        if bool(ok) and np.all(np.abs(y_sn - lo.bottleneck) <= near):
            if abs(p_sn - p_fail) <= 0.05 * span:
                return _event("snic", lo, p_fail, value=p_sn, equilibrium_value=p_sn)
        return _event("homoclinic", lo, p_fail)
    if _heads_to_fold(points, p_fail):
        return _event("fold", lo, p_fail)
    return None


def _distance_to_one(point) -> float:
    mu = point.nontrivial()
    return float(np.min(np.abs(mu - 1))) if mu.size else math.inf


def _heads_to_fold(points, p_fail) -> bool:
    """A fold ends the branch: its nontrivial multiplier is near 1, or heads there by the
    square-root law of a fold (`(1 − μ)²` linear in `p`) within a short extrapolation past the
    end (where exactly shooting loses the cycle, 1e-6 or 1e-5 before the fold, is rounding's
    choice; the law is not)."""
    lo = points[-1]
    gap = _distance_to_one(lo)
    if gap < _FOLD_MULTIPLIER:
        return True
    if len(points) < 2 or not gap < 1:
        return False
    prev = points[-2]
    s_lo, s_prev = gap**2, _distance_to_one(prev) ** 2
    if not (s_lo < s_prev and lo.p != prev.p):
        return False
    # Root of the line through (p_prev, s_prev), (p_lo, s_lo): where μ would reach 1.
    p_star = lo.p - s_lo * (lo.p - prev.p) / (s_lo - s_prev)
    return abs(p_star - lo.p) <= _FOLD_REACH * max(abs(lo.p - p_fail), abs(lo.p - prev.p))


def _hopf_point(vector_field, parameter, lo, p_fail, args, span):
    """Where a complex pair of eigenvalues of the equilibrium inside the vanishing cycle crosses
    the imaginary axis: bisection on the sign of its real part, from the cycle's bracket
    (widened outwards until the sign changes). NaN when no such crossing is found."""
    guess = [jnp.asarray(lo.centre)]

    def test(p):
        y, converged, eig = _equilibrium(vector_field, parameter, p, guess[0], args)
        eig = np.asarray(eig)
        pair = np.abs(eig.imag) > _REAL * np.abs(eig)
        if not bool(converged) or not pair.any():
            return math.nan
        guess[0] = y
        return float(np.max(eig.real[pair]))

    a, b = lo.p, p_fail
    g_a, g_b = test(a), test(b)
    width, outward = abs(b - a), math.copysign(1.0, b - a)
    k = 0
    while math.isfinite(g_a) and math.isfinite(g_b) and g_a * g_b > 0 and k < 40:
        a, g_a = b, g_b
        b = p_fail + outward * width * 2.0**k
        if abs(b - p_fail) > 0.1 * span:
            return math.nan
        g_b, k = test(b), k + 1
    if not (math.isfinite(g_a) and math.isfinite(g_b)):
        return math.nan
    if g_a == 0 or g_b == 0:
        return a if g_a == 0 else b
    # Bisection to near machine precision: each test is one small Newton solve.
    for _ in range(200):
        if abs(b - a) <= 1e-13 * max(1.0, abs(a)):
            break
        m = 0.5 * (a + b)
        g_m = test(m)
        if not math.isfinite(g_m):
            break
        if g_m == 0:
            return m
        if g_m * g_a > 0:
            a, g_a = m, g_m
        else:
            b = m
    return 0.5 * (a + b)
