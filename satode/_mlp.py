"""The saturating MLP vector field of a Neural ODE, with its Jacobian and bound constants."""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._activations import Activation, get_activation


def _as_float_array(x) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        # Integer/bool weights would break differentiation: use the default float dtype.
        x = x.astype(jnp.result_type(float))
    return x


def gram_norm(g: Float[Array, "... k k"]) -> Float[Array, "..."]:
    """`√λ_max` of symmetric PSD 1×1 or 2×2 Gram matrices (batched over leading axes).

    For `G = [[a, b], [b, c]]`, `λ_max = (a + c)/2 + √(((a − c)/2)² + b²)`: a sum of non-negative
    terms (no cancellation), full relative precision — once the entries are scaled to at most 1,
    since a deeply saturated layer has entries ~1e-170 whose squares fall below the smallest
    normal double (the norm then came out a factor 2 too small).
    """
    if g.shape[-1] == 1:
        return jnp.sqrt(g[..., 0, 0])
    a, b, d = g[..., 0, 0], g[..., 0, 1], g[..., 1, 1]
    scale = jnp.maximum(jnp.maximum(jnp.abs(a), jnp.abs(d)), jnp.abs(b))
    scale = jnp.where(scale > 0, scale, 1.0)
    a, b, d = a / scale, b / scale, d / scale
    return jnp.sqrt(scale) * jnp.sqrt(0.5 * (a + d) + jnp.sqrt((0.5 * (a - d)) ** 2 + b * b))


def spectral_norm(m: Float[Array, "r c"]) -> Float[Array, ""]:
    """`‖m‖₂`, through the smaller Gram matrix when it is 1×1 or 2×2 (`gram_norm`).

    A batched SVD of many thin matrices, which the audit needs at every orbit sample, costs far
    more on CPUs. `m` is scaled to entries of at most 1 first, so its Gram matrix neither
    underflows nor overflows. Larger matrices use the SVD.
    """
    r, c = m.shape
    if min(r, c) > 2:
        return jnp.linalg.norm(m, ord=2)
    scale = jnp.max(jnp.abs(m))
    scale = jnp.where(scale > 0, scale, 1.0)
    m = m / scale
    return scale * gram_norm(m @ m.T if r <= c else m.T @ m)


