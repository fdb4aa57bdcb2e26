"""Activation functions with closed-form derivatives and the constants the bounds need."""

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._errors import InputError


_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Activation(eqx.Module):
    """A scalar activation σ with its closed-form derivative σ'.

    The saturation bounds need two facts about σ besides its values:

    - `sup_derivative` $= \\sup_{x \\in \\mathbb{R}} |σ'(x)|$, the value a layer's saturation
      level $δ_k$ takes when one of its pre-activations crosses zero (or sits where $|σ'|$ peaks);
    - `nonnegative_derivative`: whether $σ'(x) \\ge 0$ for every $x$, so that
      $D_k^{1/2} = \\operatorname{diag}(σ'(u_k))^{1/2}$ is real and the refined bound $\\tilde C$
      applies.

    The derivative is written in closed form, in a shape that stays accurate in float64 far
    into the tails (where saturation lives): e.g. $\\tanh'(x) = 4e^{-2|x|} / (1 + e^{-2|x|})^2$
    rather than $1 - \\tanh^2 x$, which rounds to 0 once $|x| \\gtrsim 19$.

    Instances live in [`satode.ACTIVATIONS`][]; look one up with [`satode.get_activation`][].

    **Fields:**

    - `name`: the registry name (`"tanh"`).
    - `sup_derivative`: $\\sup |σ'|$.
    - `nonnegative_derivative`: whether $σ' \\ge 0$ everywhere.
    - `fn`, `fn_derivative`: elementwise callables for σ and σ'.
    - `peaks`: the points where `|σ'|` has a local maximum (0 for tanh). A pre-activation that
      passes one between two samples of an orbit attains it there, so the audit's `δ` does not
      depend on sample placement.
    """

    name: str = eqx.field(static=True)
    sup_derivative: float = eqx.field(static=True)
    nonnegative_derivative: bool = eqx.field(static=True)
    fn: Callable[[Array], Array] = eqx.field(static=True)
    fn_derivative: Callable[[Array], Array] = eqx.field(static=True)
    peaks: tuple[float, ...] = eqx.field(static=True, default=())

    def __call__(self, x: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        """σ(x), elementwise."""
        return self.fn(jnp.asarray(x))

    def derivative(self, x: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        """σ'(x), elementwise, in closed form."""
        return self.fn_derivative(jnp.asarray(x))


def _tanh_derivative(x):
    # sech²(x) = 4 e^{-2|x|} / (1 + e^{-2|x|})²: no overflow, full relative accuracy in the tails.
    e = jnp.exp(-2.0 * jnp.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def _sigmoid_derivative(x):
    # sig(x) sig(-x) instead of sig(x)(1 - sig(x)), which cancels to 0 for large x.
    return jax.nn.sigmoid(x) * jax.nn.sigmoid(-x)


def _softsign(x):
    return x / (1.0 + jnp.abs(x))


def _softsign_derivative(x):
    return 1.0 / (1.0 + jnp.abs(x)) ** 2


def _silu(x):
    return x * jax.nn.sigmoid(x)


def _silu_derivative(x):
    # d/dx [x sig(x)] = sig(x) + x sig(x) sig(-x) = sig(x) (1 + x sig(-x)).
    return jax.nn.sigmoid(x) * (1.0 + x * jax.nn.sigmoid(-x))


def _gelu(x):
    # x Φ(x) with Φ(x) = erfc(-x/√2)/2: erfc keeps relative accuracy in the left tail.
    return 0.5 * x * jax.scipy.special.erfc(-x / _SQRT_2)


def _gelu_derivative(x):
    # Φ(x) + x φ(x).
    return 0.5 * jax.scipy.special.erfc(-x / _SQRT_2) + x * _INV_SQRT_2PI * jnp.exp(-0.5 * x * x)


def _relu(x):
    return jnp.maximum(x, jnp.zeros_like(x))


def _relu_derivative(x):
    # The convention σ'(0) = 0 (a subgradient); the set {0} has measure zero.
    return jnp.where(x > 0, jnp.ones_like(x), jnp.zeros_like(x))


def _identity(x):
    return x


def _ones(x):
    return jnp.ones_like(x)


# sup |silu'|: silu'' = sig(x) sig(-x) (2 - x tanh(x/2)) vanishes at x* = 2.3993572805154675
# (root of x tanh(x/2) = 2, by Brent's method to 1e-15), where silu'(x*) = 1.0998393201288672.
# silu'(-x) = 1 - silu'(x), so the minimum is -0.0998393... and the sup of |silu'| is the max.
_SILU_SUP_DERIVATIVE = 1.0998393201288672
_SILU_PEAK = 2.3993572805154675

# sup |gelu'|: gelu'' = φ(x)(2 - x²) vanishes at x = √2, where
# gelu'(√2) = Φ(√2) + √2 φ(√2) = (1 + erf(1))/2 + 1/(e √π) = 1.128904145185155.
# gelu'(-x) = 1 - gelu'(x), so the minimum is -0.128904... and the sup of |gelu'| is the max.
_GELU_SUP_DERIVATIVE = 1.128904145185155


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("tanh", 1.0, True, jnp.tanh, _tanh_derivative, (0.0,)),
        Activation("sigmoid", 0.25, True, jax.nn.sigmoid, _sigmoid_derivative, (0.0,)),
        Activation("softsign", 1.0, True, _softsign, _softsign_derivative, (0.0,)),
        # softplus' = sigmoid < 1, approached as x → ∞.
        Activation("softplus", 1.0, True, jax.nn.softplus, jax.nn.sigmoid),
        Activation(
            "silu", _SILU_SUP_DERIVATIVE, False, _silu, _silu_derivative, (-_SILU_PEAK, _SILU_PEAK)
        ),
        Activation(
            "gelu", _GELU_SUP_DERIVATIVE, False, _gelu, _gelu_derivative, (-_SQRT_2, _SQRT_2)
        ),
        Activation("relu", 1.0, True, _relu, _relu_derivative),
        # |cos| peaks at every kπ; pre-activations of a sin network stay within a few periods.
        Activation("sin", 1.0, False, jnp.sin, jnp.cos, tuple(k * math.pi for k in range(-16, 17))),
        Activation("identity", 1.0, True, _identity, _ones),
    )
}
"""The built-in activations, by name."""


def get_activation(name: str) -> Activation:
    """Look up an activation by name.

    **Arguments:**

    - `name`: one of the keys of `ACTIVATIONS` (`"tanh"`, `"sigmoid"`, `"softsign"`,
      `"softplus"`, `"silu"`, `"gelu"`, `"relu"`, `"sin"`, `"identity"`).

    **Returns:**

    The [`satode.Activation`][].

    **Raises:**

    `InputError` (a `ValueError`) naming the unknown activation and the known ones.
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None
