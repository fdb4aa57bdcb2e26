"""Lyapunov spectra by tangent-space propagation with periodic QR re-orthonormalisation."""

import dataclasses
import math
import warnings

import diffrax as dfx
import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._bounds import saturation_audit, SaturationAudit
from ._flow import FlowOptions, integrate
from ._linalg import orthonormalise
from ._mlp import SaturatingMLP
from ._results import nan_unless, RESULTS


class LyapunovSpectrum(eqx.Module):
    """The Lyapunov spectrum (or its `k` leading exponents) of one trajectory.

    With `n` renormalisation intervals of length `Δ = t_total / n` and `R_j` the triangular
    factor of the QR step ending interval `j` (positive diagonal),
    `λ_i = Σ_j ln R_j[i, i] / t_total`.

    **Fields:**

    - `exponents`: the `k` exponents `λ_1 ≥ … ≥ λ_k`.
    - `stderr`: the standard error of each exponent from `n_batches` batch means:
        `std(batch estimates, ddof=1) / sqrt(n_batches)`.
    - `sum`: `Σ_i λ_i`. With `k = d` it is the time average of `tr Df` along the trajectory
        (Liouville), up to the integration tolerance.
    - `history`: the running estimate after each interval, shape `(n, k)`: row `j` is
        `Σ_{m ≤ j} ln R_m[i, i] / ((j + 1) Δ)`, columns ordered as `exponents`.
    - `times`: the renormalisation times, shape `(n,)` (the averaging starts at
        `t = transient`, so `times[-1] = transient + t_total`).
    - `samples`: the trajectory over the averaging window, shape `(n · m + 1, d)` with
        `m = samples_per_interval`: the state at `transient` and then every `Δ / m`. These are
        the points `lyapunov_audit` evaluates the bounds on.
    - `sample_times`: the times of `samples`, shape `(n · m + 1,)`.
    - `final_state`: the state at the end of the run (`samples[-1]`).
    - `final_vectors`: the orthonormal tangent vectors at the end, shape `(d, k)`, columns
        ordered as `exponents`.
    - `result`: a `satode.RESULTS` status: `max_steps` if any integration reached
        `FlowOptions.max_steps`, `nonfinite` if a NaN/inf appeared (or the solver failed
        otherwise). A failed spectrum reports NaN in every number.
    """

    exponents: Float[Array, " k"]
    stderr: Float[Array, " k"]
    sum: Float[Array, ""]
    history: Float[Array, "n k"]
    times: Float[Array, " n"]
    samples: Float[Array, "s d"]
    sample_times: Float[Array, " s"]
    final_state: Float[Array, " d"]
    final_vectors: Float[Array, "d k"]
    result: RESULTS


class _TangentField(eqx.Module):
    """`(y, Q)' = (f(y), Df(y) Q)` on the flat state `[y, vec Q]`, with `Df Q` as one batch
    of forward-mode JVPs.

    The state is one flat vector rather than a `(y, Q)` pytree: under `vmap` diffrax's stage
    buffers of a matrix leaf cost about 4× more per step (measured on Lorenz, batch 64).
    """

    vector_field: object
    d: int = eqx.field(static=True)
    k: int = eqx.field(static=True)

    def __call__(self, t, state, args):
        y, q = state[: self.d], state[self.d :].reshape(self.d, self.k)

        def f(z):
            return self.vector_field(t, z, args)

        def jvp(v):
            return jax.jvp(f, (y,), (v,))

        # All k directions at once; Df itself is never formed.
        fy, dq = jax.vmap(jvp, in_axes=1, out_axes=(None, 1))(q)
        return jnp.concatenate([fy.astype(state.dtype), dq.reshape(-1).astype(state.dtype)])


# QR of the propagated tangent vectors recovers column i with a relative error of about
# eps · e^{(λ_1 − λ_i) Δ}: once the spread of growth rates over one interval passes ½ ln(1/eps)
# (≈ 8 for float32), the smaller exponents keep less than half of the dtype's digits.
def _limit(dtype) -> float:
    return 0.5 * math.log(1 / float(jnp.finfo(dtype).eps))


def _warn(what: str, value: float, renorm_interval, dtype) -> None:
    warnings.warn(
        f"lyapunov_spectrum: in {jnp.dtype(dtype).name}, {what} over one renorm_interval="
        f"{renorm_interval:g} is {value:.3g} > {_limit(dtype):.3g} = ½ ln(1/eps): the tangent "
        "vectors lose orthogonality and the smaller exponents lose precision between "
        "renormalisations. Shorten renorm_interval"
        + (" or use float64." if jnp.finfo(dtype).eps > 1e-10 else "."),
        UserWarning,
        stacklevel=4,
    )


