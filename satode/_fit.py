"""Vector-field regression: fit a `SaturatingMLP` to samples of a target field (optax)."""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ._mlp import SaturatingMLP


def sample_annulus(
    key: PRNGKeyArray,
    n: int,
    radius: tuple[float, float] = (0.1, 2.0),
    dim: int = 2,
    dtype=None,
) -> Float[Array, "n dim"]:
    """Sample points with radius uniform in `radius` and a uniformly random direction.

    In the plane this is the paper's protocol: $r \\sim U[r_0, r_1]$, $θ \\sim U[0, 2π)$,
    $y = r (\\cos θ, \\sin θ)$. In $d \\ne 2$ dimensions the direction is a normalised standard
    Gaussian vector (uniform on the sphere $S^{d-1}$). Note the density is uniform in $r$, not in
    volume: small radii are over-represented relative to area, as in the paper.

    **Arguments:**

    - `key`: a PRNG key.
    - `n`: the number of points.
    - `radius`: `(r_min, r_max)` with `0 <= r_min <= r_max`.
    - `dim`: the dimension $d$.
    - `dtype`: the floating dtype (default: JAX's default float dtype).

    **Returns:**

    An array of shape `(n, dim)`.

    **Raises:**

    `ValueError` if `n` or `dim` is not positive or `radius` is not an interval in $[0, ∞)$.
    """
    r_min, r_max = radius
    if not 0 <= r_min <= r_max:
        raise ValueError(f"radius: expected (r_min, r_max) with 0 <= r_min <= r_max, got {radius}")
    if n < 1 or dim < 1:
        raise ValueError(f"n and dim must be positive, got n={n}, dim={dim}")
    if dtype is None:
        dtype = jnp.result_type(float)
    key_r, key_dir = jax.random.split(key)
    r = jax.random.uniform(key_r, (n,), dtype=dtype, minval=r_min, maxval=r_max)
    if dim == 2:
        theta = jax.random.uniform(key_dir, (n,), dtype=dtype, minval=0.0, maxval=2 * jnp.pi)
        direction = jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)
    else:
        g = jax.random.normal(key_dir, (n, dim), dtype=dtype)
        direction = g / jnp.linalg.norm(g, axis=-1, keepdims=True)
    return r[:, None] * direction


def sample_box(
    key: PRNGKeyArray,
    n: int,
    box: Sequence[tuple[float, float]],
    dtype=None,
) -> Float[Array, "n dim"]:
    """Sample points uniformly in the box `∏_i [lo_i, hi_i]` (one interval per dimension).

    For fields whose interesting set is not a neighbourhood of the origin, e.g. the Lorenz
    attractor (`box = [(-20, 20), (-27, 27), (0, 50)]`).

    **Arguments:**

    - `key`: a PRNG key.
    - `n`: the number of points.
    - `box`: `(lo, hi)` per dimension, `lo < hi`.
    - `dtype`: the floating dtype (default: JAX's default float dtype).

    **Returns:**

    An array of shape `(n, len(box))`.

    **Raises:**

    `ValueError` if `n` is not positive or an interval is empty or not finite.
    """
    bounds = np.asarray(box, dtype=float)
    if bounds.ndim != 2 or bounds.shape[1] != 2 or bounds.shape[0] < 1:
        raise ValueError(f"box: expected one (lo, hi) pair per dimension, got {box!r}")
    if not (np.all(np.isfinite(bounds)) and np.all(bounds[:, 0] < bounds[:, 1])):
        raise ValueError(f"box: expected finite intervals with lo < hi, got {box!r}")
    if n < 1:
        raise ValueError(f"n must be positive, got n={n}")
    if dtype is None:
        dtype = jnp.result_type(float)
    lo, hi = jnp.asarray(bounds[:, 0], dtype), jnp.asarray(bounds[:, 1], dtype)
    return jax.random.uniform(key, (n, bounds.shape[0]), dtype=dtype, minval=lo, maxval=hi)


def _trainable_spec(mlp: SaturatingMLP, train_first_bias: bool):
    spec = jax.tree.map(lambda _: True, mlp)
    spec = eqx.tree_at(lambda m: (m.gain, m.shift), spec, (False, False))
    if not train_first_bias:
        spec = eqx.tree_at(lambda m: m.biases[0], spec, False)
    return spec


def _project_rows(params, row_norm_max):
    # Scale down the rows of W_1 whose norm exceeds row_norm_max (the paper's projection).
    if row_norm_max is None:
        return params
    w1 = params.weights[0]
    norms = jnp.linalg.norm(w1, axis=1, keepdims=True)
    scale = jnp.where(norms > row_norm_max, row_norm_max / jnp.where(norms > 0, norms, 1), 1)
    return eqx.tree_at(lambda m: m.weights[0], params, w1 * scale.astype(w1.dtype))


