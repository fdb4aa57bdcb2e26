"""Lyapunov spectra by tangent-space propagation with periodic QR re-orthonormalisation."""

import math
import warnings

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._bounds import saturation_audit, SaturationAudit
from ._flow import FlowOptions, integrate
from ._mlp import SaturatingMLP
from ._results import RESULTS


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
    - `times`: the renormalisation times, shape `(n,)` (the transient ends at `t = transient`).
    - `samples`: the state at each renormalisation time, shape `(n, d)`: the trajectory samples
        for `lyapunov_audit`.
    - `final_state`: the state at the end of the run.
    - `final_vectors`: the orthonormal tangent vectors at the end, shape `(d, k)`, columns
        ordered as `exponents`.
    - `result`: a `satode.RESULTS` status: `max_steps` if any integration reached
        `FlowOptions.max_steps`, `nonfinite` if a NaN/inf appeared.
    """

    exponents: Float[Array, " k"]
    stderr: Float[Array, " k"]
    sum: Float[Array, ""]
    history: Float[Array, "n k"]
    times: Float[Array, " n"]
    samples: Float[Array, "n d"]
    final_state: Float[Array, " d"]
    final_vectors: Float[Array, "d k"]
    result: RESULTS


class _TangentField(eqx.Module):
    """`(y, Q)' = (f(y), Df(y) Q)`, with `Df Q` as one batch of forward-mode JVPs."""

    vector_field: object

    def __call__(self, t, state, args):
        y, q = state

        def f(z):
            return self.vector_field(t, z, args)

        def jvp(v):
            return jax.jvp(f, (y,), (v,))

        # All k directions at once; Df itself is never formed.
        fy, dq = jax.vmap(jvp, in_axes=1, out_axes=(None, 1))(q)
        return fy, dq


# Below float64, QR loses the small directions once the tangent vectors' growth ratio over one
# interval, roughly e^{Δ·rate}, passes 1/sqrt(eps): Δ·rate > ½ ln(1/eps) (≈ 8 for float32).
def _growth_warning(rate, renorm_interval, dtype) -> None:
    limit = 0.5 * math.log(1 / float(jnp.finfo(dtype).eps))
    rate = float(np.max(rate))
    if renorm_interval * rate > limit:
        warnings.warn(
            f"lyapunov_spectrum: in {jnp.dtype(dtype).name}, renorm_interval={renorm_interval} "
            f"times the growth-rate estimate max|eig Df(y0)| = {rate:.3g} is "
            f"{renorm_interval * rate:.3g} > {limit:.3g} = ½ ln(1/eps): the tangent vectors may "
            "lose orthogonality and precision between renormalisations. Shorten "
            "renorm_interval or use float64.",
            stacklevel=3,
        )


def _check_growth(vector_field, t0, y0, args, renorm_interval) -> None:
    dtype = y0.dtype
    # float64 keeps ~1e-8 relative accuracy up to Δ·rate ≈ 18: only narrower dtypes are checked.
    if jnp.finfo(dtype).eps < 1e-10:
        return
    jac = jax.jacfwd(lambda z: vector_field(t0, z, args))(y0)
    try:
        jac = np.asarray(jac)
    except jax.errors.TracerArrayConversionError:
        # Traced (under jit/vmap): the same check once the values exist.
        def callback(j):
            _growth_warning(np.abs(np.linalg.eigvals(np.asarray(j, float))), renorm_interval, dtype)

        jax.debug.callback(callback, jac)
        return
    _growth_warning(np.abs(np.linalg.eigvals(jac.astype(float))), renorm_interval, dtype)


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
    options: FlowOptions = FlowOptions(),  # noqa: B008 (an immutable Module)
    throw: bool = True,
) -> LyapunovSpectrum:
    """The `k` leading Lyapunov exponents of the trajectory from `y0`, with standard errors.

    The state and `k` tangent vectors `Q` (shape `(d, k)`) are integrated together,

    $$y' = f(y), \\qquad Q' = Df(y)\\, Q,$$

    with `Df Q` computed by `k` forward-mode JVPs of `f` (never forming `Df`). After each
    interval of length `Δ = t_total / n`, `n = round(t_total / renorm_interval)`, the tangent
    vectors are re-orthonormalised, `Q ← Q R` (QR with `diag R > 0`), and `ln R_ii` is added to
    the `i`-th sum. Then `λ_i = Σ ln R_ii / t_total` (Benettin et al.; Shimada & Nagashima).

    Logs are taken interval by interval and `Q` restarts orthonormal each time, so nothing
    under- or overflows however long the run or however strongly the flow contracts (e.g.
    `x' = −x` gives exactly −1 even after the state itself has underflowed). With `k = d`,
    `Σ_i ln R_ii = ln|det Φ_Δ|` on each interval, so `Σ λ_i` equals the time average of
    `tr Df` to the integration tolerance.

    The transient is integrated first, in tangent space too (renormalised every `≈Δ`, logs
    discarded), so that both the state and the tangent vectors have settled when the sums
    start. Standard errors come from batch means over `n_batches` consecutive blocks of
    intervals.

    **Arguments:**

    - `vector_field`: the field `f(t, y, args)`.
    - `y0`: the initial state, shape `(d,)`.
    - `args`: passed to `vector_field`.
    - `t_total`: the averaging time after the transient (a Python number: it sets `n`).
    - `renorm_interval`: the time between QR steps; the interval used is `t_total / n`.
    - `transient`: the time integrated and discarded first (a Python number).
    - `k`: how many exponents (`1 ≤ k ≤ d`; default `d`, the full spectrum).
    - `n_batches`: the number of batches for the standard error (`2 ≤ n_batches ≤ n`).
    - `options`: `FlowOptions`.
    - `throw`: raise if `result` is not successful (use `False` under `vmap`).

    **Returns:**

    A `LyapunovSpectrum`.

    **Raises:**

    `ValueError` at trace time for a non-vector `y0`, a `k` outside `[1, d]`, a non-positive
    `t_total` or `renorm_interval`, a negative `transient`, or fewer than 2 batches or more
    batches than intervals. A `UserWarning` (for dtypes narrower than float64) when
    `renorm_interval · max|eig Df(y0)| > ½ ln(1/eps)`. A runtime error, if `throw`, when the
    integration reached `max_steps` or produced non-finite values.

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
    if not t_total > 0:
        raise ValueError(f"t_total: must be > 0, got {t_total!r}")
    if not renorm_interval > 0:
        raise ValueError(f"renorm_interval: must be > 0, got {renorm_interval!r}")
    if not transient >= 0:
        raise ValueError(f"transient: must be >= 0, got {transient!r}")
    n = max(1, round(t_total / renorm_interval))
    if not (int(n_batches) == n_batches and 2 <= n_batches <= n):
        raise ValueError(
            f"n_batches: must be an integer in [2, n_intervals = {n}], got {n_batches!r}"
        )
    dtype = y0.dtype
    dt = t_total / n
    _check_growth(vector_field, transient, y0, args, renorm_interval)

    field = _TangentField(vector_field)
    # Transient and averaging intervals in one scan (one solver to compile); the transient's
    # logs are dropped afterwards. Times in the state's dtype: diffrax would otherwise promote
    # the state to the times' dtype.
    n_tr = math.ceil(transient / renorm_interval)
    edges = np.concatenate(
        [np.linspace(0.0, transient, n_tr + 1)[:-1], transient + dt * np.arange(n + 1)]
    )
    starts, ends = jnp.asarray(edges[:-1], dtype), jnp.asarray(edges[1:], dtype)

    def body(carry, interval):
        y, q = carry
        t0, t1 = interval
        sol = integrate(field, (y, q), t1, args, options=options, t0=t0)
        y1, raw = sol.ys[0][-1].astype(dtype), sol.ys[1][-1].astype(dtype)
        q1, r = jnp.linalg.qr(raw)
        diag = jnp.diagonal(r)
        sign = jnp.where(diag < 0, -1, 1).astype(dtype)
        failed = sol.result == dfx.RESULTS.max_steps_reached
        return (y1, q1 * sign), (jnp.log(jnp.abs(diag)), y1, failed)

    q0 = jnp.eye(d, k, dtype=dtype)
    (y_end, q_end), (logs, samples, failed) = jax.lax.scan(body, (y0, q0), (starts, ends))
    failed = jnp.any(failed)
    logs, samples = logs[n_tr:], samples[n_tr:]

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

    finite = jnp.all(jnp.isfinite(exponents)) & jnp.all(jnp.isfinite(y_end))
    result = RESULTS.where(
        failed, RESULTS.max_steps, RESULTS.where(finite, RESULTS.successful, RESULTS.nonfinite)
    )
    spectrum = LyapunovSpectrum(
        exponents=exponents[order],
        stderr=stderr[order],
        sum=jnp.sum(exponents),
        history=history[:, order],
        times=jnp.asarray(edges[n_tr + 1 :], dtype),
        samples=samples,
        final_state=y_end,
        final_vectors=q_end[:, order],
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

    Every Lyapunov exponent of a trajectory that stays in `U` lies in `[−C(U), C(U)]`; the
    audit checks `|λ_i| ≤ C_emp ≤ C̃ ≤ C_theory` over the sampled trajectory (SCIENCE §2).

    **Arguments:**

    - `mlp`: the `SaturatingMLP` whose trajectory it is.
    - `samples`: trajectory points in time order, e.g. `LyapunovSpectrum.samples` (states at
        the renormalisation times; zero crossings are detected between consecutive samples, so
        a shorter `renorm_interval` gives a finer audit).
    - `exponents`: the Lyapunov exponents, e.g. `LyapunovSpectrum.exponents`.

    **Returns:**

    A `SaturationAudit` (`δ` per layer, `C_emp`, `C_theory`, `contained`, …); `period` does not
    apply to a trajectory, so `rotation_ratio` and `log_window` are NaN.
    """
    return saturation_audit(mlp, samples, exponents=exponents)
