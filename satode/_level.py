"""One sweep level as one loop around one fused variational solve (the sweep's hot path).

`find_periodic_orbit` + `floquet` + `sample_orbit` integrate the same orbit up to six times
(event-located Poincaré returns, Newton steps, a closure check, the monodromy, the audit
samples), through five differently configured `diffeqsolve`s that each compile separately.
`analyse_level` does the same job with one `diffeqsolve` call site: every iteration of its loop
integrates the variational system `(y, Φ, ∫tr Df)` from the current point, saving a fixed grid of
samples, and the iteration's mode decides what the solve was for:

- *transient*: integrate `transient` and move on;
- *search*: a Poincaré return: the first down-crossing of the section through the window's start
    (normal to the flow there) is located on the samples by cubic Hermite interpolation (the
    derivative of the section function is `f`); returns are iterated until two agree to
    `return_tol`, as in `find_periodic_orbit`;
- *Newton*: shooting on `(y, T)` with the phase condition `(y − p)·n = 0` on a section `(p, n)`;
    the Newton matrix `[[Φ − I, f(φ_T(y))], [nᵀ, 0]]` comes from the same solve.

Newton stops right after a solve whose closure `‖φ_T(y) − y‖∞` is below `shooting.atol · scale`,
so that one solve is at once the last Newton evaluation, the closure check, the monodromy `Φ(T)`,
the Liouville integral and the audit samples: with a good prediction a level costs one solve.
"""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._flow import FlowOptions, OnUnitInterval, variational_flow
from ._periodic_orbit import (
    _earlier_return,
    _EQUILIBRIUM_SIZE,
    _locate_return,
    _scale,
    _SETTLED_SPEED,
    _unit,
    PeriodicOrbit,
    Shooting,
)
from ._results import RESULTS


_TRANSIENT, _SEARCH, _NEWTON, _DONE = 0, 1, 2, 3
# Samples per search window, at least: three laps at 85 samples a lap put the Hermite error of a
# located crossing near 1e-7 of the orbit's size, far below the return tolerance (1e-3).
_MIN_SEARCH_SAMPLES = 257


class LevelSolve(eqx.Module):
    """The orbit one level ends on, with the outputs of its last variational solve.

    **Fields:** `orbit` (`PeriodicOrbit`), `matrix` (`Φ(T)`), `trace_integral` (`∫_0^T tr Df`),
    `end` (`φ_T(y0)`), `samples` (`γ(kT/(n−1))`, `k = 0 … n−1`), `solves` (variational solves
    this level took), `section` (`(p, n)`: the phase section its Newton used), `refined`
    (`(y, T)`: the orbit's point and period after one more Newton step from the last solve —
    closer to the exact orbit than `orbit`, whose outputs come from the solve itself; what a
    continuation should extrapolate from).
    """

    orbit: PeriodicOrbit
    matrix: Float[Array, "d d"]
    trace_integral: Float[Array, ""]
    end: Float[Array, " d"]
    samples: Float[Array, "n d"]
    solves: Array
    section: tuple[Array, Array]
    refined: tuple[Array, Array]


class _Carry(eqx.Module):
    mode: Array
    y: Array  # where the next solve starts
    length: Array  # how long it integrates (window or period)
    start: Array  # search: the section's point; Newton: the starting period
    normal: Array  # search: the section's unit normal
    section_p: Array  # Newton's phase section
    section_n: Array
    window: Array
    period: Array  # the last return time
    returns: Array
    newton: Array  # Newton solves so far
    t_start: Array  # the period Newton started from
    searched: Array  # whether the search has run (the warm start's fallback is spent)
    budget: Array
    result: RESULTS
    ok: Array
    closure: Array
    matrix: Array
    trace: Array
    end: Array
    samples: Array
    solves: Array
    refined_y: Array
    refined_t: Array


