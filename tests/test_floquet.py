"""Floquet spectra: the Liouville identity, strongly contracting orbits, an independent check."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import satode
from satode import systems


@eqx.filter_jit
def orbit_and_spectrum(field, y0):
    orbit = satode.find_periodic_orbit(field, y0, throw=False)
    return orbit, satode.floquet(field, orbit, throw=False)


def _vdp_liouville_scipy(mu):
    """Period and non-trivial exponent of Van der Pol by scipy alone (2-D Liouville integral)."""

    def rhs(t, z):
        x, y, _ = z
        return [y, mu * (1 - x * x) * y - x, mu * (1 - x * x)]  # last: tr Df

    def up_crossing(t, z):
        return z[1]

    up_crossing.direction = 1
    # Converge onto the cycle, then time two consecutive up-crossings of y = 0.
    sol = solve_ivp(
        rhs,
        [0, 40 * mu + 60],
        [2.0, 0.0, 0.0],
        method="DOP853",
        rtol=1e-13,
        atol=1e-13,
        events=up_crossing,
    )
    t_events, z_events = sol.t_events[0], sol.y_events[0]
    period = t_events[-1] - t_events[-2]
    trace = z_events[-1][2] - z_events[-2][2]
    return period, trace / period


def test_liouville_identity_3d():
    # Rössler (3-D, exponents from eig): Σ ln|μ_i| = ∫ tr Df dt along the orbit.
    field = systems.Rossler()
    orbit, spectrum = orbit_and_spectrum(field, jnp.array([1.0, 1.0, 0.0]))
    log_sum = np.sum(np.log(np.abs(np.asarray(spectrum.multipliers))))
    assert abs(log_sum - spectrum.trace_integral) < 1e-8  # eig of a well-conditioned M
    assert spectrum.method == "eig+periodic-qr" and int(spectrum.n_eig) == 3
    assert spectrum.eig_gap < 1e-8  # the periodic QR agrees with eig on a resolved spectrum
    # Trivial multiplier: eigenvector parallel to f(y0), |μ − 1| small.
    assert spectrum.trivial_multiplier_error < 1e-8


def test_small_multiplier_of_a_non_normal_monodromy_is_not_a_failed_check():
    # Van der Pol μ = 2.6: |μ2| ≈ 1.1e-12 while ‖M‖ ≈ 10 (non-normal). eig returns μ2 with an
    # absolute error of a few eps·‖M‖ (2e-3 relative here), so it must not feed the Liouville
    # check (it once made every level from μ ≈ 2.48 on `check_failed`). The exponent comes from
    # the Liouville integral, checked against an independent scipy integral.
    period_ref, exponent_ref = _vdp_liouville_scipy(2.6)
    field = systems.VanDerPol(mu=2.6)
    a = satode.analyse_orbit(field, jnp.array([2.0, 0.0]), options=satode.FlowOptions(rtol=1e-10))
    assert a.result == satode.RESULTS.successful
    assert abs(a.orbit.period - period_ref) / period_ref < 1e-7
    assert abs(a.spectrum.exponents[1] - exponent_ref) / abs(exponent_ref) < 1e-7
    assert np.isnan(a.spectrum.liouville_residual)  # not resolved by eig: honestly unavailable


@pytest.mark.parametrize("mu", [5.0, 10.0])
def test_strongly_contracting_van_der_pol(mu):
    # μ = 10: multiplier ~ e^{-16.35·19.08} ≈ 1e-136, far below what eig(M) resolves.
    period_ref, exponent_ref = _vdp_liouville_scipy(mu)
    orbit, spectrum = orbit_and_spectrum(systems.VanDerPol(mu=mu), jnp.array([2.0, 0.0]))
    assert orbit.result == satode.RESULTS.successful
    assert abs(orbit.period - period_ref) / period_ref < 1e-7
    assert abs(spectrum.exponents[1] - exponent_ref) / abs(exponent_ref) < 1e-7
    assert spectrum.method == "liouville"
    if mu == 10.0:
        assert abs(orbit.period - 19.0784) < 1e-3 and abs(spectrum.exponents[1] + 16.345) < 1e-2
        # eig cannot resolve it: the cross-check is honestly reported as unavailable.
        assert np.isnan(spectrum.eig_gap)


def test_multipliers_sorted_and_trivial_identified():
    field = systems.StuartLandau(mu=0.5, omega=2.0)
    orbit, spectrum = orbit_and_spectrum(field, jnp.array([0.3, 0.1]))
    moduli = np.abs(np.asarray(spectrum.multipliers))
    assert np.all(np.diff(moduli) <= 0)
    assert int(spectrum.trivial_index) == 0
    np.testing.assert_allclose(moduli, [1.0, np.exp(-2 * 0.5 * np.pi)], rtol=1e-9)


def _tilted_oscillator(k):
    """Stuart–Landau (μ = ω = 1) times a contracting direction `z' = −k z`, in rotated
    coordinates so that no axis is special: the cycle has period 2π and exponents {0, −2, −k}."""
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    q = jnp.asarray(q)
    sl = systems.StuartLandau(mu=1.0, omega=1.0)

    def field(t, y, args):
        u = q.T @ y
        planar = sl(t, u[:2], None)
        return q @ jnp.concatenate([planar, -k * u[2:]])

    return field, q @ jnp.array([1.0, 0.0, 0.5])


@pytest.mark.parametrize("k", [0.5, 20.0])
def test_periodic_qr_keeps_multipliers_below_eig_resolution(k):
    # k = 20: the third multiplier is e^{−20·2π} ≈ 3e-55, lost by eig(M) (n_eig = 2); the
    # periodic QR over segment monodromies recovers it in log space. k = 0.5: eig resolves all.
    field, y0 = _tilted_oscillator(k)
    orbit, spectrum = orbit_and_spectrum(field, y0)
    assert orbit.result == satode.RESULTS.successful
    assert abs(orbit.period - 2 * np.pi) < 1e-9
    np.testing.assert_allclose(spectrum.exponents, sorted([0.0, -2.0, -k], reverse=True), atol=1e-8)
    assert spectrum.method == "eig+periodic-qr"
    assert int(spectrum.n_eig) == (2 if k == 20.0 else 3)
    moduli = np.abs(np.asarray(spectrum.multipliers))
    np.testing.assert_allclose(np.log(moduli[-1]), -max(k, 2.0) * 2 * np.pi, rtol=1e-8)
    # Σ ln|μ_i| = ∫ tr Df dt = −(2 + k)·2π, over all three (QR for the lost one).
    assert spectrum.liouville_residual < 1e-7
    assert abs(spectrum.trace_integral + (2 + k) * 2 * np.pi) < 1e-7
    assert spectrum.eig_gap < 1e-8
