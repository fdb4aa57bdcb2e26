import functools as ft
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from satode._activations import ACTIVATIONS
from satode._io import load_mlp
from satode._mlp import SaturatingMLP


NONNEGATIVE = sorted(n for n, a in ACTIVATIONS.items() if a.nonnegative_derivative)


def _numpy_field(weights, biases, gain, shift, sigma, y):
    """SCIENCE.md §1 evaluated in numpy, independently of the library."""
    a = np.asarray(y)
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        a = sigma(gain * (np.asarray(w) @ a + np.asarray(b) + shift))
    return np.asarray(weights[-1]) @ a + np.asarray(biases[-1])


def test_random_init(key):
    mlp = SaturatingMLP.random(key, 3, 200, depth=2, gain=1.5, shift=0.25)
    assert (mlp.dim, mlp.depth, mlp.width) == (3, 2, (200, 200))
    assert [w.shape for w in mlp.weights] == [(200, 3), (200, 200), (3, 200)]
    assert all(w.dtype == jnp.float64 for w in mlp.weights)
    assert mlp.gain.dtype == mlp.shift.dtype == jnp.float64
    assert float(mlp.gain) == 1.5 and float(mlp.shift) == 0.25
    assert all(float(jnp.max(jnp.abs(b))) == 0.0 for b in mlp.biases)
    # 40,000 N(0, 0.5²) samples: the sample std is within ~0.35% (1σ) of 0.5; 2% is ~6σ.
    np.testing.assert_allclose(jnp.std(mlp.weights[1]), 0.5, rtol=2e-2)
    assert mlp.activation == "tanh"


def test_dtype_is_kept(key):
    mlp = SaturatingMLP.random(key, 3, 5, dtype=jnp.float32, activation="gelu")
    assert mlp.weights[0].dtype == mlp.gain.dtype == jnp.float32
    y = jnp.ones(3, jnp.float32)
    assert mlp(0.0, y).dtype == jnp.float32
    assert mlp.jacobian(y).dtype == jnp.float32


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_call_matches_numpy(key, depth):
    mlp = SaturatingMLP.random(key, 3, 6, depth, gain=1.7, shift=0.3)
    for y in jax.random.normal(jax.random.key(1), (5, 3)):
        expected = _numpy_field(mlp.weights, mlp.biases, 1.7, 0.3, np.tanh, y)
        np.testing.assert_allclose(mlp(0.0, y), expected, rtol=1e-13, atol=1e-14)
        us = mlp.pre_activations(y)
        assert len(us) == depth
        w1 = np.asarray(mlp.weights[0])
        np.testing.assert_allclose(us[0], 1.7 * (w1 @ np.asarray(y) + 0.3), rtol=1e-13)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_jacobian_matches_jacfwd(key, name):
    ys = jax.random.normal(jax.random.key(7), (4, 3))
    for depth in (1, 2, 3):
        k1, k2 = jax.random.split(jax.random.fold_in(key, depth))
        mlp = SaturatingMLP.random(k1, 3, 5, depth, activation=name, gain=1.3, shift=-0.2)
        # Non-zero biases, so every layer's bias path is exercised.
        biases = tuple(
            0.3 * jax.random.normal(k, b.shape)
            for k, b in zip(jax.random.split(k2, depth + 1), mlp.biases, strict=True)
        )
        mlp = eqx.tree_at(lambda m: m.biases, mlp, biases)
        explicit = jax.vmap(mlp.jacobian)(ys)
        autodiff = jax.vmap(jax.jacfwd(ft.partial(mlp, 0.0)))(ys)
        # Same product in a different order: float64 rounding only.
        np.testing.assert_allclose(explicit, autodiff, rtol=0, atol=1e-12)


def test_weight_constant_matches_numpy(key):
    mlp = SaturatingMLP.random(key, 3, 5, 2, gain=2.5)
    w = [np.asarray(x) for x in mlp.weights]
    expected = (
        np.linalg.norm(w[2], 2) * np.linalg.norm(2.5 * w[1], 2) * np.linalg.norm(2.5 * w[0], 2)
    )
    np.testing.assert_allclose(mlp.weight_constant(), expected, rtol=1e-13)


def _bound_chain(mlp, gain, y):
    """(‖Df(y)‖, C̃(y), C_W ∏ δ_k(y)) at gain `gain` and shift 0.4."""
    m = eqx.tree_at(lambda m: (m.gain, m.shift), mlp, (gain, jnp.asarray(0.4)))
    actual = jnp.linalg.norm(m.jacobian(y), ord=2)
    refined = jnp.prod(m.refined_factors(y))
    deltas = [jnp.max(jnp.abs(m.activation_fn.derivative(u))) for u in m.pre_activations(y)]
    return actual, refined, m.weight_constant() * jnp.prod(jnp.stack(deltas))


@pytest.mark.parametrize("name", NONNEGATIVE)
def test_bound_chain(key, name):
    ys = 1.5 * jax.random.normal(jax.random.key(3), (10, 3))
    gains = jnp.array([0.5, 1.0, 4.0])
    chain = jax.vmap(jax.vmap(_bound_chain, (None, None, 0)), (None, 0, None))
    for depth in (1, 2, 3):
        mlp = SaturatingMLP.random(jax.random.fold_in(key, depth), 3, 5, depth, activation=name)
        actual, refined, original = chain(mlp, gains, ys)
        assert actual.shape == (3, 10)
        # ‖Df‖ ≤ C̃ ≤ C_W ∏ δ_k (SCIENCE.md §2); slack 1e-12 relative for SVD rounding.
        assert bool(jnp.all(actual <= refined * (1 + 1e-12)))
        assert bool(jnp.all(refined <= original * (1 + 1e-12)))


