import dataclasses
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from satode.systems import (
    AbstractSystem,
    FitzHughNagumo,
    get_system,
    HodgkinHuxley,
    Lorenz,
    MorrisLecar,
    Rossler,
    StuartLandau,
    SYSTEMS,
    VanDerPol,
)
from satode.systems.hodgkin_huxley import _rates


# Independent numpy vector fields, written from SCIENCE.md §4 (parameters as a dict).


def _sl(p, y):
    z = y[0] + 1j * y[1]
    dz = (p["mu"] + 1j * p["omega"]) * z - (1 + 1j * p["beta"]) * abs(z) ** 2 * z
    return np.array([dz.real, dz.imag])


def _vdp(p, y):
    return np.array([y[1], p["mu"] * (1 - y[0] ** 2) * y[1] - y[0]])


def _fhn(p, y):
    v, w = y
    return np.array([v - v**3 / 3 - w + p["current"], p["eps"] * (v + p["a"] - p["b"] * w)])


def _ml(p, y):
    V, w = y
    m_inf = 0.5 * (1 + np.tanh((V - p["V1"]) / p["V2"]))
    w_inf = 0.5 * (1 + np.tanh((V - p["V3"]) / p["V4"]))
    tau_w = 1 / np.cosh((V - p["V3"]) / (2 * p["V4"]))
    dV = (
        p["current"]
        - p["g_L"] * (V - p["V_L"])
        - p["g_Ca"] * m_inf * (V - p["V_Ca"])
        - p["g_K"] * w * (V - p["V_K"])
    ) / p["C"]
    return np.array([dV, p["phi"] * (w_inf - w) / tau_w])


def _hh_rates(V):
    return (
        0.1 * (V + 40) / (1 - np.exp(-(V + 40) / 10)),
        4 * np.exp(-(V + 65) / 18),
        0.07 * np.exp(-(V + 65) / 20),
        1 / (1 + np.exp(-(V + 35) / 10)),
        0.01 * (V + 55) / (1 - np.exp(-(V + 55) / 10)),
        0.125 * np.exp(-(V + 65) / 80),
    )


def _hh(p, y):
    V, m, h, n = y
    am, bm, ah, bh, an, bn = _hh_rates(V)
    i_ion = 120 * m**3 * h * (V - 50) + 36 * n**4 * (V + 77) + 0.3 * (V + 54.387)
    return np.array(
        [p["current"] - i_ion, am * (1 - m) - bm * m, ah * (1 - h) - bh * h, an * (1 - n) - bn * n]
    )


def _lorenz(p, y):
    x, v, z = y
    return np.array([p["sigma"] * (v - x), x * (p["rho"] - z) - v, x * v - p["beta"] * z])


def _rossler(p, y):
    x, v, z = y
    return np.array([-v - z, x + p["a"] * v, p["b"] + z * (x - p["c"])])


# (class, numpy field, non-default parameters, two states)
CASES = [
    (StuartLandau, _sl, dict(mu=0.7, omega=1.3, beta=-0.4), [(0.3, 0.1), (-1.2, 0.8)]),
    (VanDerPol, _vdp, dict(mu=2.5), [(2.0, 0.0), (-0.7, 1.9)]),
    (FitzHughNagumo, _fhn, dict(a=0.6, b=0.9, eps=0.1, current=0.3), [(0.0, 0.0), (1.5, -0.4)]),
    (MorrisLecar, _ml, MorrisLecar.presets["snic"], [(20.0, 0.0), (-35.0, 0.3)]),
    (HodgkinHuxley, _hh, dict(current=6.5), [(-65.0, 0.05, 0.6, 0.32), (10.0, 0.9, 0.2, 0.7)]),
    (Lorenz, _lorenz, dict(sigma=9.0, rho=30.0, beta=2.5), [(1.0, 1.0, 1.0), (-5.0, 3.0, 20.0)]),
    (Rossler, _rossler, Rossler.presets["chaotic"], [(1.0, 1.0, 0.0), (-4.0, 2.0, 3.0)]),
]
ALL = [c[0] for c in CASES]


def _default_params(cls):
    return {k: float(v) for k, v in cls.from_params().params().items()}


@pytest.mark.parametrize("cls, np_field, params, states", CASES)
def test_vector_field_matches_numpy(cls, np_field, params, states):
    for p in (_default_params(cls), {k: float(v) for k, v in params.items()}):
        system = cls.from_params(**p)
        for y in states:
            got = np.asarray(system(0.0, jnp.asarray(y)))
            # Same float64 formula in a different order: agreement to rounding.
            np.testing.assert_allclose(got, np_field(p, np.asarray(y)), rtol=1e-13, atol=1e-13)


