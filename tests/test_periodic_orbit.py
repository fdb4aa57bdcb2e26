"""Periodic orbits of reference systems against analytic values and independent references."""

import json
from pathlib import Path

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import satode
from satode import systems


REFERENCE = json.loads(
    (Path(__file__).parents[1] / ".." / "shared" / "reference" / "reference.json").read_text()
)
# reference.json spells some parameters differently from the CLI names.
_RENAME = {
    "stuart-landau": {"mu": "mu", "w": "omega", "b": "beta"},
    "van-der-pol": {"m": "mu"},
    "fitzhugh-nagumo": {"I": "current"},
    "morris-lecar": {
        "gL": "g_L",
        "gCa": "g_Ca",
        "gK": "g_K",
        "VL": "V_L",
        "VCa": "V_Ca",
        "VK": "V_K",
        "I": "current",
    },
    "rossler": {},
}


def reference_system(entry):
    rename = _RENAME[entry["system"]]
    params = {rename.get(k, k): v for k, v in entry["params"].items()}
    return systems.get_system(entry["system"]).from_params(None, **params)


@eqx.filter_jit
def orbit_and_spectrum(field, y0):
    orbit = satode.find_periodic_orbit(field, y0, throw=False)
    return orbit, satode.floquet(field, orbit, throw=False)


@pytest.mark.parametrize(
    "mu, omega, beta", [(1, 1, 0), (0.5, 2, 0), (1, 1, -1), (1, 2, 1), (2, 3, -0.5)]
)
def test_stuart_landau_analytic(mu, omega, beta):
    field = systems.StuartLandau(mu=mu, omega=omega, beta=beta)
    orbit, spectrum = orbit_and_spectrum(field, jnp.array([0.3, 0.1]))
    assert orbit.result == satode.RESULTS.successful
    period = 2 * np.pi / abs(omega - beta * mu)
    assert abs(orbit.period - period) / period < 1e-9  # the tolerance for the period
    np.testing.assert_allclose(spectrum.exponents, [0.0, -2 * mu], rtol=0, atol=1e-8)
    # The cycle has radius sqrt(mu).
    assert abs(jnp.linalg.norm(orbit.y0) - np.sqrt(mu)) < 1e-9


@pytest.mark.parametrize("entry", REFERENCE["floquet"], ids=lambda e: e["name"])
def test_reference_systems(entry):
    field = reference_system(entry)
    orbit, spectrum = orbit_and_spectrum(field, jnp.asarray(entry["x_init"], float))
    assert orbit.result == satode.RESULTS.successful
    # Independent scipy values good to ~1e-11; we ask 1e-7 relative (the tolerance).
    assert abs(orbit.period - entry["period"]) / entry["period"] < 1e-7
    ref = np.asarray(entry["exponents"])
    nontrivial = ref != 0
    np.testing.assert_allclose(
        np.asarray(spectrum.exponents)[nontrivial], ref[nontrivial], rtol=1e-7
    )
    assert spectrum.exponents[np.flatnonzero(~nontrivial)[0]] == 0.0
    assert spectrum.trivial_multiplier_error < 1e-8


def test_van_der_pol_mu1_values():
    orbit, spectrum = orbit_and_spectrum(systems.VanDerPol(mu=1.0), jnp.array([2.0, 0.0]))
    assert abs(orbit.period - 6.663286859) / 6.663286859 < 1e-7
    assert abs(spectrum.exponents[1] + 1.0593770) / 1.0593770 < 1e-7


def test_reintegrating_returns_to_start():
    field = systems.VanDerPol(mu=2.0)
    orbit, _ = orbit_and_spectrum(field, jnp.array([2.0, 0.0]))
    end = satode.integrate(field, orbit.y0, orbit.period).ys[-1]
    assert jnp.max(jnp.abs(end - orbit.y0)) < 1e-9


