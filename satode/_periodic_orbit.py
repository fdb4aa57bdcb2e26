"""Finding the periodic orbit of the actual vector field: Poincaré returns, then Newton shooting."""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float, Int

from ._flow import FlowOptions, integrate, OnUnitInterval, variational_flow
from ._results import RESULTS


class Shooting(eqx.Module):
    """Newton shooting on `(y0, T)` with a Poincaré phase condition.

    **Arguments:**

    - `rtol`, `atol`: Newton's termination tolerances, relative to the orbit's scale.
    - `max_steps`: the most Newton iterations.
    - `closure_tol`: the orbit is accepted when `‖φ_T(y0) − y0‖∞ ≤ closure_tol · scale`, with
        `scale = max(1, ‖y0‖∞)`. Default 1e-8: three orders above the integration error at the
        default tolerances, far below any visible gap.
    """

    rtol: float = eqx.field(static=True, default=1e-11)
    atol: float = eqx.field(static=True, default=1e-11)
    max_steps: int = eqx.field(static=True, default=12)
    closure_tol: float = eqx.field(static=True, default=1e-8)


class PeriodicOrbit(eqx.Module):
    """A periodic orbit `γ(t + T) = γ(t)` of `y' = f(y)`.

    **Fields:**

    - `y0`: a point on the orbit (on the Poincaré section used by the search).
    - `period`: the period `T`.
    - `closure`: `‖φ_T(y0) − y0‖∞`, the closure error of the computed orbit.
    - `returns`: how many Poincaré returns the search made before Newton.
    - `newton_steps`: how many Newton iterations shooting took.
    - `result`: a `satode.RESULTS` status.
    """

    y0: Float[Array, " d"]
    period: Float[Array, ""]
    closure: Float[Array, ""]
    returns: Int[Array, ""]
    newton_steps: Int[Array, ""]
    result: RESULTS


# A loop smaller than this fraction of the state's scale is an equilibrium, not a cycle: far
# below any cycle a float64 Newton solve can resolve (its closure tolerance is 1e-8).
_EQUILIBRIUM_SIZE = 1e-6


# A trajectory whose speed fell below this fraction of its starting speed is settling on an
# equilibrium: stop before an explicit solver crawls there at its stability limit. Cycles slow
# down near saddle-node ghosts, but by far less than this.
_SETTLED_SPEED = 1e-6


# Newton refinements of a crossing inside its sample interval: the cubic's root is found to
# rounding from the linear-interpolation start in far fewer.
_HERMITE_ITERATIONS = 6
# An earlier return must land this close to the start, relative to the orbit's extent: a whole
# multiple of the period returns exactly (the Hermite error of the located point is ~1e-5 of
# the extent with 20 samples per period), a planar orbit never comes back near its start
# anywhere else.
_RETURN_MATCH = 1e-3
# Samples `_earlier_return` integrates over an orbit: ≥ 20 per period for multiples up to 12.
_RETURN_SAMPLES = 257


def _hermite(a, b, da, db, h, theta):
    """Cubic Hermite interpolant on `[0, h]` at `theta · h` from values and derivatives."""
    t2, t3 = theta * theta, theta * theta * theta
    h00, h10 = 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + theta
    h01, h11 = -2 * t3 + 3 * t2, t3 - t2
    return h00 * a + h10 * h * da + h01 * b + h11 * h * db


def _locate_return(vector_field, args, samples, ts, start, normal):
    """The first down-crossing of `−(z − start)·n` on the samples, refined by Hermite cubics.

    **Returns:** `(crossed, point, time)`.
    """
    g = -(samples - start) @ normal
    # The first interval starts on the section itself (g = 0 up to rounding): never a return.
    later = jnp.arange(g.shape[0] - 1) > 0
    cross = (g[:-1] > 0) & (g[1:] <= 0) & jnp.isfinite(g[1:]) & later
    crossed = jnp.any(cross)
    k = jnp.argmax(cross)
    za, zb = samples[k], samples[k + 1]
    fa, fb = vector_field(ts[k], za, args), vector_field(ts[k + 1], zb, args)
    h = ts[k + 1] - ts[k]
    ga, gb, dga, dgb = g[k], g[k + 1], -(fa @ normal), -(fb @ normal)
    theta = jnp.clip(ga / jnp.where(ga - gb != 0, ga - gb, 1.0), 0.0, 1.0)

    def refine(theta, _):
        value = _hermite(ga, gb, dga, dgb, h, theta)
        eps = 1e-7  # a finite-difference slope is plenty for a root of a cubic
        slope = (_hermite(ga, gb, dga, dgb, h, theta + eps) - value) / eps
        theta = theta - value / jnp.where(slope != 0, slope, 1.0)
        return jnp.clip(theta, 0.0, 1.0), None

    theta, _ = jax.lax.scan(refine, theta, None, length=_HERMITE_ITERATIONS)
    point = _hermite(za, zb, fa, fb, h, theta)
    return crossed, point, ts[k] + theta * h