def _apriori_spread(jac, k):
    """`(Re μ_1 − Re μ_k)`: the spread of the `k` leading growth rates of `Df(y0)`, plus the
    largest `|Re μ|` (which alone decides for `k = 1`)."""
    re = np.sort(np.linalg.eigvals(np.asarray(jac, float)).real)[::-1]
    return max(re[0] - re[k - 1], float(np.max(np.abs(re))) if k == 1 else 0.0)


def _check_growth_apriori(vector_field, t0, y0, args, renorm_interval, k) -> None:
    dtype = y0.dtype
    # A guess from one point (it overstates Lorenz's spread at (1, 1, 1)): float64, with room
    # up to a spread of 18, relies on the check of the realised growth after the run.
    if jnp.finfo(dtype).eps < 1e-10:
        return
    jac = jax.jacfwd(lambda z: vector_field(t0, z, args))(y0)
    try:
        jac = np.asarray(jac)
    except jax.errors.TracerArrayConversionError:
        return  # traced: the a-posteriori check below still runs on the realised growth
    spread = _apriori_spread(jac, k) * renorm_interval
    if spread > _limit(dtype):
        _warn("the growth-rate spread of Df(y0) (Re eig)", spread, renorm_interval, dtype)


def _check_growth_aposteriori(logs, renorm_interval, dtype) -> None:
    """Warn from the realised per-interval growth `ln R_ii`, averaged over the intervals. In
    float64 only a spread between vectors counts (a single vector is sized to its growth,
    `lyapunov_spectrum`'s `body`); narrower dtypes also warn on one vector's growth.

    Computed in the graph; the host is called only when the largest value over a `vmap`ped
    batch exceeds the limit (`unvmap_max`), once: a host callback per member would cost more
    than the run (256 Lorenz members: +20%).
    """
    wide = jnp.finfo(dtype).eps < 1e-10
    if wide and logs.shape[-1] == 1:
        return
    usable = jnp.all(jnp.isfinite(logs), axis=-1)
    if logs.shape[-1] == 1:
        spread = jnp.abs(logs[:, 0])
    else:
        spread = jnp.max(logs, axis=-1) - jnp.min(logs, axis=-1)
    mean = jnp.sum(jnp.where(usable, spread, 0)) / jnp.maximum(jnp.sum(usable), 1)
    worst = eqxi.unvmap_max(mean)

    def warn(value):
        jax.debug.callback(
            lambda v: _warn(
                "the mean realised spread of ln R_ii", float(v), renorm_interval, dtype
            ),
            value,
        )

    jax.lax.cond(worst > _limit(dtype), warn, lambda value: None, worst)


