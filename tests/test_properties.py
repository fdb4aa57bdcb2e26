"""Property tests (hypothesis): what must hold on every orbit of every saturating network.

Random networks rarely have a limit cycle, so each network family starts from a small network
fitted (a few hundred Adam steps) to the Stuart–Landau field, which gives it a cycle near the
unit circle; hypothesis then draws a random weight perturbation, gain and shift. Whenever an
orbit is found:

- the bound order `|λ_i| ≤ C_emp ≤ C̃ ≤ C_theory` holds (SCIENCE §2; C̃ where σ' ≥ 0);
- the rotation ratio `C_emp·T/2π ≥ 1` (planar orbits, SCIENCE §7);
- the Liouville identity `ln|det M| = ∫ tr Df dt` holds for the computed monodromy;
- shooting from another point of the orbit gives the same period and exponents.

Each family compiles once (the draws only change array leaves). The default run's four families
cover depths 1–3, widths 4–64 and activations with and without σ' ≥ 0; `make test-all` adds the
other four, so every saturating activation of the registry is exercised.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, HealthCheck, settings, strategies as st

import satode
from satode import systems


# (activation, depth, width): every saturating activation in the registry, depths 1–3, widths
# 4–64. (A width-2 or width-4 one-layer tanh network fitted this way settles on an
# equilibrium: it has no cycle to test. `identity` makes the field affine, whose only cycles
# form a continuum around a centre: tests/test_cli.py checks that case is never `ok`.)
FAMILIES = [
    ("tanh", 1, 64),
    ("sigmoid", 2, 8),
    ("softsign", 3, 4),
    ("sin", 1, 16),
    # Compiling each family costs about a minute: these run with `make test-all`.
    pytest.param(("softplus", 2, 8), marks=pytest.mark.exhaustive),
    pytest.param(("silu", 2, 8), marks=pytest.mark.exhaustive),
    pytest.param(("gelu", 1, 8), marks=pytest.mark.exhaustive),
    pytest.param(("relu", 1, 32), marks=pytest.mark.exhaustive),
]
EXAMPLES = 3


def test_families_cover_the_registry():
    names = {(f.values[0] if hasattr(f, "values") else f)[0] for f in FAMILIES}
    assert names == set(satode.ACTIVATIONS) - {"identity"}


def _fitted(activation, depth, width):
    key = jax.random.key(depth * 100 + width)
    mlp = satode.SaturatingMLP.random(key, 2, width, depth, activation=activation)
    fitted, _ = satode.fit_vector_field(
        mlp, systems.StuartLandau(), key, n_samples=400, steps=600, learning_rate=1e-2
    )
    return fitted


def _perturbed(mlp, seed, scale, gain, shift):
    keys = jax.random.split(jax.random.key(seed), len(mlp.weights))
    weights = [
        w * (1 + scale * jax.random.normal(k, w.shape, w.dtype))
        for k, w in zip(keys, mlp.weights, strict=True)
    ]
    mlp = eqx.tree_at(lambda m: m.weights, mlp, weights)
    mlp = satode.at_level(mlp, "gain", gain)
    return satode.at_level(mlp, "shift", shift)


@eqx.filter_jit
def _check(mlp, phase):
    # A draw that lost its cycle must not search for long: its base cycle has T ≈ 6.5.
    a = satode.analyse_orbit(mlp, jnp.array([1.0, 0.0]), n_samples=257, max_period=200.0)
    # The same orbit, shot from the point at `phase · T` along it.
    t = phase * jnp.where(jnp.isfinite(a.orbit.period), a.orbit.period, 0.0)
    start = satode.integrate(mlp, jnp.where(jnp.isfinite(a.orbit.y0), a.orbit.y0, 0.0), t)
    shifted = satode.find_periodic_orbit(mlp, start.ys[-1], period=a.orbit.period, throw=False)
    return a, shifted, satode.floquet(mlp, shifted, throw=False)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f"{f[0]}-d{f[1]}-w{f[2]}")
def test_orbit_properties(family):
    activation, depth, width = family
    base = _fitted(*family)
    nonnegative = satode.get_activation(activation).nonnegative_derivative
    found = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same draws every run: CI is deterministic
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        seed=st.integers(0, 2**31 - 1),
        scale=st.floats(0.0, 0.05),
        gain=st.floats(0.8, 1.4),
        shift=st.floats(-0.3, 0.3),
        phase=st.floats(0.05, 0.95),
    )
    def prop(seed, scale, gain, shift, phase):
        mlp = _perturbed(base, seed, scale, gain, shift)
        # `phase` as an array: a Python float would be static and recompile `_check` per draw.
        a, shifted, spectrum = _check(mlp, jnp.asarray(phase))
        ok = a.orbit.result == satode.RESULTS.successful
        found.append(bool(ok))
        if not ok:
            return
        audit, period = a.audit, float(a.orbit.period)
        slack = 1 + 1e-9  # the audit's own slack: C_emp is a sampled max of the same norms
        lam = float(jnp.max(jnp.abs(a.spectrum.exponents)))
        assert lam <= audit.c_empirical * slack
        assert audit.c_empirical <= audit.c_theory * slack
        if nonnegative:
            assert audit.c_empirical <= audit.c_refined * slack
            assert audit.c_refined <= audit.c_theory * slack
        else:
            assert np.isnan(audit.c_refined)
        assert bool(audit.contained)
        # A planar cycle's velocity turns once: ∫‖Df‖dt ≥ 2π, so C_emp·T/2π ≥ 1. Sampled
        # C_emp can only be below the true max, and the integral bound is far from tight
        # on these cycles, so no slack is needed.
        assert audit.rotation_ratio >= 1
        # Liouville: Σ ln|μ_i| (eig of the computed M) = ∫ tr Df dt. eig resolves both
        # multipliers of these cycles, so the residual is defined; 1e-7 is far above the
        # integration error at rtol 1e-11 and far below a wrong monodromy. eig's absolute error
        # is a few eps·‖M‖, so a strongly contracting draw (μ_min ~ 1e-11 at gain 1.2) gets
        # ln|μ_min| only to ~1e-15·|μ_max|/|μ_min|: that much more is allowed.
        moduli = np.abs(np.asarray(a.spectrum.multipliers))
        allowed = 1e-7 + 1e-15 * moduli.max() / moduli.min()
        assert float(a.spectrum.liouville_residual) < allowed
        assert abs(float(a.spectrum.trivial_multiplier_error)) < 1e-6
        # Invariance under the shooting's starting point (period, then exponents).
        assert shifted.result == satode.RESULTS.successful
        assert abs(float(shifted.period) - period) < 1e-8 * period
        np.testing.assert_allclose(spectrum.exponents, a.spectrum.exponents, rtol=0, atol=1e-8)

    prop()
    # The base network (the first draw is the simplest: no perturbation)
    # and most perturbations keep a cycle; a family that never has one tests nothing.
    assert any(found), f"{family}: no orbit in {len(found)} draws; the family tests nothing"