def test_defaults():
    assert _default_params(StuartLandau) == dict(mu=1.0, omega=1.0, beta=0.0)
    assert _default_params(VanDerPol) == dict(mu=1.0)
    assert _default_params(FitzHughNagumo) == dict(a=0.7, b=0.8, eps=0.08, current=0.5)
    assert _default_params(HodgkinHuxley) == dict(current=10.0)
    assert _default_params(Lorenz) == dict(sigma=10.0, rho=28.0, beta=8 / 3)
    assert _default_params(Rossler) == dict(a=0.2, b=0.2, c=2.5)
    assert _default_params(MorrisLecar) == MorrisLecar.presets["hopf"]
    for cls in ALL:
        # The bare constructor and the default preset agree.
        assert {k: float(v) for k, v in cls().params().items()} == _default_params(cls)
        assert len(cls.default_y0) == cls.dim
        assert cls.param_names == tuple(f.name for f in dataclasses.fields(cls))
        assert cls()(0.0, jnp.asarray(cls.default_y0)).shape == (cls.dim,)


def test_lorenz_divergence():
    p = dict(sigma=10.0, rho=28.0, beta=8 / 3)
    system = Lorenz(**p)
    for y in [(1.0, 1.0, 1.0), (-8.0, 4.0, 27.0)]:
        jac = jax.jacfwd(lambda y: system(0.0, y))(jnp.asarray(y))
        # The divergence is constant: exact up to rounding.
        assert float(jnp.trace(jac)) == pytest.approx(-(p["sigma"] + 1 + p["beta"]), abs=1e-13)


def test_stuart_landau_unit_circle():
    omega = 1.7
    system = StuartLandau(mu=1.0, omega=omega, beta=0.0)
    for theta in np.linspace(0, 2 * np.pi, 7):
        y = jnp.array([np.cos(theta), np.sin(theta)])
        f = system(0.0, y)
        # On the cycle |z| = √μ = 1 the field is purely tangential with speed ω.
        assert float(jnp.dot(f, y)) == pytest.approx(0.0, abs=1e-14)
        assert float(jnp.linalg.norm(f)) == pytest.approx(omega, rel=1e-14)


def test_morris_lecar_presets():
    hopf = dict(C=20, g_L=2, g_Ca=4.4, g_K=8, V_L=-60, V_Ca=120, V_K=-84, V1=-1.2, V2=18, V3=2)
    hopf.update(V4=30, phi=0.04, current=90)
    snic = {**hopf, "g_Ca": 4, "V3": 12, "V4": 17.4, "phi": 1 / 15, "current": 40}
    assert MorrisLecar.default_preset == "hopf"
    assert MorrisLecar.default_y0 == (20.0, 0.0)
    assert _default_params(MorrisLecar) == hopf
    got_snic = {k: float(v) for k, v in MorrisLecar.from_params("snic").params().items()}
    assert got_snic == snic
    changed = {k for k in hopf if got_snic[k] != hopf[k]}
    assert changed == {"g_Ca", "V3", "V4", "phi", "current"}
    # An override applies on top of the preset.
    assert float(MorrisLecar.from_params("snic", current=45).current) == 45.0


def test_rossler_presets():
    assert float(Rossler.from_params().c) == 2.5
    assert float(Rossler.from_params("chaotic").c) == 5.7


@pytest.mark.parametrize("v0, index", [(-55.0, 4), (-40.0, 0)])
def test_hh_removable_singularities(v0, index):
    # α_n → 0.1, α_m → 1 at the singular points; d/dV of x/(1 − e^{−x}) at 0 is 1/2 · 1/10.
    scale = 0.1 if index == 4 else 1.0
    rate = jax.jit(lambda V: _rates(V)[index])
    drate = jax.jit(jax.jacfwd(rate))
    V = jnp.asarray(v0)
    assert float(rate(V)) == pytest.approx(scale, abs=1e-9)
    assert float(drate(V)) == pytest.approx(scale * 0.05, abs=1e-9)
    # Continuous through the point and across the series/direct switch at |V − v0| = 1 mV.
    x = jnp.asarray(v0 + np.array([-1.0 - 1e-9, -1.0, -1e-6, 1e-6, 1.0, 1.0 + 1e-9, 3.0]))
    vals, ders = jax.jit(jax.vmap(rate))(x), jax.jit(jax.vmap(drate))(x)
    z = (np.asarray(x) - v0) / 10
    exact = scale * z / -np.expm1(-z)
    exact_der = scale / 10 * (-np.expm1(-z) - z * np.exp(-z)) / np.expm1(-z) ** 2
    np.testing.assert_allclose(vals, exact, rtol=1e-13)
    # The numpy derivative itself cancels as 2 eps / |z| near 0: skip the two points at 1e-6.
    keep = np.abs(z) > 1e-3
    np.testing.assert_allclose(np.asarray(ders)[keep], exact_der[keep], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ders)[~keep], scale * 0.05, rtol=1e-6)
    assert np.all(np.isfinite(jax.jacfwd(HodgkinHuxley())(0.0, jnp.array([v0, 0.1, 0.5, 0.3]))))