@eqx.filter_jit
def _fit_loop(params, static, xs, ys, learning_rate, row_norm_max, steps, optimizer):
    if optimizer == "adam":
        opt = optax.adam(learning_rate)
    else:
        opt = optax.sgd(learning_rate)

    def loss_fn(p):
        mlp = eqx.combine(p, static)
        pred = jax.vmap(lambda y: mlp(None, y))(xs)
        return 0.5 * jnp.mean((pred - ys) ** 2)

    params = _project_rows(params, row_norm_max)
    opt_state = opt.init(params)
    inf = jnp.asarray(jnp.inf, dtype=ys.dtype)

    def step(carry, _):
        p, state, best_p, best_loss = carry
        loss, grads = eqx.filter_value_and_grad(loss_fn)(p)
        better = loss < best_loss
        best_p = jax.tree.map(lambda new, old: jnp.where(better, new, old), p, best_p)
        best_loss = jnp.where(better, loss, best_loss)
        updates, state = opt.update(grads, state, p)
        p = _project_rows(eqx.apply_updates(p, updates), row_norm_max)
        return (p, state, best_p, best_loss), loss

    init = (params, opt_state, params, inf)
    (p, _, best_p, best_loss), history = jax.lax.scan(step, init, None, length=steps)
    # The iterate after the last update has not been scored yet.
    final_loss = loss_fn(p)
    best_p = jax.tree.map(lambda new, old: jnp.where(final_loss < best_loss, new, old), p, best_p)
    return best_p, history


def fit_vector_field(
    mlp: SaturatingMLP,
    target: Callable,
    key: PRNGKeyArray,
    *,
    n_samples: int = 1500,
    radius: tuple[float, float] = (0.1, 2.0),
    steps: int = 5000,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    row_norm_max: float | None = None,
    train_first_bias: bool = True,
    args=None,
    box: Sequence[tuple[float, float]] | None = None,
) -> tuple[SaturatingMLP, Float[Array, " steps"]]:
    """Fit `mlp` to a target vector field by regression on samples (the paper's protocol).

    Samples $y_j$ ($j = 1…N$) are drawn by [`satode.sample_annulus`][] and the loss is

    $$\\mathcal L(θ) = \\tfrac12 \\cdot \\frac{1}{N d} \\sum_{j} \\|f_θ(y_j) - g(y_j)\\|_2^2,$$

    half the mean squared error of the field ($g$ the target). The whole loop is one
    `jax.lax.scan` under `eqx.filter_jit`. `gain` and `shift` are never trained; with
    `train_first_bias=False` neither is $b_1$ (the paper freezes $b_1$ when it trains with a
    bias shift, so the optimiser cannot undo the shift). With `row_norm_max` every row of $W_1$
    is projected to norm $\\le$ `row_norm_max` after every step (and once before the first), so
    that with a shift $c$ and $\\|y\\| \\le 1$ the pre-activations stay $\\ge c - $ `row_norm_max`.

    As in the paper, the parameters with the lowest loss seen are returned, not the last ones.

    **Arguments:**

    - `mlp`: the initial network (e.g. [`satode.SaturatingMLP.random`][]).
    - `target`: the field to fit, `target(t, y, args) -> dy/dt` (evaluated at `t = 0`).
    - `key`: a PRNG key for the samples.
    - `n_samples`: the number of sample points.
    - `radius`: `(r_min, r_max)` of the sampling annulus.
    - `steps`: the number of optimiser steps.
    - `learning_rate`: the step size.
    - `optimizer`: `"adam"` or `"sgd"` (plain gradient descent).
    - `row_norm_max`: if given, the bound on the row norms of $W_1$.
    - `train_first_bias`: whether $b_1$ is trained.
    - `args`: passed to `target`.
    - `box`: if given, sample uniformly in this box ([`satode.sample_box`][]) instead of the
        annulus (`radius` is then unused).

    **Returns:**

    `(fitted, losses)`: the best network seen (same gain, shift and activation as `mlp`), and
    the loss $\\mathcal L$ at each step's iterate before its update, shape `(steps,)`.

    **Raises:**

    `ValueError` naming the argument for an unknown optimiser, non-positive sizes, a bad
    `radius` or `row_norm_max`, or a target whose output does not have shape `(d,)`.
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {optimizer!r}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps: must be a positive integer, got {steps!r}")
    if row_norm_max is not None and not row_norm_max > 0:
        raise ValueError(f"row_norm_max: must be positive, got {row_norm_max!r}")
    dtype = mlp.weights[0].dtype
    if box is None:
        xs = sample_annulus(key, n_samples, radius, dim=mlp.dim, dtype=dtype)
    else:
        if len(box) != mlp.dim:
            raise ValueError(f"box: expected {mlp.dim} intervals (one per dimension), got {box!r}")
        xs = sample_box(key, n_samples, box, dtype=dtype)
    ys = jax.vmap(lambda y: jnp.asarray(target(jnp.zeros((), dtype), y, args)))(xs)
    if ys.shape != xs.shape:
        raise ValueError(
            f"target: returned shape {ys.shape[1:]} at a state of shape {xs.shape[1:]}; "
            "expected the same (a vector field on R^d)"
        )
    ys = ys.astype(dtype)

    params, static = eqx.partition(mlp, _trainable_spec(mlp, train_first_bias))
    rnm = None if row_norm_max is None else jnp.asarray(row_norm_max, dtype=dtype)
    best, history = _fit_loop(
        params,
        static,
        xs,
        ys,
        jnp.asarray(learning_rate, dtype=dtype),
        rnm,
        int(steps),
        optimizer,
    )
    return eqx.combine(best, static), history
