import jax
import jax.numpy as jnp
import numpy as np
import pytest

from satode._activations import Activation, ACTIVATIONS, get_activation
from satode._errors import InputError


NAMES = sorted(ACTIVATIONS)

# An even number of points: the grid avoids x = 0 exactly, where relu' has a kink.
X = jnp.linspace(-30.0, 30.0, 6000)


def test_registry_contents():
    assert set(ACTIVATIONS) == {
        "tanh",
        "sigmoid",
        "softsign",
        "softplus",
        "silu",
        "gelu",
        "relu",
        "sin",
        "identity",
    }
    for name, act in ACTIVATIONS.items():
        assert isinstance(act, Activation)
        assert act.name == name
        assert get_activation(name) is act


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_autodiff(name):
    act = get_activation(name)
    autodiff = jax.vmap(jax.grad(act))(X)
    # Closed form vs autodiff of the forward: equal up to float64 rounding.
    np.testing.assert_allclose(act.derivative(X), autodiff, rtol=0, atol=1e-12)


REFERENCE_FORWARD = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softsign": jax.nn.soft_sign,
    "softplus": jax.nn.softplus,
    "silu": jax.nn.silu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "relu": jax.nn.relu,
    "sin": jnp.sin,
    "identity": lambda x: x,
}


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_jax_nn(name):
    x = jnp.linspace(-8.0, 8.0, 1001)
    # Same function, different formula (e.g. erfc vs erf for gelu): rounding only.
    np.testing.assert_allclose(get_activation(name)(x), REFERENCE_FORWARD[name](x), atol=1e-12)


def test_derivatives_accurate_in_the_tails():
    # Independent float64 formulas that keep full relative accuracy where 1 - tanh² underflows.
    x = np.array([5.0, 20.0, 25.0, 100.0])
    for sign in (1.0, -1.0):
        np.testing.assert_allclose(
            get_activation("tanh").derivative(sign * x), 1.0 / np.cosh(x) ** 2, rtol=1e-13
        )
        np.testing.assert_allclose(
            get_activation("sigmoid").derivative(sign * x),
            np.exp(-x) / (1.0 + np.exp(-x)) ** 2,
            rtol=1e-13,
        )
    assert float(get_activation("tanh").derivative(jnp.asarray(800.0))) == 0.0  # no overflow NaN
    assert np.isfinite(float(jax.grad(get_activation("tanh").derivative)(800.0)))


# Step 1e-4 on [-40, 40]: near a smooth maximum the grid misses sup|σ'| by ~|σ'''| h² / 8 < 1e-8.
GRID = jnp.linspace(-40.0, 40.0, 800_001)


@pytest.mark.parametrize("name", NAMES)
def test_sup_derivative(name):
    act = get_activation(name)
    measured = float(jnp.max(jnp.abs(act.derivative(GRID))))
    assert abs(measured - act.sup_derivative) < 1e-6
    # Never above the stated supremum (1e-15: one or two float64 ulps of rounding).
    assert measured <= act.sup_derivative + 1e-15


def test_sup_derivative_hard_coded_values():
    # silu: maximum at the root of x tanh(x/2) = 2; gelu: at x = √2 (closed form).
    x_star = 2.3993572805154675
    assert abs(x_star * np.tanh(x_star / 2) - 2) < 1e-14
    silu = get_activation("silu")
    np.testing.assert_allclose(
        silu.derivative(jnp.asarray(x_star)), silu.sup_derivative, rtol=1e-15
    )
    gelu = get_activation("gelu")
    exact = 0.5 * (1 + 0.8427007929497149) + 1 / (np.e * np.sqrt(np.pi))  # erf(1) to 16 digits
    np.testing.assert_allclose(gelu.sup_derivative, exact, rtol=1e-15)
    np.testing.assert_allclose(gelu.derivative(jnp.sqrt(2.0)), exact, rtol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_nonnegative_flag(name):
    act = get_activation(name)
    assert bool(jnp.all(act.derivative(GRID) >= 0)) == act.nonnegative_derivative


@pytest.mark.parametrize("name", NAMES)
def test_keeps_dtype(name):
    act = get_activation(name)
    x = jnp.linspace(-2.0, 2.0, 5, dtype=jnp.float32)
    assert act(x).dtype == jnp.float32
    assert act.derivative(x).dtype == jnp.float32


def test_unknown_activation():
    with pytest.raises(InputError, match=r"unknown activation 'swish'; expected one of \[.*tanh"):
        get_activation("swish")