class SaturatingMLP(eqx.Module):
    """A Neural ODE vector field `f(t, y, args)` with a saturation gain `s` and shift `c`.

    With `L` affine layers, `L - 1` hidden activations σ, and weights $W_k$ of shape (out, in):

    $$u_1 = s (W_1 y + b_1 + c), \\qquad a_k = σ(u_k),$$
    $$u_k = s (W_k a_{k-1} + b_k + c) \\quad (k = 2, …, L-1), \\qquad
      f(y) = W_L a_{L-1} + b_L.$$

    $s = 1$, $c = 0$ is the plain network; a larger gain, or a shift that keeps pre-activations
    away from 0, pushes the hidden units into the flat tails of σ. The Jacobian is

    $$Df(y) = W_L D_{L-1} (s W_{L-1}) ⋯ D_1 (s W_1), \\qquad D_k = \\operatorname{diag} σ'(u_k).$$

    `gain` and `shift` are (scalar) array leaves, so vmapping over them never recompiles, e.g.
    `eqx.filter_vmap(lambda s: eqx.tree_at(lambda m: m.gain, mlp, s))(gains)`.

    **Fields:**

    - `weights`: the $L$ matrices $W_k$, shape (out, in).
    - `biases`: the $L$ vectors $b_k$.
    - `gain`: the gain $s$ (scalar array, the weights' dtype).
    - `shift`: the shift $c$ (scalar array, the weights' dtype).
    - `activation`: the name of σ in [`satode.ACTIVATIONS`][] (static).
    """

    weights: tuple[Float[Array, "out in"], ...]
    biases: tuple[Float[Array, " out"], ...]
    gain: Float[Array, ""]
    shift: Float[Array, ""]
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        weights: Sequence[Float[ArrayLike, "out in"]],
        biases: Sequence[Float[ArrayLike, " out"]],
        gain: Float[ArrayLike, ""] = 1.0,
        shift: Float[ArrayLike, ""] = 0.0,
        activation: str = "tanh",
    ):
        """**Arguments:**

        - `weights`: a sequence of $L \\ge 2$ matrices $W_k$ of shape (out, in), with
            `weights[0]` of shape (width_1, d) and `weights[-1]` of shape (d, width_{L-1}).
        - `biases`: a sequence of $L$ vectors, `biases[k]` of length `weights[k].shape[0]`.
        - `gain`: the gain $s$ (a scalar).
        - `shift`: the shift $c$ (a scalar).
        - `activation`: the name of σ (see [`satode.ACTIVATIONS`][]).

        Arrays keep the (floating) dtype they are given; `gain` and `shift` take the dtype of
        `weights[0]`.

        **Raises:**

        `ValueError` naming the argument if there are fewer than two layers, if consecutive
        shapes do not chain, if a bias does not match its weight, if the output dimension is not
        the input dimension (an ODE vector field is square), if `gain`/`shift` are not scalars,
        or if the activation is unknown.
        """
        weights = tuple(_as_float_array(w) for w in weights)
        biases = tuple(_as_float_array(b) for b in biases)
        if len(weights) < 2:
            raise ValueError(
                f"weights: got {len(weights)} layer(s); need at least 2 (one hidden layer and "
                "the linear output layer)"
            )
        dtype = weights[0].dtype
        gain = jnp.asarray(gain, dtype=dtype)
        shift = jnp.asarray(shift, dtype=dtype)
        for name, value in (("gain", gain), ("shift", shift)):
            if value.shape != ():
                raise ValueError(f"{name}: must be a scalar, got shape {value.shape}")
        self.weights = weights
        self.biases = biases
        self.gain = gain
        self.shift = shift
        self.activation = activation

    def __check_init__(self):
        get_activation(self.activation)  # raises InputError (a ValueError) naming it
        weights, biases = self.weights, self.biases
        if len(biases) != len(weights):
            raise ValueError(
                f"biases: got {len(biases)} vectors for {len(weights)} weight matrices"
            )
        for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
            if w.ndim != 2:
                raise ValueError(f"weights[{k}]: expected a matrix (out, in), got shape {w.shape}")
            if b.shape != (w.shape[0],):
                raise ValueError(
                    f"biases[{k}]: expected shape {(w.shape[0],)} to match weights[{k}] of "
                    f"shape {w.shape}, got {b.shape}"
                )
            if k > 0 and w.shape[1] != weights[k - 1].shape[0]:
                raise ValueError(
                    f"weights[{k}]: has {w.shape[1]} inputs but weights[{k - 1}] has "
                    f"{weights[k - 1].shape[0]} outputs (shapes {w.shape} and "
                    f"{weights[k - 1].shape})"
                )
        if weights[-1].shape[0] != weights[0].shape[1]:
            raise ValueError(
                f"weights: output dimension {weights[-1].shape[0]} (weights[-1]) differs from "
                f"input dimension {weights[0].shape[1]} (weights[0]); an ODE vector field "
                "maps R^d to R^d"
            )

    @classmethod
    def random(
        cls,
        key: PRNGKeyArray,
        dim: int,
        width: int,
        depth: int = 1,
        *,
        activation: str = "tanh",
        weight_std: float = 0.5,
        gain: float = 1.0,
        shift: float = 0.0,
        dtype=None,
    ) -> "SaturatingMLP":
        """The paper's initialisation: weights i.i.d. $N(0, \\text{weight\\_std}^2)$, biases 0.

        **Arguments:**

        - `key`: a PRNG key.
        - `dim`: the state dimension $d$.
        - `width`: the number of units of every hidden layer.
        - `depth`: the number of hidden layers ($L - 1$).
        - `activation`, `gain`, `shift`: as in `__init__`.
        - `weight_std`: the standard deviation of the weights.
        - `dtype`: the floating dtype (default: JAX's default float dtype).

        **Returns:**

        A `SaturatingMLP` with layer sizes `dim → width → … → width → dim`.

        **Raises:**

        `ValueError` if a size is not positive.
        """
        for name, value in (("dim", dim), ("width", width), ("depth", depth)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        if dtype is None:
            dtype = jnp.result_type(float)
        sizes = [dim] + [width] * depth + [dim]
        keys = jax.random.split(key, len(sizes) - 1)
        weights = [
            weight_std * jax.random.normal(k, (n_out, n_in), dtype=dtype)
            for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
        ]
        biases = [jnp.zeros(n_out, dtype=dtype) for n_out in sizes[1:]]
        return cls(weights, biases, gain=gain, shift=shift, activation=activation)

    @property
    def dim(self) -> int:
        """The state dimension $d$."""
        return self.weights[0].shape[-1]

    @property
    def depth(self) -> int:
        """The number of hidden layers, $L - 1$."""
        return len(self.weights) - 1

    @property
    def width(self) -> tuple[int, ...]:
        """The widths of the hidden layers."""
        return tuple(w.shape[-2] for w in self.weights[:-1])

    @property
    def activation_fn(self) -> Activation:
        """The [`satode.Activation`][] named by `activation`."""
        return get_activation(self.activation)

    def __call__(self, t, y: Float[Array, " d"], args=None) -> Float[Array, " d"]:
        """The vector field $f(y)$ (autonomous: `t` and `args` are ignored).

        **Arguments:**

        - `t`: time (unused).
        - `y`: the state, shape `(d,)`.
        - `args`: unused; present for the diffrax `vf(t, y, args)` convention.

        **Returns:**

        $f(y)$, shape `(d,)`.
        """
        del t, args
        sigma = self.activation_fn
        a = y
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            a = sigma(self.gain * (w @ a + b + self.shift))
        return self.weights[-1] @ a + self.biases[-1]

    def pre_activations(self, y: Float[Array, " d"]) -> tuple[Float[Array, " width"], ...]:
        """The pre-activations $u_k(y) = s (W_k a_{k-1} + b_k + c)$, one per hidden layer.

        **Arguments:**

        - `y`: the state, shape `(d,)`.

        **Returns:**

        A tuple of $L - 1$ vectors; `u[k]` has length `width[k]`.
        """
        sigma = self.activation_fn
        us = []
        a = y
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            u = self.gain * (w @ a + b + self.shift)
            us.append(u)
            a = sigma(u)
        return tuple(us)

    def jacobian(self, y: Float[Array, " d"]) -> Float[Array, "d d"]:
        """The Jacobian by its explicit product.

        $$Df(y) = W_L D_{L-1} (s W_{L-1}) ⋯ D_1 (s W_1), \\qquad
          D_k = \\operatorname{diag} σ'(u_k(y)).$$

        **Arguments:**

        - `y`: the state, shape `(d,)`.

        **Returns:**

        $Df(y)$, shape `(d, d)`.
        """
        sigma = self.activation_fn
        us = self.pre_activations(y)
        jac = None
        for w, u in zip(self.weights[:-1], us, strict=True):
            sw = self.gain * w
            jac = sw if jac is None else sw @ jac
            jac = sigma.derivative(u)[:, None] * jac
        return self.weights[-1] @ jac

    def weight_constant(self) -> Float[Array, ""]:
        """The weight constant of the main theorem.

        $$C_W = \\|W_L\\|_2 \\prod_{k<L} \\|s W_k\\|_2,$$

        so that $\\|Df(y)\\|_2 \\le C_W \\prod_k δ_k$ with $δ_k = \\max_i |σ'(u_{k,i})|$.

        **Returns:**

        $C_W$, a scalar.
        """
        # ‖s W‖₂ = |s| ‖W‖₂: the norms of the weights alone, which do not change with the gain
        # (under `vmap` over gains they are computed once, not once per level).
        c = spectral_norm(self.weights[-1])
        for w in self.weights[:-1]:
            c = c * (jnp.abs(self.gain) * spectral_norm(w))
        return c

    def refined_factors(self, y: Float[Array, " d"]) -> Float[Array, " L"]:
        """The norms of the factors of the refined bound at `y`.

        Splitting $D_k = D_k^{1/2} D_k^{1/2}$ and regrouping the Jacobian as
        $[W_L D_{L-1}^{1/2}]\\,[D_{L-1}^{1/2} s W_{L-1} D_{L-2}^{1/2}] ⋯ [D_1^{1/2} s W_1]$,
        this returns

        $$\\big(\\|W_L D_{L-1}^{1/2}\\|_2,\\ \\|D_{L-1}^{1/2} s W_{L-1} D_{L-2}^{1/2}\\|_2,\\ …,
          \\ \\|D_1^{1/2} s W_1\\|_2\\big),$$

        whose product is $\\tilde C(y) \\ge \\|Df(y)\\|_2$. For one hidden layer that is
        $\\tilde C = \\|W_2 D^{1/2}\\| \\, \\|D^{1/2} s W_1\\|$.

        Only meaningful when $σ' \\ge 0$ (`activation_fn.nonnegative_derivative`): otherwise
        $\\sqrt{σ'}$ is NaN wherever $σ' < 0$ and so are the affected factors.

        **Arguments:**

        - `y`: the state, shape `(d,)`.

        **Returns:**

        The $L$ factor norms, output layer first.
        """
        sigma = self.activation_fn
        roots = [jnp.sqrt(sigma.derivative(u)) for u in self.pre_activations(y)]
        factors = [self.weights[-1] * roots[-1][None, :]]
        for k in range(len(roots) - 1, 0, -1):
            w = self.gain * self.weights[k]
            factors.append(roots[k][:, None] * w * roots[k - 1][None, :])
        factors.append(roots[0][:, None] * (self.gain * self.weights[0]))
        return jnp.stack([spectral_norm(m) for m in factors])