def analyse_level(
    vector_field,
    y0: Float[Array, " d"],
    args=None,
    *,
    period=None,
    section=None,
    transient=0.0,
    n_samples: int = 2049,
    options: FlowOptions = FlowOptions(),
    shooting: Shooting = Shooting(),
    max_period=1e6,
    escape_radius=None,
    max_returns: int = 60,
    return_tol: float = 1e-3,
    active=True,
) -> LevelSolve:
    """Find the periodic orbit reached from `y0` and its monodromy, in one fused loop.

    The same job as `find_periodic_orbit` followed by `monodromy` and `sample_orbit`, with the
    same acceptance rules and statuses (see the module docstring for how it differs).

    **Arguments:** as `find_periodic_orbit`, plus:

    - `period`: a period guess (NaN or `None`: none). With it, Newton starts from `(y0, period)`
        and falls back to the search from `y0` if it fails.
    - `section`: `(p, n)`, the phase section for Newton (default: through `y0`, normal to the
        flow there). A fixed section along a continuation makes the orbit points a smooth
        function of the level, so they extrapolate well.
    - `n_samples`: orbit samples returned for the audit.
    - `active`: `False` makes this member a no-op (padding under `vmap`).

    **Returns:** a `LevelSolve`; on failure its orbit's `result` says why.
    """
    y0 = jnp.asarray(y0)
    dtype = y0.dtype
    d = y0.shape[0]
    n_save = max(n_samples, _MIN_SEARCH_SAMPLES)
    active = jnp.asarray(active) & jnp.all(jnp.isfinite(y0))
    if escape_radius is None:
        escape_radius = 1e3 * _scale(y0)
    speed0 = jnp.linalg.norm(vector_field(0.0, y0, args))
    t_guess = jnp.asarray(jnp.nan if period is None else period, dtype)
    warm = active & jnp.isfinite(t_guess) & (t_guess > 0)
    if section is None:
        section = (y0, _unit(vector_field(0.0, y0, args))[0])
    p, nrm = (jnp.asarray(x, dtype) for x in section)
    lap = 2 * jnp.pi * _scale(y0) / jnp.where(speed0 > 0, speed0, 1.0)
    transient = jnp.asarray(transient, dtype)
    first_mode = jnp.where(
        ~active, _DONE, jnp.where(warm, _NEWTON, jnp.where(transient > 0, _TRANSIENT, _SEARCH))
    )
    zero = jnp.zeros((), dtype)
    init = _Carry(
        mode=first_mode,
        y=jnp.where(active, y0, 0.0),
        length=jnp.where(warm, t_guess, jnp.where(transient > 0, transient, 3 * lap)),
        start=jnp.where(active, y0, 0.0),
        normal=_unit(vector_field(0.0, y0, args))[0],
        section_p=p,
        section_n=nrm,
        window=3 * jnp.where(warm, t_guess, lap),
        period=jnp.asarray(jnp.nan, dtype),
        returns=jnp.array(0),
        newton=jnp.array(0),
        t_start=jnp.where(warm, t_guess, zero),
        searched=~warm,
        budget=jnp.asarray(max_returns),
        result=RESULTS.successful,
        ok=jnp.array(False),
        closure=jnp.asarray(jnp.inf, dtype),
        matrix=jnp.full((d, d), jnp.nan, dtype),
        trace=jnp.asarray(jnp.nan, dtype),
        end=jnp.full((d,), jnp.nan, dtype),
        samples=jnp.full((n_save, d), jnp.nan, dtype),
        solves=jnp.array(0),
        refined_y=jnp.full((d,), jnp.nan, dtype),
        refined_t=jnp.asarray(jnp.nan, dtype),
    )
    # Every solve runs on the unit interval (`OnUnitInterval`), with fixed sample grids: the
    # search spreads `n_save` samples over its window, Newton saves the audit grid `T·k/(n−1)`
    # (the same grid when `n_samples ≥ n_save`). In the state's dtype: diffrax would otherwise
    # promote the state to the times' dtype.
    search_grid = np.linspace(0.0, 1.0, n_save, dtype=np.dtype(dtype))
    audit_grid = np.linspace(0.0, 1.0, n_samples, dtype=np.dtype(dtype))
    own_audit_grid = n_samples != n_save
    state_of = lambda s, state, a: state[0]  # noqa: E731
    subs = [dfx.SubSaveAt(ts=search_grid, fn=state_of), dfx.SubSaveAt(t1=True)]
    if own_audit_grid:
        subs.append(dfx.SubSaveAt(ts=audit_grid, fn=state_of))
    saveat = dfx.SaveAt(subs=subs)

    def escaped(s, state, args, **kwargs):
        return jnp.max(jnp.abs(state[0])) > escape_radius

    def settled(s, state, args, **kwargs):
        return jnp.linalg.norm(vector_field(s, state[0], args)) < _SETTLED_SPEED * speed0

    event = dfx.Event((escaped, settled))

    def cond(c):
        return c.mode != _DONE

    def body(c):
        running = c.mode != _DONE
        length = jnp.where(running, c.length, 0.0)
        sol = variational_flow(
            OnUnitInterval(vector_field, length),
            c.y,
            1.0,
            args,
            options=options,
            saveat=saveat,
            event=event,
        )
        samples = sol.ys[0]
        ts = length * search_grid
        end, matrix, trace = (x[-1] for x in sol.ys[1])
        # What an accepted Newton solve keeps for the audit (its first `n_samples` are returned).
        audit_samples = (
            jnp.concatenate([sol.ys[2], samples[n_samples:]]) if own_audit_grid else samples
        )
        hit_max = sol.result == dfx.RESULTS.max_steps_reached
        escape, settle = sol.event_mask
        stopped = escape | settle
        scale = _scale(c.y)

        # --- transient: on to the search from where it ended.
        tr = dict(mode=_SEARCH, y=end, start=end, normal=_unit(vector_field(0.0, end, args))[0])

        # --- search: one Poincaré return.
        crossed, point, time = _locate_return(vector_field, args, samples, ts, c.start, c.normal)
        crossed = crossed & ~stopped
        size = jnp.linalg.norm(vector_field(0.0, point, args)) * time / (2 * jnp.pi)
        gap = jnp.max(jnp.abs(point - c.start)) / jnp.where(size > 0, size, 1.0)
        collapsed = crossed & ~(size > _EQUILIBRIUM_SIZE * _scale(point))
        too_slow = ~crossed & (c.window >= max_period)
        search_fail = stopped | collapsed | too_slow | ~(speed0 > 0)
        found = crossed & (gap < return_tol) & ~search_fail
        returns = c.returns + 1
        out_of_budget = returns >= c.budget
        s_period = jnp.where(crossed, time, c.period)
        to_newton = found | (out_of_budget & jnp.isfinite(s_period) & ~search_fail)
        s_y = jnp.where(crossed, point, end)
        s_window = jnp.where(crossed, 3 * time, jnp.minimum(4 * c.window, max_period))
        s_result = RESULTS.where(
            hit_max,
            RESULTS.max_steps,
            RESULTS.where(
                search_fail | (out_of_budget & ~to_newton), RESULTS.no_orbit, RESULTS.successful
            ),
        )
        s_normal = _unit(vector_field(0.0, s_y, args))[0]
        s_done = s_result != RESULTS.successful
        s_mode = jnp.where(s_done, _DONE, jnp.where(to_newton, _NEWTON, _SEARCH))

        # --- Newton: the closure of this solve, then accept, step, or fall back.
        closure = jnp.max(jnp.abs(end - c.y))
        converged = closure <= shooting.atol * scale
        phase = jnp.dot(c.y - c.section_p, c.section_n)
        jac = jnp.block(
            [
                [matrix - jnp.eye(d, dtype=dtype), vector_field(c.length, end, args)[:, None]],
                [c.section_n[None, :], jnp.zeros((1, 1), dtype)],
            ]
        )
        step = jnp.linalg.solve(jac, -jnp.concatenate([end - c.y, phase[None]]))
        far = 1e3 * _scale(c.section_p)  # as find_periodic_orbit: keep shooting meaningful
        n_y = jnp.clip(c.y + step[:d], c.section_p - far, c.section_p + far)
        n_t = jnp.clip(c.length + step[d], c.t_start / 4, c.t_start * 4)
        newton = c.newton + 1
        exhausted = newton > shooting.max_steps
        finite = jnp.all(jnp.isfinite(end)) & jnp.isfinite(closure) & ~hit_max
        # A Newton whose closure stops shrinking is not converging (from a poor guess it can
        # cycle); stop it and let the search take over rather than spend all its steps.
        stalled = (newton >= 2) & ~(closure < c.closure)
        n_stop = converged | exhausted | stalled | ~finite | jnp.any(~jnp.isfinite(step))
        loop = jnp.linalg.norm(vector_field(0.0, c.y, args)) * c.length / (2 * jnp.pi)
        accept = (
            finite
            & (closure <= shooting.closure_tol * scale)
            & (c.length > 1e-3 * c.t_start)
            & (loop > _EQUILIBRIUM_SIZE * scale)
        )
        # A Newton started near a whole multiple k·T of the period (a warm start from a slower
        # neighbour) closes over k·T and passes every check above: it goes on from the orbit's
        # earliest return instead, with a fresh closure history.
        earlier, t_return = _earlier_return(vector_field, args, samples, c.y, c.length)
        multiple = (c.mode == _NEWTON) & accept & earlier & n_stop
        accept = accept & ~multiple
        n_stop = n_stop & ~multiple
        n_y = jnp.where(multiple, c.y, n_y)
        n_t = jnp.where(multiple, t_return, n_t)
        n_fallback = n_stop & ~accept & ~c.searched
        n_result = RESULTS.where(
            accept,
            RESULTS.successful,
            RESULTS.where(
                hit_max,
                RESULTS.max_steps,
                RESULTS.where(finite, RESULTS.not_converged, RESULTS.nonfinite),
            ),
        )
        n_mode = jnp.where(n_fallback, _SEARCH, jnp.where(n_stop, _DONE, _NEWTON))

        mode = c.mode
        is_tr, is_s, is_n = mode == _TRANSIENT, mode == _SEARCH, mode == _NEWTON
        # The search section is set where the search starts; Newton's section where Newton starts.
        newton_from_search = is_s & (s_mode == _NEWTON)
        pick = lambda t, s, n, old: jnp.where(is_tr, t, jnp.where(is_s, s, jnp.where(is_n, n, old)))  # noqa: E731
        # A Newton that stops keeps the point its last solve started from (that solve is the
        # orbit's); one that fails from a warm start searches from `y0` instead.
        new_y = pick(end, s_y, jnp.where(n_fallback, y0, jnp.where(n_stop, c.y, n_y)), c.y)
        new_length = pick(
            c.window,
            jnp.where(s_mode == _NEWTON, s_period, s_window),
            jnp.where(n_fallback, c.window, jnp.where(n_stop, c.length, n_t)),
            c.length,
        )
        new_normal = pick(
            tr["normal"],
            s_normal,
            jnp.where(n_fallback, _unit(vector_field(0.0, y0, args))[0], c.normal),
            c.normal,
        )
        section_p = jnp.where(newton_from_search, s_y, c.section_p)
        section_n = jnp.where(newton_from_search, s_normal, c.section_n)
        keep_solve = is_n & n_stop & accept
        step_ok = jnp.all(jnp.isfinite(step))  # a singular Newton matrix refines nothing
        return _Carry(
            mode=pick(_SEARCH, s_mode, n_mode, mode),
            y=new_y,
            length=new_length,
            start=pick(end, s_y, jnp.where(n_fallback, y0, c.start), c.start),
            normal=new_normal,
            section_p=section_p,
            section_n=section_n,
            window=jnp.where(is_s, s_window, c.window),
            period=jnp.where(is_s, s_period, c.period),
            returns=jnp.where(is_s, returns, c.returns),
            newton=jnp.where(is_n, jnp.where(n_fallback, 0, newton), c.newton),
            t_start=jnp.where(
                newton_from_search, s_period, jnp.where(is_n & multiple, t_return, c.t_start)
            ),
            searched=c.searched | n_fallback,
            budget=c.budget,
            result=RESULTS.where(
                is_s & s_done,
                s_result,
                RESULTS.where(is_n & n_stop & ~n_fallback, n_result, c.result),
            ),
            ok=jnp.where(is_n & n_stop & ~n_fallback, accept, c.ok),
            closure=jnp.where(is_n, jnp.where(multiple, jnp.inf, closure), c.closure),
            matrix=jnp.where(keep_solve, matrix, c.matrix),
            trace=jnp.where(keep_solve, trace, c.trace),
            end=jnp.where(keep_solve, end, c.end),
            samples=jnp.where(keep_solve, audit_samples, c.samples),
            solves=c.solves + running,
            refined_y=jnp.where(keep_solve, jnp.where(step_ok, c.y + step[:d], c.y), c.refined_y),
            refined_t=jnp.where(
                keep_solve, jnp.where(step_ok, c.length + step[d], c.length), c.refined_t
            ),
        )

    c = jax.lax.while_loop(cond, body, init)
    good = c.ok & (c.result == RESULTS.successful) & active
    result = RESULTS.where(
        good,
        RESULTS.successful,
        RESULTS.where(c.result == RESULTS.successful, RESULTS.not_converged, c.result),
    )
    nan = jnp.asarray(jnp.nan, dtype)
    orbit = PeriodicOrbit(
        y0=jnp.where(good, c.y, nan),
        period=jnp.where(good, c.length, nan),
        closure=c.closure,
        returns=c.returns,
        newton_steps=jnp.maximum(c.newton - 1, 0),
        result=result,
    )
    return LevelSolve(
        orbit=orbit,
        matrix=c.matrix,
        trace_integral=c.trace,
        end=c.end,
        samples=jnp.where(good, c.samples[:n_samples], nan),
        solves=c.solves,
        section=(c.section_p, c.section_n),
        refined=(jnp.where(good, c.refined_y, nan), jnp.where(good, c.refined_t, nan)),
    )
