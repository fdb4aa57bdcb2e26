"""The saturation audit: the bounds of arXiv 2604.00543 evaluated on an orbit or a curve."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from ._mlp import gram_norm, SaturatingMLP


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


def _layer_delta(activation, u: Float[Array, "n w"]):
    """`sup |σ'|` over the sampled path of each pre-activation, peaks between samples included.

    Between consecutive samples a pre-activation passing one of σ's peaks of `|σ'|` (0 for tanh)
    attains that peak, even if no sample lands on it: that is exactly the zero-crossing case.
    """
    sampled = jnp.max(jnp.abs(activation.derivative(u)))
    delta = sampled
    for peak in activation.peaks:
        side = u - peak
        passes = jnp.any((side[:-1] * side[1:] <= 0) & jnp.isfinite(side[1:]))
        delta = jnp.where(passes, jnp.maximum(delta, jnp.abs(activation.derivative(peak))), delta)
    crossing = jnp.any(u[:-1] * u[1:] <= 0)
    return delta, crossing


def _one_layer_refined(mlp: SaturatingMLP, u):
    """`C̃` of a one-hidden-layer planar network from its pre-activations `u` (n, w).

    With `D = diag σ'(u)`: `‖W_2 D^{1/2}‖² = λ_max(W_2 D W_2ᵀ)` and
    `‖D^{1/2} s W_1‖² = λ_max(s² W_1ᵀ D W_1)`: two d×d contractions per sample, the same
    numbers as `refined_factors` without forming the w×d factors sample by sample.
    """
    w1, w2 = mlp.gain * mlp.weights[0], mlp.weights[1]
    dsig = mlp.activation_fn.derivative(u)
    left = jnp.einsum("ik,nk,jk->nij", w2, dsig, w2)
    right = jnp.einsum("ki,nk,kj->nij", w1, dsig, w1)
    return jnp.max(gram_norm(left) * gram_norm(right))


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
    pre = jax.vmap(mlp.pre_activations)(samples)
    deltas, crossings = zip(*(_layer_delta(activation, u) for u in pre), strict=True)
    delta = jnp.stack(deltas)
    c_w = mlp.weight_constant()
    c_theory = c_w * jnp.prod(delta)
    # C_emp through the SVD of each sample's Jacobian: the reference definition, exactly.
    c_emp = jnp.max(jax.vmap(lambda y: jnp.linalg.norm(mlp.jacobian(y), ord=2))(samples))
    if mlp.depth == 1 and mlp.dim <= 2:
        c_refined = _one_layer_refined(mlp, pre[0])
        if not activation.nonnegative_derivative:
            c_refined = jnp.asarray(jnp.nan, dtype)
    else:
        if activation.nonnegative_derivative:
            c_refined = jnp.max(jax.vmap(lambda y: jnp.prod(mlp.refined_factors(y)))(samples))
        else:
            c_refined = jnp.asarray(jnp.nan, dtype)
    nan = jnp.asarray(jnp.nan, dtype)
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