def lyapunov_spectrum(
    vector_field,
    y0: Float[Array, " d"],
    args=None,
    *,
    t_total: float,
    renorm_interval: float = 1.0,
    transient: float = 0.0,
    k: int | None = None,
    n_batches: int = 10,
    samples_per_interval: int = 1,
    options: FlowOptions = FlowOptions(),  # noqa: B008 (an immutable Module)
    throw: bool = True,
) -> LyapunovSpectrum:
    """The `k` leading Lyapunov exponents of the trajectory from `y0`, with standard errors.

    The state and `k` tangent vectors `Q` (shape `(d, k)`) are integrated together,

    $$y' = f(y), \\qquad Q' = Df(y)\\, Q,$$

    with `Df Q` computed by `k` forward-mode JVPs of `f` (never forming `Df`), under the error
    control of `options` (the tangent vectors are error-controlled too), or with fixed steps
    if `options.dt` is set (shortened to a whole number of steps per interval). After each
    interval of length `Δ = t_total / n`, `n = round(t_total / renorm_interval)`, the tangent
    vectors are re-orthonormalised, `Q ← Q R` (QR with `diag R > 0`), and `ln R_ii` is added to
    the `i`-th sum. Then `λ_i = Σ ln R_ii / t_total` (Benettin et al.; Shimada & Nagashima).

    Logs are taken interval by interval and `Q` restarts orthonormal each time, so nothing
    under- or overflows however long the run (e.g. `x' = −x` gives exactly −1 even after the
    state itself has underflowed). Each tangent vector starts an interval scaled up by a power
    of two close to the contraction it is expected to undergo (its rate over the previous
    interval; at first the Rayleigh quotient `q_j · Df(y0) q_j`), so that it ends near unit
    size and the error control holds it to `rtol` of its own size, however strongly the flow
    contracts (`x' = −50x` over `Δ = 5`: −50 to 1e-11). A non-finite `y0` or `f(y0)` gives
    `result = nonfinite` without integrating. With `k = d`,
    `Σ_i ln R_ii = ln|det Φ_Δ|` on each interval, so `Σ λ_i` equals the time average of
    `tr Df` to the integration tolerance.

    The transient is integrated first, in tangent space too (renormalised every `≈Δ`, logs
    discarded, as ChaosTools.jl does), so that both the state and the tangent vectors have
    settled when the sums start; `Q` starts as the first `k` columns of the identity. Standard
    errors come from batch means over `n_batches` consecutive blocks of intervals (for the
    zero exponent of a flow they are conservative: its batch errors telescope).

    **Arguments:**

    - `vector_field`: the field `f(t, y, args)`.
    - `y0`: the initial state, shape `(d,)`.
    - `args`: passed to `vector_field`.
    - `t_total`: the averaging time after the transient (a Python number: it sets `n`).
    - `renorm_interval`: the time between QR steps (ChaosTools' `Δt`); the interval used is
        `t_total / n`.
    - `transient`: the time integrated and discarded first (a Python number).
    - `k`: how many exponents (`1 ≤ k ≤ d`; default `d`, the full spectrum).
    - `n_batches`: the number of batches for the standard error (`2 ≤ n_batches ≤ n`).
    - `samples_per_interval`: trajectory samples kept per interval (dense output), for the
        saturation audit along the trajectory.
    - `options`: `FlowOptions`.
    - `throw`: raise if `result` is not successful (use `False` under `vmap`).

    **Returns:**

    A `LyapunovSpectrum`.

    **Raises:**

    `ValueError` at trace time for a non-vector `y0`, a `k` outside `[1, d]`, a non-positive
    `t_total` or `renorm_interval`, a negative `transient`, fewer than 2 batches or more
    batches than intervals, or `samples_per_interval < 1`. A `UserWarning` when the spread of
    growth rates over one interval exceeds `½ ln(1/eps)` (18 in float64, 8 in float32): checked
    after the run on the realised `ln R_ii` (their mean spread per interval), and for dtypes
    narrower than float64 also before it, on `Df(y0)`. A runtime error, if
    `throw`, when the integration reached `max_steps` or produced non-finite values.

    **References:**

    G. Benettin, L. Galgani, A. Giorgilli, J.-M. Strelcyn, "Lyapunov characteristic exponents
    for smooth dynamical systems and for Hamiltonian systems", Meccanica 15 (1980).
    I. Shimada, T. Nagashima, "A numerical approach to ergodic problem of dissipative dynamical
    systems", Prog. Theor. Phys. 61 (1979).
    """
    y0 = jnp.asarray(y0)
    if not jnp.issubdtype(y0.dtype, jnp.floating):
        y0 = y0.astype(jnp.result_type(float))
    if y0.ndim != 1:
        raise ValueError(f"y0: expected a vector of shape (d,), got shape {y0.shape}")
    d = y0.shape[0]
    k = d if k is None else k
    if not (int(k) == k and 1 <= k <= d):
        raise ValueError(f"k: must be an integer in [1, {d}], got {k!r}")
    k = int(k)
    if not (t_total > 0 and math.isfinite(t_total)):
        raise ValueError(f"t_total: must be a finite number > 0, got {t_total!r}")
    if not (renorm_interval > 0 and math.isfinite(renorm_interval)):
        raise ValueError(f"renorm_interval: must be a finite number > 0, got {renorm_interval!r}")
    if not (transient >= 0 and math.isfinite(transient)):
        raise ValueError(f"transient: must be a finite number >= 0, got {transient!r}")
    n = max(1, round(t_total / renorm_interval))
    if not (int(n_batches) == n_batches and 2 <= n_batches <= n):
        raise ValueError(
            f"n_batches: must be an integer in [2, n_intervals], got {n_batches!r}, where "
            f"n_intervals = round(t_total / renorm_interval) = {n}"
            + ("; lengthen t_total or shorten renorm_interval" if n < max(2, n_batches) else "")
        )
    m = samples_per_interval
    if not (int(m) == m and m >= 1):
        raise ValueError(f"samples_per_interval: must be an integer >= 1, got {m!r}")
    m = int(m)
    dtype = y0.dtype
    dt = t_total / n
    if options.dt is not None:
        # Fixed steps: a whole number of them per interval, so no step is clipped short.
        options = dataclasses.replace(options, dt=dt / math.ceil(dt / options.dt - 1e-9))
    _check_growth_apriori(vector_field, transient, y0, args, renorm_interval, k)

    # Transient and averaging intervals in one scan (one solver to compile); the transient's
    # logs are dropped afterwards. Times in the state's dtype: diffrax would otherwise promote
    # the state to the times' dtype.
    n_tr = math.ceil(transient / renorm_interval)
    edges = np.concatenate(
        [np.linspace(0.0, transient, n_tr + 1)[:-1], transient + dt * np.arange(n + 1)]
    )
    starts, ends = jnp.asarray(edges[:-1], dtype), jnp.asarray(edges[1:], dtype)
    field = _TangentField(vector_field, d, k)
    q0 = jnp.eye(d, k, dtype=dtype)
    # The field and the tangent field at the start, from one evaluation of the tangent field.
    start = field(starts[0], jnp.concatenate([y0, q0.reshape(-1)]), args)
    f0, dq0 = start[:d], start[d:].reshape(d, k)
    # A non-finite start (state or field) integrates nothing: every interval has zero length,
    # and the result is `nonfinite` at once instead of `max_steps` after a futile search.
    finite_start = jnp.all(jnp.isfinite(y0)) & jnp.all(jnp.isfinite(f0))
    ends = jnp.where(finite_start, ends, starts)
    # Under error control, the tangent vectors are sized to their growth (`body`): their rates
    # so far, before any interval the Rayleigh quotients `q_j · Df(y0) q_j`. (Fixed steps
    # control no error: there sizing would change nothing but the cost.)
    sized = options.dt is None
    rate0 = jnp.sum(q0 * dq0, axis=0)
    rate0 = jnp.where(sized & jnp.isfinite(rate0), rate0, 0)
    # Largest up-scaling of a tangent vector: 2^(half the exponent range).
    max_doublings = jnp.finfo(dtype).maxexp // 2
    fractions = jnp.asarray(np.arange(1, m + 1) / m, dtype)

    def body(carry, interval):
        y, q, rate = carry
        t0, t1 = interval
        # A vector expected to contract by e^{rate·Δ} starts scaled up by about as much (a
        # power of two, exact), so that it ends near unit size: the error control then holds
        # it to `rtol` of its own size. Started at unit size, a vector that contracts below
        # `atol / rtol` is controlled only to `atol` and its ln R_jj comes out wrong
        # (`x' = −50x` over Δ = 1: −30.6 instead of −50).
        if sized:
            doublings = jnp.floor(jnp.clip(-rate * (t1 - t0), 0, None) / math.log(2))
            doublings = jnp.minimum(doublings, max_doublings).astype(jnp.int32)
            q = jnp.ldexp(q, doublings)
        if m == 1:
            saveat = dfx.SaveAt(t1=True)
        else:
            # Dense output inside the interval; the last point is t1 itself.
            ts = t0 + (t1 - t0) * fractions
            saveat = dfx.SaveAt(
                subs=[dfx.SubSaveAt(t1=True), dfx.SubSaveAt(ts=ts, fn=lambda t, s, a: s[:d])]
            )
        state = jnp.concatenate([y, q.reshape(-1)])
        sol = integrate(field, state, t1, args, options=options, t0=t0, saveat=saveat)
        end, path = (sol.ys[-1], sol.ys[:, :d]) if m == 1 else (sol.ys[0][-1], sol.ys[1])
        end = end.astype(dtype)
        y1, raw = end[:d], end[d:].reshape(d, k)
        q1, log_r = orthonormalise(raw)
        if sized:
            log_r = log_r - doublings.astype(dtype) * math.log(2)
            # The rates this interval realised (none for a vanished vector or an empty one).
            rate = jnp.where(jnp.isfinite(log_r) & (t1 > t0), log_r / (t1 - t0), 0)
        status = jnp.where(
            sol.result == dfx.RESULTS.successful,
            0,
            jnp.where(sol.result == dfx.RESULTS.max_steps_reached, 1, 2),
        )
        return (y1, q1, rate), (log_r, path.astype(dtype), status)

    carry = (y0, q0, rate0)
    (y_end, q_end, _), (logs, paths, status) = jax.lax.scan(body, carry, (starts, ends))
    # The state where the averaging starts: the end of the transient's last interval.
    y_start = y0 if n_tr == 0 else paths[n_tr - 1, -1]
    logs, paths = logs[n_tr:], paths[n_tr:]
    _check_growth_aposteriori(logs, renorm_interval, dtype)
    samples = jnp.concatenate([y_start[None], paths.reshape(n * m, d)])

    totals = jnp.sum(logs, axis=0)
    exponents = totals / t_total
    order = jnp.argsort(-exponents)
    counts = jnp.arange(1, n + 1, dtype=dtype) * dt
    history = jnp.cumsum(logs, axis=0) / counts[:, None]
    # Consecutive, nearly equal blocks of intervals (static sizes).
    sizes = np.array([len(b) for b in np.array_split(np.arange(n), n_batches)])
    batch_ids = jnp.asarray(np.repeat(np.arange(n_batches), sizes))
    batch = jax.ops.segment_sum(logs, batch_ids, num_segments=n_batches)
    batch = batch / jnp.asarray(sizes * dt, dtype)[:, None]
    stderr = jnp.std(batch, axis=0, ddof=1) / math.sqrt(n_batches)

    finite = finite_start & jnp.all(jnp.isfinite(logs)) & jnp.all(jnp.isfinite(samples))
    worst = jnp.max(status)
    result = RESULTS.where(
        worst == 1,
        RESULTS.max_steps,
        RESULTS.where(finite & (worst == 0), RESULTS.successful, RESULTS.nonfinite),
    )
    sample_times = transient + (dt / m) * np.arange(n * m + 1)
    numbers = (
        exponents[order],
        stderr[order],
        jnp.sum(exponents),
        history[:, order],
        samples,
        y_end,
        q_end[:, order],
    )
    numbers = nan_unless(result == RESULTS.successful, numbers)
    spectrum = LyapunovSpectrum(
        exponents=numbers[0],
        stderr=numbers[1],
        sum=numbers[2],
        history=numbers[3],
        times=jnp.asarray(edges[n_tr + 1 :], dtype),
        samples=numbers[4],
        sample_times=jnp.asarray(sample_times, dtype),
        final_state=numbers[5],
        final_vectors=numbers[6],
        result=result,
    )
    if throw:
        spectrum = eqx.error_if(
            spectrum, spectrum.result != RESULTS.successful, "Lyapunov spectrum failed"
        )
    return spectrum


