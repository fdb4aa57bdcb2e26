"""The saturation audit on the shared reference networks and on random networks."""

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import satode


SHARED = Path(__file__).parents[1] / ".." / "shared"
REFERENCE = json.loads((SHARED / "reference" / "reference.json").read_text())

analyse = eqx.filter_jit(satode.analyse_orbit)


@pytest.mark.parametrize("entry", REFERENCE["mlp"], ids=lambda e: e["name"])
def test_reference_networks(entry):
    mlp = satode.load_mlp(SHARED / "reference" / entry["file"])
    a = analyse(mlp, jnp.asarray(entry["x_init"], float))
    assert a.result == satode.RESULTS.successful
    assert abs(a.orbit.period - entry["period"]) / entry["period"] < 1e-7
    np.testing.assert_allclose(a.spectrum.exponents[1], entry["exponents"][1], rtol=1e-7)
    np.testing.assert_allclose(a.audit.delta, entry["delta"], rtol=1e-7)
    np.testing.assert_allclose(a.audit.c_w, entry["c_w"], rtol=1e-7)
    np.testing.assert_allclose(a.audit.c_theory, entry["c_theory"], rtol=1e-7)
    # C_emp is a max over samples (the reference used 20,001, the default here 4,097).
    np.testing.assert_allclose(a.audit.c_empirical, entry["c_empirical"], rtol=1e-4)
    # The unbiased network's units cross zero on its cycle, so the bound cannot attenuate.
    assert bool(a.audit.zero_crossing[0])
    assert bool(a.audit.contained)
    # Rotation bound (SCIENCE §7): a planar cycle needs C_emp·T/2π >= 1.
    assert a.audit.rotation_ratio >= 1


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softsign", "softplus", "silu"])
@pytest.mark.parametrize("depth", [1, 2])
def test_order_on_random_networks(activation, depth, key):
    mlp = satode.SaturatingMLP.random(key, 2, 16, depth, activation=activation)
    samples = satode.circle(0.7, 257)
    audit = satode.saturation_audit(mlp, samples, period=2 * np.pi)
    # C_emp against the SVD of `mlp.jacobian` at every sample (closed forms agree to ulps).
    norms = jax.vmap(lambda y: jnp.linalg.norm(mlp.jacobian(y), ord=2))(samples)
    np.testing.assert_allclose(audit.c_empirical, jnp.max(norms), rtol=1e-14)
    assert audit.c_empirical <= audit.c_theory * (1 + 1e-12)
    if satode.get_activation(activation).nonnegative_derivative:
        assert audit.c_empirical <= audit.c_refined * (1 + 1e-12)
        assert audit.c_refined <= audit.c_theory * (1 + 1e-12)
    else:
        assert jnp.isnan(audit.c_refined)
    # C_W is the product of the layer norms.
    expected = np.linalg.norm(np.asarray(mlp.weights[-1]), 2) * np.prod(
        [np.linalg.norm(float(mlp.gain) * np.asarray(w), 2) for w in mlp.weights[:-1]]
    )
    np.testing.assert_allclose(audit.c_w, expected, rtol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "silu", "sin"])
@pytest.mark.parametrize("depth", [1, 2])
def test_delta_and_refined_match_per_sample_definitions(activation, depth, key):
    # δ_k, the zero-crossing flags and C̃ as their definitions read, sample by sample and
    # pair by pair (the audit computes them from whole-batch products and per-unit ranges).
    mlp = satode.SaturatingMLP.random(key, 2, 16, depth, activation=activation, shift=0.3)
    samples = satode.circle(0.9, 129)
    audit = satode.saturation_audit(mlp, samples, period=2 * np.pi)
    sigma = mlp.activation_fn
    for k, u in enumerate(jax.vmap(mlp.pre_activations)(samples)):
        u = np.asarray(u)
        pairs = (u[:-1] * u[1:] <= 0).any()
        assert bool(audit.zero_crossing[k]) == bool(pairs)
        delta = np.max(np.abs(np.asarray(sigma.derivative(u))))
        for peak in sigma.peaks:
            if ((u[:-1] - peak) * (u[1:] - peak) <= 0).any():
                delta = max(delta, abs(float(sigma.derivative(peak))))
        np.testing.assert_allclose(audit.delta[k], delta, rtol=1e-15)
    if sigma.nonnegative_derivative:
        general = jnp.max(jax.vmap(lambda y: jnp.prod(mlp.refined_factors(y)))(samples))
        np.testing.assert_allclose(audit.c_refined, general, rtol=1e-12)


def test_order_holds_under_extreme_saturation(key):
    # Pre-activations ~200 on the circle: δ ≈ 4e-177, C ~ 1e-175. The closed-form
    # C̃ of one planar layer squares entries of that size (subnormal territory) and came out 2×
    # too small before it was rescaled; it must still match the general path and bound C_emp.
    mlp = satode.SaturatingMLP.random(key, 2, 16, 1, activation="tanh")
    mlp = eqx.tree_at(lambda m: (m.gain, m.shift), mlp, (jnp.asarray(30.0), jnp.asarray(8.0)))
    samples = satode.circle(1.0, 257)
    audit = satode.saturation_audit(mlp, samples, period=2 * np.pi)
    assert 1e-200 < float(audit.delta[0]) < 1e-160
    general = jnp.max(jax.vmap(lambda y: jnp.prod(mlp.refined_factors(y)))(samples))
    np.testing.assert_allclose(audit.c_refined, general, rtol=1e-12)
    assert audit.c_empirical <= audit.c_refined * (1 + 1e-12)
    assert audit.c_refined <= audit.c_theory * (1 + 1e-12)
    assert bool(audit.contained)


def test_delta_catches_crossing_between_samples():
    # One unit whose pre-activation sweeps through 0 between two coarse samples.
    mlp = satode.SaturatingMLP(
        [jnp.array([[1.0, 0.0]]), jnp.array([[1.0], [0.0]])], [jnp.zeros(1), jnp.zeros(2)]
    )
    samples = jnp.array([[-1.0, 0.0], [1.0, 0.0]])  # u = -1 then +1: crosses 0 in between
    audit = satode.saturation_audit(mlp, samples)
    assert audit.delta[0] == 1.0 and bool(audit.zero_crossing[0])
    far = satode.saturation_audit(mlp, jnp.array([[1.0, 0.0], [2.0, 0.0]]))
    np.testing.assert_allclose(far.delta[0], 1 - np.tanh(1.0) ** 2, rtol=1e-14)
    assert not bool(far.zero_crossing[0])


def test_shift_removes_crossings_on_paper_network():
    # The paper's biased network keeps pre-activations positive on the unit circle.
    mlp = satode.load_mlp(SHARED / "paper" / "paper_F_biased_256.npz")
    audit = satode.saturation_audit(mlp, satode.circle(1.0, 1001), period=2 * np.pi)
    assert not bool(audit.zero_crossing[0])
    table = json.loads((SHARED / "paper" / "paper_F_table.json").read_text())
    # Table 2, s = 1: δ and C(U) on 1,000 circle points (we use 1,001 including the endpoint).
    np.testing.assert_allclose(audit.delta[0], table[0]["delta"], rtol=1e-5)
    np.testing.assert_allclose(audit.c_empirical, table[0]["C_U"], rtol=1e-5)