def test_samples_close_and_lie_on_orbit():
    field = systems.StuartLandau()
    orbit, _ = orbit_and_spectrum(field, jnp.array([0.3, 0.1]))
    samples = satode.sample_orbit(field, orbit, n=33)
    np.testing.assert_allclose(jnp.linalg.norm(samples, axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(samples[0], samples[-1], atol=1e-9)


@pytest.mark.parametrize("mu", [-1.0, -0.2])
def test_stable_focus_is_no_orbit(mu):
    orbit, spectrum = orbit_and_spectrum(systems.StuartLandau(mu=mu), jnp.array([0.3, 0.1]))
    assert orbit.result == satode.RESULTS.no_orbit
    assert jnp.isnan(orbit.period) and jnp.all(jnp.isnan(spectrum.exponents))


def test_escape_is_no_orbit():
    # x' = x, y' = y: everything escapes to infinity.
    def source(t, y, args):
        return y

    orbit = satode.find_periodic_orbit(source, jnp.array([0.3, 0.1]), throw=False)
    assert orbit.result == satode.RESULTS.no_orbit


def test_throw_raises():
    with pytest.raises(Exception, match="no periodic orbit"):
        satode.find_periodic_orbit(systems.StuartLandau(mu=-1.0), jnp.array([0.3, 0.1]))


def test_warm_start_shoots_directly():
    field = systems.StuartLandau()
    orbit = satode.find_periodic_orbit(field, jnp.array([0.99, 0.0]), period=6.0, throw=False)
    assert orbit.result == satode.RESULTS.successful and orbit.returns == 0
    assert abs(orbit.period - 2 * np.pi) < 1e-9


@pytest.mark.parametrize("guess", [13.0, 20.0, 40.0])
def test_warm_start_near_a_multiple_of_the_period_returns_the_period(guess):
    # Newton from T0 ≈ k·2π converges to the orbit traversed k times (every check passes
    # there); the earliest return inside it gives the period, 2π exactly.
    field = systems.StuartLandau()
    orbit = satode.find_periodic_orbit(field, jnp.array([1.0, 0.0]), period=guess, throw=False)
    assert orbit.result == satode.RESULTS.successful
    assert abs(orbit.period - 2 * np.pi) < 1e-9


def test_vmap_over_parameters_matches_loop():
    mus = jnp.array([0.5, 1.0, -1.0, 2.0])
    fields = systems.StuartLandau(mu=mus, omega=jnp.ones(4), beta=jnp.zeros(4))
    batched = jax.vmap(orbit_and_spectrum, in_axes=(0, None))(fields, jnp.array([0.3, 0.1]))
    for i, mu in enumerate(mus):
        orbit, spectrum = orbit_and_spectrum(systems.StuartLandau(mu=mu), jnp.array([0.3, 0.1]))
        assert batched[0].result._value[i] == orbit.result._value
        np.testing.assert_allclose(batched[0].period[i], orbit.period, rtol=1e-12)
        np.testing.assert_allclose(batched[1].exponents[i], spectrum.exponents, atol=1e-12)


def test_forward_mode_monodromy_agrees():
    field = systems.VanDerPol(mu=1.0)
    orbit, spectrum = orbit_and_spectrum(field, jnp.array([2.0, 0.0]))
    forward = satode.floquet(field, orbit, method="forward")
    np.testing.assert_allclose(forward.exponents, spectrum.exponents, atol=1e-8)


def test_max_steps_reported():
    options = satode.FlowOptions(max_steps=20)
    orbit = satode.find_periodic_orbit(
        systems.VanDerPol(mu=1.0), jnp.array([2.0, 0.0]), options=options, throw=False
    )
    assert orbit.result == satode.RESULTS.max_steps


def test_dfx_solver_option():
    options = satode.FlowOptions(solver=dfx.Tsit5(), rtol=1e-10, atol=1e-10)
    orbit = satode.find_periodic_orbit(
        systems.VanDerPol(mu=1.0), jnp.array([2.0, 0.0]), options=options
    )
    assert abs(orbit.period - 6.663286859323133) < 1e-7