def _earlier_return(vector_field, args, samples, y, length):
    """Whether an orbit that closes over `length` came back to its start `y` before: then
    `length` is a whole multiple `k·T` of its period (Newton started from a period guess near
    `k·T` converges there, and every check passes), and the earliest return is at `T`.

    `samples` are the orbit at `length·j/(n−1)`, `j = 0 … n−1`. A return is a crossing of the
    section through `y` normal to the flow, in the flow's direction, located on the samples by
    Hermite cubics (`_locate_return`), that lands within `_RETURN_MATCH` of the orbit's extent
    from `y`; the last sample interval, where the orbit closes at `length`, is not searched.

    **Returns:** `(earlier, time)`.
    """
    n = samples.shape[0]
    ts = length * jnp.linspace(0.0, 1.0, n, dtype=samples.dtype)
    normal, _ = _unit(vector_field(0.0, y, args))
    crossed, point, time = _locate_return(vector_field, args, samples[:-1], ts[:-1], y, normal)
    extent = jnp.max(jnp.abs(samples - y))
    near = jnp.max(jnp.abs(point - y)) <= _RETURN_MATCH * extent
    return crossed & near & (time > 0) & (time < length), time


def _scale(y):
    return jnp.maximum(1.0, jnp.max(jnp.abs(y)))


def _unit(v):
    norm = jnp.linalg.norm(v)
    return v / jnp.where(norm > 0, norm, 1.0), norm


class _Return(eqx.Module):
    y: Array
    time: Array
    crossed: Array
    result: RESULTS


def _poincare_return(vector_field, y, args, options, window, escape_radius, speed_ref):
    """Integrate from `y` for at most `window` until the orbit crosses the section through `y`.

    The section is the hyperplane through `y` normal to `f(y)`. Its value `−(z − y)·n̂` starts
    at 0, goes negative, turns positive on the far side of a loop and crosses back down on
    return: a down-crossing never fires at the start. Escaping (`‖z‖∞ > escape_radius`) or
    settling (speed below `_SETTLED_SPEED · speed_ref`, the speed where the search began) ends
    the search with `no_orbit`; a
    window that elapses with no crossing is not a failure (`crossed` is False).
    """
    start = y
    normal, speed = _unit(vector_field(0.0, y, args))

    def section(t, y, args, **kwargs):
        return -jnp.dot(y - start, normal)

    def escaped(t, y, args, **kwargs):
        return jnp.max(jnp.abs(y)) > escape_radius

    def settled(t, y, args, **kwargs):
        return jnp.linalg.norm(vector_field(t, y, args)) < _SETTLED_SPEED * speed_ref

    event = dfx.Event(
        (section, escaped, settled),
        root_finder=optx.Newton(rtol=1e-13, atol=1e-13),
        direction=(False, None, None),
    )
    sol = integrate(vector_field, y, window, args, options=options, event=event)
    crossed, escape, settle = sol.event_mask
    result = RESULTS.where(
        sol.result == dfx.RESULTS.max_steps_reached,
        RESULTS.max_steps,
        RESULTS.where(escape | settle | ~(speed > 0), RESULTS.no_orbit, RESULTS.successful),
    )
    return _Return(sol.ys[-1], sol.ts[-1], crossed, result)


