"""The saturation audit: the bounds of arXiv 2604.00543 evaluated on an orbit or a curve."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ._mlp import gram_norm, SaturatingMLP, spectral_norm


# `|λ_i| ≤ C_emp` compares an exact average against a sampled sup; `C_emp ≤ C̃ ≤ C_theory` holds
# pointwise, so only rounding separates the sides: a relative slack of 1e-9 covers both.
_ORDER_SLACK = 1e-9


class SaturationAudit(eqx.Module):
    """The bound audit of a saturating MLP over a set `U` of samples (an orbit or a curve).

    **Fields:**

    - `delta`: `δ_k(U) = sup_U max_i |σ'(u_{k,i})|`, one per hidden layer.
    - `zero_crossing`: per hidden layer, whether some unit's pre-activation crosses 0 on `U`
        (then that layer's `δ` is `σ'` at its peak and the bound cannot attenuate).
    - `c_w`: `C_W = ‖W_L‖₂ ∏_k ‖s W_k‖₂`.
    - `c_theory`: `C(U) = C_W ∏_k δ_k(U)`, the theorem's bound on `‖Df‖₂`.
    - `c_empirical`: `C_emp(U) = max_U ‖Df‖₂`.
    - `c_refined`: `C̃(U)`, the refined bound (NaN unless `σ' ≥ 0`).
    - `rotation_ratio`: `C_emp · T / 2π`, ≥ 1 on any planar periodic orbit (NaN if not planar).
    - `max_abs_exponent`: the largest `|λ_i|` audited (NaN if none was given).
    - `contained`: `|λ_i| ≤ C_emp ≤ C̃ ≤ C_theory` (C̃ skipped where undefined).
    - `log_window`: `C_theory · T`: every multiplier lies in `[e^{−CT}, e^{CT}]`.
    """

    delta: Float[Array, " q"]
    zero_crossing: Bool[Array, " q"]
    c_w: Float[Array, ""]
    c_theory: Float[Array, ""]
    c_empirical: Float[Array, ""]
    c_refined: Float[Array, ""]
    rotation_ratio: Float[Array, ""]
    max_abs_exponent: Float[Array, ""]
    contained: Bool[Array, ""]
    log_window: Float[Array, ""]


def _layer_delta(activation, u: Float[Array, "n w"], slope: Float[Array, "n w"]):
    """`sup |σ'|` over the sampled path of each pre-activation, peaks between samples included.

    Between consecutive samples a pre-activation passing one of σ's peaks of `|σ'|` (0 for tanh)
    attains that peak, even if no sample lands on it: that is exactly the zero-crossing case.
    Some consecutive pair of a path's values brackets a point `p` (`(u_i − p)(u_{i+1} − p) ≤ 0`)
    exactly when `min u ≤ p ≤ max u`, so each unit's range decides it (NaNs bracket nothing).
    """
    delta = jnp.max(jnp.abs(slope))
    lo, hi = jnp.min(u, axis=0), jnp.max(u, axis=0)
    for peak in activation.peaks:
        passes = jnp.any((lo <= peak) & (peak <= hi))
        delta = jnp.where(passes, jnp.maximum(delta, jnp.abs(activation.derivative(peak))), delta)
    return delta, jnp.any((lo <= 0) & (0 <= hi))


def _pre_activations(mlp: SaturatingMLP, samples: Float[Array, "n d"]):
    """`mlp.pre_activations` at every sample, as whole-batch products.

    The first layer contracts only `d` inputs: as `d` broadcast products it fuses with what
    follows, where a `(n, d) @ (d, w)` matrix product with `d ≤ 4` is several times slower on
    CPUs.
    """
    s, c = mlp.gain, mlp.shift
    w1, b1 = mlp.weights[0], mlp.biases[0]
    if mlp.dim <= 4:
        z = sum(samples[:, j : j + 1] * w1[:, j] for j in range(mlp.dim))
    else:
        z = samples @ w1.T
    us = [s * (z + b1 + c)]
    sigma = mlp.activation_fn
    for w, b in zip(mlp.weights[1:-1], mlp.biases[1:-1], strict=True):
        us.append(s * (sigma(us[-1]) @ w.T + b + c))
    return us


def _jacobians(mlp: SaturatingMLP, slopes) -> Float[Array, "n d d"]:
    """`Df` at every sample from the layers' `σ'(u_k)` (n, w_k): `mlp.jacobian`'s product,
    batched over the samples."""
    jac = None
    for w, slope in zip(mlp.weights[:-1], slopes, strict=True):
        sw = mlp.gain * w
        jac = sw[None] if jac is None else jnp.einsum("ij,njk->nik", sw, jac)
        jac = slope[:, :, None] * jac
    return jnp.einsum("ij,njk->nik", mlp.weights[-1], jac)


def _one_layer_products(mlp: SaturatingMLP, slope: Float[Array, "n w"]):
    """`Df`, `W_2 D W_2ᵀ` and `(sW_1)ᵀ D (sW_1)` at every sample, `D = diag σ'(u)`.

    Each entry is linear in `σ'`: `Df_ij = s Σ_k W2_ik W1_kj σ'_k`, and likewise for the two
    Gram matrices of the refined bound, so all `3d²` of them are one `(n, w) @ (w, 3d²)`
    product with a gain-free matrix (shared by every level of a sweep).
    """
    w1, w2 = mlp.weights
    d, s = mlp.dim, mlp.gain
    pairs = lambda x, y: (x[:, :, None] * y[:, None, :]).reshape(x.shape[0], d * d)  # noqa: E731
    table = jnp.concatenate([pairs(w2.T, w1), pairs(w2.T, w2.T), pairs(w1, w1)], axis=1)
    m = (slope @ table).reshape(-1, 3, d, d)
    return s * m[:, 0], m[:, 1], (s * s) * m[:, 2]


def saturation_audit(
    mlp: SaturatingMLP,
    samples: Float[Array, "n d"],
    *,
    period=None,
    exponents: Float[Array, " d"] | None = None,
) -> SaturationAudit:
    """Audit the saturation bounds of `mlp` on the samples of a closed path `U`.

    **Arguments:**

    - `mlp`: the `SaturatingMLP`.
    - `samples`: points of `U` in path order (consecutive samples close, so crossings of σ's
        peaks between them are detected), e.g. from `sample_orbit`.
    - `period`: the time `T` to go round `U` (for the rotation ratio and the multiplier window).
    - `exponents`: Floquet or Lyapunov exponents to check against `C_emp`.

    **Returns:** a `SaturationAudit`.
    """
    activation = mlp.activation_fn
    dtype = samples.dtype
    pre = _pre_activations(mlp, samples)
    slopes = [activation.derivative(u) for u in pre]
    deltas, crossings = zip(
        *(_layer_delta(activation, u, g) for u, g in zip(pre, slopes, strict=True)), strict=True
    )
    delta = jnp.stack(deltas)
    c_w = mlp.weight_constant()
    c_theory = c_w * jnp.prod(delta)
    nan = jnp.asarray(jnp.nan, dtype)
    c_refined = nan
    if mlp.depth == 1 and mlp.dim <= 2:
        # `‖W_2 D^{1/2}‖² = λ_max(W_2 D W_2ᵀ)`, `‖D^{1/2} s W_1‖² = λ_max(s² W_1ᵀ D W_1)`.
        jacobians, left, right = _one_layer_products(mlp, slopes[0])
        if activation.nonnegative_derivative:
            c_refined = jnp.max(gram_norm(left) * gram_norm(right))
    else:
        jacobians = _jacobians(mlp, slopes)
        if activation.nonnegative_derivative:
            c_refined = jnp.max(jax.vmap(lambda y: jnp.prod(mlp.refined_factors(y)))(samples))
    # ‖Df‖₂ per sample in closed form (`spectral_norm`: within a few ulps of the SVD's).
    c_emp = jnp.max(jax.vmap(spectral_norm)(jacobians))
    period = nan if period is None else jnp.asarray(period, dtype)
    planar = samples.shape[1] == 2
    rotation = c_emp * period / (2 * jnp.pi) if planar else nan
    max_abs = nan if exponents is None else jnp.max(jnp.abs(exponents))
    slack = 1 + _ORDER_SLACK
    refined_ok = jnp.isnan(c_refined) | (
        (c_emp <= c_refined * slack) & (c_refined <= c_theory * slack)
    )
    exponent_ok = jnp.isnan(max_abs) | (max_abs <= c_emp * slack)
    contained = exponent_ok & (c_emp <= c_theory * slack) & refined_ok
    return SaturationAudit(
        delta=delta,
        zero_crossing=jnp.stack(crossings),
        c_w=c_w,
        c_theory=c_theory,
        c_empirical=c_emp,
        c_refined=c_refined,
        rotation_ratio=rotation,
        max_abs_exponent=max_abs,
        contained=contained,
        log_window=c_theory * period,
    )