def test_from_params_errors():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        MorrisLecar.from_params("nope")
    with pytest.raises(ValueError, match="unknown preset 'hopf'"):
        StuartLandau.from_params("hopf")
    with pytest.raises(ValueError, match="unknown parameter 'gamma'"):
        Lorenz.from_params(gamma=1.0)
    with pytest.raises(ValueError, match="unknown parameter 'E_Na'"):
        HodgkinHuxley.from_params(E_Na=55.0)


def test_integer_parameters_become_floats():
    system = StuartLandau.from_params(mu=2)
    assert jnp.issubdtype(system.mu.dtype, jnp.floating)
    # An integer leaf would get no gradient; d(x')/dμ = x = 1 at (1, 0).
    assert float(jax.grad(lambda s: s(0.0, jnp.array([1.0, 0.0]))[0])(system).mu) == 1.0


def test_registry():
    assert list(SYSTEMS) == [
        "stuart-landau",
        "van-der-pol",
        "fitzhugh-nagumo",
        "morris-lecar",
        "hodgkin-huxley",
        "lorenz",
        "rossler",
    ]
    for name, cls in SYSTEMS.items():
        assert get_system(name) is cls and cls.name == name
        assert issubclass(cls, AbstractSystem)
    with pytest.raises(ValueError, match="unknown system 'duffing'; expected one of"):
        get_system("duffing")


@pytest.mark.parametrize("cls", ALL)
def test_vmap_equals_loop(cls, key):
    base = cls.from_params()
    systems = [
        cls.from_params(**{k: v * (1 + 0.05 * i) for k, v in base.params().items()})
        for i in range(4)
    ]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *systems)
    ys = jnp.asarray(cls.default_y0) + 0.1 * jax.random.normal(key, (4, cls.dim))
    batched = jax.jit(jax.vmap(lambda m, y: m(0.0, y)))(stacked, ys)
    looped = jnp.stack([m(0.0, y) for m, y in zip(systems, ys, strict=True)])
    # Same arithmetic batched or not: equal to rounding.
    np.testing.assert_allclose(batched, looped, rtol=1e-14, atol=1e-14)
    jac_b = jax.vmap(jax.jacfwd(lambda m, y: m(0.0, y), argnums=1))(stacked, ys)
    jac_l = jnp.stack([jax.jacfwd(m, argnums=1)(0.0, y) for m, y in zip(systems, ys, strict=True)])
    np.testing.assert_allclose(jac_b, jac_l, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("cls", ALL)
def test_jacfwd_matches_finite_differences(cls, key):
    system = cls.from_params()
    y = jnp.asarray(cls.default_y0) + 0.1 * jax.random.normal(key, (cls.dim,))
    jac = jax.jit(jax.jacfwd(lambda y: system(0.0, y)))(y)
    h = 1e-6
    cols = [(system(0.0, y + h * e) - system(0.0, y - h * e)) / (2 * h) for e in jnp.eye(cls.dim)]
    # Central differences with h = 1e-6: truncation ~h², rounding ~eps/h ≈ 1e-10 relative.
    np.testing.assert_allclose(jac, jnp.stack(cols, axis=1), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("cls", ALL)
def test_keeps_state_dtype(cls):
    # Parameters are float64 here (x64 on); a float32 state still gives a float32 field.
    y = jnp.asarray(cls.default_y0, dtype=jnp.float32)
    assert cls.from_params()(0.0, y).dtype == jnp.float32


def test_import_leaves_x64_off():
    code = "import jax, satode.systems; assert not jax.config.jax_enable_x64"
    subprocess.run([sys.executable, "-c", code], check=True)