def _return_map_search(
    vector_field, y, args, options, max_period, escape_radius, max_returns, tol, period_guess
):
    """Iterate the Poincaré return map until consecutive returns agree to `tol` (relative).

    Each return may take at most `window`: three times the last period, or at the start
    `period_guess` (if finite) or the time to go once round a circle of radius `‖y‖` at the
    current speed. A window that elapses with no crossing (the section was drawn far from the
    cycle, or the cycle is slower than thought) restarts the section where the trajectory got
    to and quadruples the window, up to `max_period` (then `no_orbit`).

    The loop's size `‖f‖·T/2π` (its radius for a circle) is tracked: a trajectory spiralling into
    a focus keeps returning to its section, but its size shrinks geometrically; once it is below
    `_EQUILIBRIUM_SIZE` times the state's scale there is no cycle here (`no_orbit`).
    """
    speed = jnp.linalg.norm(vector_field(0.0, y, args))
    lap = 2 * jnp.pi * _scale(y) / jnp.where(speed > 0, speed, 1.0)
    window0 = 3 * jnp.where(jnp.isfinite(period_guess) & (period_guess > 0), period_guess, lap)

    def cond(carry):
        _, _, i, done, result, _ = carry
        return (i < max_returns) & ~done & (result == RESULTS.successful)

    def body(carry):
        y, period, i, _, _, window = carry
        # Under `vmap` the body also runs for members that are already done: give those a zero
        # window so they cost nothing while the others return.
        ret = _poincare_return(
            vector_field,
            y,
            args,
            options,
            jnp.where(cond(carry), window, 0.0),
            escape_radius,
            speed,
        )
        size = jnp.linalg.norm(vector_field(0.0, ret.y, args)) * ret.time / (2 * jnp.pi)
        gap = jnp.max(jnp.abs(ret.y - y)) / jnp.where(size > 0, size, 1.0)
        collapsed = ret.crossed & ~(size > _EQUILIBRIUM_SIZE * _scale(ret.y))
        too_slow = ~ret.crossed & (window >= max_period)
        result = RESULTS.where(
            (ret.result == RESULTS.successful) & (collapsed | too_slow),
            RESULTS.no_orbit,
            ret.result,
        )
        period = jnp.where(ret.crossed, ret.time, period)
        window = jnp.where(ret.crossed, 3 * ret.time, jnp.minimum(4 * window, max_period))
        done = ret.crossed & (gap < tol)
        return ret.y, period, i + 1, done, result, window

    nan = jnp.asarray(jnp.nan, y.dtype)
    init = (y, nan, jnp.array(0), jnp.array(False), RESULTS.successful, window0)
    y, period, returns, done, result, _ = jax.lax.while_loop(cond, body, init)
    # Out of returns without two agreeing: hand Newton the last crossing if there was one.
    result = RESULTS.where(
        (result == RESULTS.successful) & ~jnp.isfinite(period), RESULTS.no_orbit, result
    )
    return y, period, returns, result


@eqx.filter_custom_jvp
def _shoot(y0, period, *, vector_field, args, options):
    """`φ_T(y0)`, differentiated through the variational equation (one solve per Newton step)."""
    return integrate(vector_field, y0, period, args, options=options).ys[-1]


@_shoot.def_jvp
def _shoot_jvp(primals, tangents, *, vector_field, args, options):
    y0, period = primals
    dy0, dperiod = tangents
    sol = variational_flow(vector_field, y0, period, args, options=options)
    y1, phi = sol.ys[0][-1], sol.ys[1][-1]
    out = phi @ dy0 if dy0 is not None else jnp.zeros_like(y1)
    if dperiod is not None:
        out = out + vector_field(period, y1, args) * dperiod
    return y1, out


def _newton(vector_field, y0, period, args, options, shooting, active):
    """Solve `φ_T(y0) = y0`, `(y0 − y_ref)·f(y_ref) = 0` for `(y0, T)`.

    An inactive member (its search already failed) solves the trivial `z = z0` over `T = 0`
    instead: it terminates at once, so under `vmap` it holds up no one.
    """
    y0 = jnp.where(active & jnp.isfinite(y0), y0, 0.0)
    period = jnp.where(active & jnp.isfinite(period), period, 0.0)
    normal, _ = _unit(vector_field(0.0, y0, args))
    y_ref = y0

    def residual(z, _):
        y, t = z
        y1 = _shoot(y, t, vector_field=vector_field, args=args, options=options)
        shooting_residual = (y1 - y, jnp.dot(y - y_ref, normal))
        trivial_residual = (y - y0, t - period)
        return jax.tree.map(
            lambda a, b: jnp.where(active, a, b), shooting_residual, trivial_residual
        )

    scale = _scale(y0)
    solver = optx.Newton(rtol=shooting.rtol, atol=shooting.atol * scale)
    # Keep the iterates where shooting is meaningful: a diverging Newton step must not send the
    # integration over an enormous period (the period may change by at most 4x).
    far = jnp.full_like(y0, 1e3 * scale)
    bounds = {"lower": (y0 - far, period / 4), "upper": (y0 + far, period * 4)}
    sol = optx.root_find(
        residual, solver, (y0, period), options=bounds, max_steps=shooting.max_steps, throw=False
    )
    return sol.value[0], sol.value[1], sol.stats["num_steps"]