def test_refined_one_hidden_layer_matches_numpy(key):
    mlp = SaturatingMLP.random(key, 3, 5, 1, gain=3.0, shift=0.5)
    w1, w2 = (np.asarray(w) for w in mlp.weights)
    b1 = np.asarray(mlp.biases[0])
    for y in np.random.default_rng(0).normal(size=(5, 3)):
        u = 3.0 * (w1 @ y + b1 + 0.5)
        root = np.sqrt(1.0 / np.cosh(u) ** 2)
        expected = [
            np.linalg.norm(w2 * root[None, :], 2),
            np.linalg.norm(root[:, None] * 3.0 * w1, 2),
        ]
        factors = mlp.refined_factors(jnp.asarray(y))
        np.testing.assert_allclose(factors, expected, rtol=1e-12)
        np.testing.assert_allclose(np.prod(expected), np.prod(np.asarray(factors)), rtol=1e-12)


def test_refined_depth_two_factors(key):
    mlp = SaturatingMLP.random(key, 3, 5, 2, gain=2.0)
    y = jnp.array([0.3, -0.7, 0.2])
    u1, u2 = (np.asarray(u) for u in mlp.pre_activations(y))
    r1, r2 = (np.sqrt(1.0 / np.cosh(u) ** 2) for u in (u1, u2))
    w1, w2, w3 = (np.asarray(w) for w in mlp.weights)
    expected = [
        np.linalg.norm(w3 * r2[None, :], 2),
        np.linalg.norm(r2[:, None] * 2.0 * w2 * r1[None, :], 2),
        np.linalg.norm(r1[:, None] * 2.0 * w1, 2),
    ]
    np.testing.assert_allclose(mlp.refined_factors(y), expected, rtol=1e-12)


def test_vmap_over_gain_equals_loop(key):
    mlp = SaturatingMLP.random(key, 3, 5, 2)
    gains = jnp.array([0.5, 1.0, 3.0])
    y = jnp.array([0.8, 0.4, -0.1])

    def norm_at(gain):
        return jnp.linalg.norm(eqx.tree_at(lambda m: m.gain, mlp, gain).jacobian(y), ord=2)

    batched = jax.vmap(norm_at)(gains)
    looped = [norm_at(g) for g in gains]
    np.testing.assert_allclose(batched, looped, rtol=1e-13)


def test_init_errors():
    w1, b1 = jnp.ones((4, 2)), jnp.zeros(4)
    w2, b2 = jnp.ones((2, 4)), jnp.zeros(2)
    with pytest.raises(ValueError, match="weights: got 1 layer"):
        SaturatingMLP([w1], [b1])
    with pytest.raises(ValueError, match=r"weights\[1\]: has 3 inputs but weights\[0\] has 4"):
        SaturatingMLP([w1, jnp.ones((2, 3))], [b1, b2])
    with pytest.raises(ValueError, match=r"biases\[0\]: expected shape \(4,\)"):
        SaturatingMLP([w1, w2], [jnp.zeros(3), b2])
    with pytest.raises(ValueError, match="biases: got 1 vectors for 2"):
        SaturatingMLP([w1, w2], [b1])
    with pytest.raises(ValueError, match="output dimension 3 .* input dimension 2"):
        SaturatingMLP([w1, jnp.ones((3, 4))], [b1, jnp.zeros(3)])
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        SaturatingMLP([w1, w2], [b1, b2], activation="swish")
    with pytest.raises(ValueError, match="gain: must be a scalar"):
        SaturatingMLP([w1, w2], [b1, b2], gain=jnp.ones(2))
    with pytest.raises(ValueError, match=r"weights\[0\]: expected a matrix"):
        SaturatingMLP([jnp.ones(4), w2], [b1, b2])


PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper"


def _paper_quantities(mlp, h, gain):
    m = eqx.tree_at(lambda m: m.gain, mlp, gain)
    (u,) = m.pre_activations(h)
    delta = jnp.max(m.activation_fn.derivative(u))
    return (
        jnp.linalg.norm(m.jacobian(h), ord=2),
        jnp.prod(m.refined_factors(h)),
        m.weight_constant() * delta,
        delta,
        m.weight_constant(),
    )


@pytest.mark.parametrize(
    "network, results, point",
    [
        ("paper_A_unbiased_32.npz", "paper_A_results.npz", None),
        ("paper_E_32.npz", "paper_E_results.npz", "h_star"),
    ],
)
def test_reproduces_paper_illustrations(network, results, point):
    """Illustrations A (at h0 = (0.8, 0.4)) and E (at h*), on the paper's own networks."""
    if not (PAPER / network).exists():
        pytest.skip("shared paper data not available")
    mlp = load_mlp(PAPER / network)
    ref = np.load(PAPER / results)
    h = jnp.asarray(ref[point]) if point else jnp.array([0.8, 0.4])
    actual, refined, original, delta, c_w = jax.vmap(_paper_quantities, (None, None, 0))(
        mlp, h, jnp.asarray(ref["s"])
    )
    if point:  # E: actual ‖Df‖, C̃, C = C_W δ, δ
        expected = {"actual": actual, "refined": refined, "original": original, "delta": delta}
    else:  # A: ‖Df(h0)‖, C_W δ, δ, C_W
        expected = {"actual_norm": actual, "bound": original, "delta": delta, "CW": c_w}
    for name, value in expected.items():
        # The paper's numpy used sech² = 1 − tanh² and explicit diag products: rounding only.
        np.testing.assert_allclose(value, ref[name], rtol=1e-12, err_msg=name)