def lyapunov_audit(
    mlp: SaturatingMLP,
    samples: Float[Array, "n d"],
    exponents: Float[Array, " k"],
) -> SaturationAudit:
    """The saturation audit of an MLP along a trajectory, against its Lyapunov exponents.

    Over any time window, `|ln R_ii| ≤ ∫ ‖Df(y(t))‖₂ dt` for every QR step, so every
    (finite-time) Lyapunov exponent of a trajectory that stays in `U` lies in
    `[−C_emp(U), C_emp(U)] ⊂ [−C(U), C(U)]`. The audit evaluates `δ` per layer, `C_emp`, `C̃`
    and `C_theory` on the sampled trajectory and checks `|λ_i| ≤ C_emp ≤ C̃ ≤ C_theory`
    (SCIENCE §2): the chaotic counterpart of the Floquet audit.

    The samples form an open path (no wrap-around from the last sample to the first): a
    pre-activation changing sign between two consecutive samples passed σ's peak (0 for
    tanh) in between, so that layer's `δ` is `σ'` at the peak and `zero_crossing` is set. A
    sign change and change back between two samples is missed: keep `samples_per_interval`
    high enough that consecutive samples are close.

    **Arguments:**

    - `mlp`: the `SaturatingMLP` whose trajectory it is.
    - `samples`: trajectory points in time order, e.g. `LyapunovSpectrum.samples`.
    - `exponents`: the Lyapunov exponents, e.g. `LyapunovSpectrum.exponents`.

    **Returns:**

    A `SaturationAudit` (`δ` per layer, `zero_crossing`, `C_W`, `C_emp`, `C̃`, `C_theory`,
    `max_abs_exponent`, `contained`); `period` does not apply to a trajectory, so
    `rotation_ratio` and `log_window` are NaN.
    """
    return saturation_audit(mlp, samples, exponents=exponents)