def find_periodic_orbit(
    vector_field,
    y0: Float[Array, " d"],
    args=None,
    *,
    period=None,
    transient=0.0,
    options: FlowOptions = FlowOptions(),
    shooting: Shooting = Shooting(),
    max_period=1e6,
    escape_radius=None,
    max_returns: int = 60,
    return_tol: float = 1e-3,
    throw: bool = True,
) -> PeriodicOrbit:
    """Find the periodic orbit of `y' = vector_field(t, y, args)` reached from `y0`.

    Without `period`: integrate a `transient`, then iterate the Poincaré return map (section
    through the current point, normal to the flow; crossings located by diffrax events) until two
    returns agree to `return_tol`, giving a point near the cycle and a period estimate; then
    Newton shooting on `(y0, T)` with the phase condition `(y0 − y_ref)·f(y_ref) = 0`. The Newton
    Jacobian `[Φ(T) − I, f(φ_T(y0))]` comes from the variational equation.

    With `period` (a warm start, or an unstable orbit no transient converges to): Newton starts
    from `(y0, period)` directly; if it fails, the return-map search runs from `y0` and Newton
    is tried once more.

    **Arguments:**

    - `vector_field`: `f(t, y, args)` (an `eqx.Module` such as a `SaturatingMLP` or a system).
    - `y0`: where the search starts.
    - `args`: passed to `vector_field`.
    - `period`: optional initial period guess (skips the transient).
    - `transient`: time integrated before the search.
    - `options`: `FlowOptions` for every integration.
    - `shooting`: `Shooting` tolerances.
    - `max_period`: the longest time one Poincaré return may take before the search reports
        `no_orbit` (the trajectory settled on an equilibrium).
    - `escape_radius`: `‖y‖∞` beyond which the trajectory is taken to escape (`no_orbit`);
        default `1e3 · max(1, ‖y0‖∞)`.
    - `max_returns`, `return_tol`: the return-map search budget and agreement tolerance.
    - `throw`: raise on failure (use `False` under `vmap`: the status is in `result`).

    **Returns:** a `PeriodicOrbit`; on failure its `result` says why and its numbers are NaN.
    """
    y0 = jnp.asarray(y0)
    if y0.ndim != 1:
        raise ValueError(f"find_periodic_orbit: y0 must be a 1-D state, got shape {y0.shape}")
    dtype = y0.dtype
    if escape_radius is None:
        escape_radius = 1e3 * _scale(y0)

    def search(y, budget, period_guess):
        return _return_map_search(
            vector_field,
            y,
            args,
            options,
            max_period,
            escape_radius,
            budget,
            return_tol,
            period_guess,
        )

    grid = np.linspace(0.0, 1.0, _RETURN_SAMPLES, dtype=np.dtype(dtype))

    def orbit_samples(y, t):
        # On the unit interval: a member with nothing to shoot (t = 0) costs one step.
        field = OnUnitInterval(vector_field, t)
        return integrate(field, y, 1.0, args, options=options, saveat=dfx.SaveAt(ts=grid)).ys

    def shoot(y, t, active=True):
        t_start = t
        y, t, steps = _newton(vector_field, y, t, args, options, shooting, active)
        samples = orbit_samples(y, t)
        # From a guess near a whole multiple k·T of the period, Newton closes over k·T: shoot
        # once more from the orbit's earliest return.
        earlier, t_return = _earlier_return(vector_field, args, samples, y, t)
        again = jnp.asarray(active) & earlier
        y2, t2, steps2 = _newton(vector_field, y, t_return, args, options, shooting, again)
        y, t = jnp.where(again, y2, y), jnp.where(again, t2, t)
        steps = steps + jnp.where(again, steps2, 0)
        # Re-sampled only where it shot again (elsewhere a zero-length, one-step solve).
        samples = jnp.where(again, orbit_samples(y, jnp.where(again, t, 0.0)), samples)
        y1 = samples[-1]
        closure = jnp.max(jnp.abs(y1 - y))
        # Newton may also slide to the degenerate root T -> 0 (φ_0(y) = y); an orbit much
        # shorter than its guess is that, not a cycle.
        ok = (closure <= shooting.closure_tol * _scale(y)) & (t > 1e-3 * t_start)
        # ...or to an equilibrium (a loop of zero size), e.g. inside a continuum of orbits.
        size = jnp.linalg.norm(vector_field(0.0, y, args)) * t / (2 * jnp.pi)
        ok = ok & jnp.isfinite(closure) & (size > _EQUILIBRIUM_SIZE * _scale(y))
        return y, t, closure, steps, ok

    if period is None:
        sol = integrate(vector_field, y0, transient, args, options=options)
        y_search = sol.ys[-1]
        first_failed = sol.result == dfx.RESULTS.max_steps_reached
        warm = None
    else:
        t_warm = jnp.asarray(period, dtype)
        warm = shoot(y0, t_warm, jnp.isfinite(t_warm) & (t_warm > 0))
        y_search, first_failed = y0, jnp.array(False)
    # The search runs only for members that have no orbit yet: a warm start that converged
    # gets a zero return budget, so under `vmap` the fallback costs it nothing.
    budget = max_returns if warm is None else jnp.where(warm[-1], 0, max_returns)
    t_hint = jnp.asarray(jnp.nan if period is None else period, dtype)
    y_guess, t_guess, returns, search_result = search(y_search, budget, t_hint)
    search_result = RESULTS.where(first_failed, RESULTS.max_steps, search_result)
    searched = shoot(y_guess, t_guess, (search_result == RESULTS.successful) & (budget > 0))
    if warm is None:
        y, t, closure, steps, ok = searched
    else:
        y, t, closure, steps, ok = jax.tree.map(
            lambda a, b: jnp.where(warm[-1], a, b), warm, searched
        )
        search_result = RESULTS.where(warm[-1], RESULTS.successful, search_result)

    finite = jnp.all(jnp.isfinite(y)) & jnp.isfinite(t)
    result = RESULTS.where(
        search_result != RESULTS.successful,
        search_result,
        RESULTS.where(
            ~finite, RESULTS.nonfinite, RESULTS.where(ok, RESULTS.successful, RESULTS.not_converged)
        ),
    )
    good = result == RESULTS.successful
    nan = jnp.asarray(jnp.nan, dtype)
    orbit = PeriodicOrbit(
        y0=jnp.where(good, y, nan),
        period=jnp.where(good, t, nan),
        # A search that found nothing to shoot from has no closure to report.
        closure=jnp.where(search_result == RESULTS.successful, closure, nan).astype(dtype),
        returns=returns,
        newton_steps=jnp.asarray(steps),
        result=result,
    )
    if throw:
        orbit = eqx.error_if(orbit, orbit.result != RESULTS.successful, "no periodic orbit found")
    return orbit


def sample_orbit(
    vector_field,
    orbit: PeriodicOrbit,
    args=None,
    *,
    n: int = 4097,
    options: FlowOptions = FlowOptions(),
) -> Float[Array, "n d"]:
    """`n` points `γ(kT/(n−1))`, `k = 0 … n−1`, of a periodic orbit, in time order.

    A failed orbit (NaN period) gives `n` copies of a NaN point, so batched audits stay NaN there.
    """
    period = jnp.where(jnp.isfinite(orbit.period), orbit.period, 0.0)
    y0 = jnp.where(jnp.isfinite(orbit.y0), orbit.y0, 0.0)
    # On the unit interval: a failed orbit (T = 0) then costs one step under `vmap`.
    ts = np.linspace(0.0, 1.0, n, dtype=np.dtype(y0.dtype))
    field = OnUnitInterval(vector_field, period)
    sol = integrate(field, y0, 1.0, args, options=options, saveat=dfx.SaveAt(ts=ts))
    return jnp.where(orbit.result == RESULTS.successful, sol.ys, jnp.nan)
