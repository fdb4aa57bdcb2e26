"""Training on trajectories: data, normalisation export, fit, resume, ensembles, model folders."""

import copy
import csv
import dataclasses
import json

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import satode
from satode._data import add_noise, make_trajectories, Normaliser, r_squared, split
from satode._train import (
    _chunk_ensemble,
    export_mlp,
    fit,
    fit_ensemble,
    init_mlp,
    predict,
    trainable,
    TrainOptions,
)
from satode._train_run import check_train_config, load_trained, train_config
from satode.systems import StuartLandau


analyse = eqx.filter_jit(satode.analyse_orbit)


@pytest.fixture(scope="module")
def sl_data():
    data = make_trajectories(
        StuartLandau(),
        jax.random.key(1),
        n_trajectories=44,
        t1=4.0,
        n_times=41,
        initial="box",
        box=[[-1.5, 1.5], [-1.5, 1.5]],
    )
    return split(data, 4, 0)


# The tiny setup every file/ensemble test shares, so the training step compiles once.
TINY = {
    "data": {
        "system": "stuart-landau",
        "box": [[-1.5, 1.5], [-1.5, 1.5]],
        "n_train": 6,
        "n_val": 2,
        "n_test": 2,
        "t1": 2.0,
        "n_times": 11,
        "normalise": "minmax",
        "seed": 3,
    },
    "model": {"width": 8, "depth": 1},
    "train": {"curriculum": [[4, 20], [11, 20]], "batch_size": 4, "eval_every": 10, "seed": 5},
    "solver": {"max_steps": 256},
    "analysis": {"enabled": False},
}


def test_stuart_landau_training_reaches_the_cycle(sl_data):
    """configs/train_stuart_landau.toml through the library (4 fewer training trajectories)."""
    train, val, _ = sl_data
    options = TrainOptions(
        curriculum=((6, 1200), (11, 400), (41, 200)),
        batch_size=32,
        learning_rate=1e-2,
        schedule="cosine",
        final_lr_factor=0.01,
        eval_every=200,
    )
    flow = satode.FlowOptions(solver=dfx.Dopri5(), rtol=1e-4, atol=1e-5, max_steps=256)
    model = init_mlp(jax.random.key(2), 2, 64, 2)
    res = fit(
        model,
        train,
        jax.random.key(3),
        val=val,
        normaliser=Normaliser.fit("none", train.ys),
        options=options,
        flow=flow,
    )
    assert res.losses.shape == (1800,) and int(res.steps) == 1800
    a = analyse(res.physical, jnp.array([1.0, 0.0]), transient=20.0)
    assert a.result == satode.RESULTS.successful
    # The tolerances for a short CI training: period within 1% of 2π, the non-trivial
    # exponent within 10% of −2 (exact Stuart–Landau: T = 2π, λ = {0, −2}).
    assert abs(float(a.orbit.period) / (2 * np.pi) - 1) < 0.01
    assert abs(float(a.spectrum.exponents[1]) / -2.0 - 1) < 0.10
    # SCIENCE.md §2: the order |λ| ≤ C_emp ≤ C_theory holds on the learned orbit.
    assert bool(a.audit.contained)


def test_normaliser_and_export_are_the_same_field(key):
    ys = jax.random.normal(key, (5, 7, 2)) * jnp.array([30.0, 0.2]) + jnp.array([-40.0, 0.3])
    for kind in ("minmax", "standard"):
        n = Normaliser.fit(kind, ys, time_scale=7.0)
        z = n.encode(ys).reshape(-1, 2)
        if kind == "minmax":
            np.testing.assert_allclose(z.min(0), 0.0, atol=1e-14)
            np.testing.assert_allclose(z.max(0), 1.0, atol=1e-14)
        else:
            np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-13)
            np.testing.assert_allclose(z.std(0), 1.0, atol=1e-13)
        np.testing.assert_allclose(n.decode(n.encode(ys)), ys, rtol=1e-14, atol=1e-12)
        model = init_mlp(jax.random.key(4), 2, 16, 2, activation="silu", shift=0.3, gain=1.7)
        phys = export_mlp(model, n)
        y = ys[0]
        want = jax.vmap(lambda v, n=n, m=model: n.scale / n.time_scale * m(0, n.encode(v)))(y)
        got = jax.vmap(lambda v, p=phys: p(0, v))(y)
        # f(y) = (a/τ) ⊙ f_z((y − b)/a), exactly up to rounding.
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        # Same pre-activations: every δ_k of the audit is unchanged by the export.
        pre = model.pre_activations(n.encode(y[0]))
        for u, w in zip(phys.pre_activations(y[0]), pre, strict=True):
            np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-12)


def test_predict_equals_integrating_the_exported_network(key):
    ys = jnp.array([[[-60.0, 0.0]], [[40.0, 0.5]]])
    n = Normaliser.fit("minmax", ys, time_scale=10.0)
    model = init_mlp(key, 2, 8, 1)
    ts = jnp.linspace(0.0, 30.0, 7)
    y0 = jnp.array([[-20.0, 0.2]])
    flow = satode.FlowOptions(rtol=1e-11, atol=1e-12)
    pred = predict(model, n, y0, ts, flow)
    phys = export_mlp(model, n)
    sol = satode.integrate(phys, y0[0], ts[-1], options=flow, saveat=dfx.SaveAt(ts=ts))
    # Same trajectory in physical units (the affine change of variables commutes with the flow).
    np.testing.assert_allclose(pred[0], sol.ys, rtol=1e-8, atol=1e-8)


def test_trajectories_around_the_cycle_and_noise(key):
    data = make_trajectories(
        StuartLandau(),
        key,
        n_trajectories=6,
        t1=1.0,
        n_times=5,
        initial="cycle",
        y0=[0.3, 0.1],
        transient=10.0,
        spread=0.01,
    )
    r = np.linalg.norm(np.asarray(data.ys[:, 0]), axis=-1)
    # Starts on the unit circle kicked by N(0, (0.01·2)²) per coordinate: |r − 1| ≪ 0.1.
    assert np.all(np.abs(r - 1) < 0.1)
    noisy = add_noise(data, key, 0.1)
    rel = np.std(np.asarray(noisy.ys - data.ys)) / np.std(np.asarray(data.ys))
    assert 0.07 < rel < 0.13  # 30 samples of a std-0.1 noise
    assert float(r_squared(data.ys, data.ys)) == 1.0
    with pytest.raises(ValueError, match="box"):
        make_trajectories(StuartLandau(), key, n_trajectories=2, t1=1.0, n_times=3)


def _tiny(tmp_path, name, **train):
    raw = copy.deepcopy(TINY)
    raw["train"].update(train)
    return check_train_config(str(tmp_path / f"{name}.toml"), raw), tmp_path / name


def _params(model):
    return jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))


def test_checkpoint_resume_is_bit_for_bit(tmp_path):
    cfg, full = _tiny(tmp_path, "full")
    train_config(cfg, full, progress=False)
    _, part = _tiny(tmp_path, "part")
    out = train_config(cfg, part, progress=False, until=20)  # "killed" after stage 1
    assert out == {"interrupted_at": 20}
    header = json.loads((part / "checkpoint.json").read_text())
    assert header["step"] == 20 and header["config"]["model"]["width"] == 8
    train_config(cfg, part, progress=False)  # resumes from the checkpoint
    rows = [list(csv.DictReader(open(d / "metrics.csv"))) for d in (full, part)]
    assert len(rows[0]) == 40 and rows[0] == rows[1]  # the same loss curve, every digit
    a, b = load_trained(full), load_trained(part)
    for x, y in zip(_params(a.model), _params(b.model), strict=True):
        assert np.array_equal(x, y)
    # Reload → identical predictions; the exported .npz is the physical network.
    net = satode.load_mlp(full)
    y0 = jnp.array([[0.5, -0.4]])
    ts = jnp.linspace(0.0, 1.0, 5)
    assert np.array_equal(
        predict(a.model, a.normaliser, y0, ts), predict(b.model, b.normaliser, y0, ts)
    )
    for w, v in zip(net.weights, a.physical.weights, strict=True):
        assert np.array_equal(w, v)
    # A trained folder is a network wherever one is accepted.
    from satode._target import resolve_field

    field, params, _ = resolve_field(str(full), params={"gain": 2.0})
    assert params["gain"] == 2.0 and np.array_equal(field.weights[0], net.weights[0])
    with pytest.raises(satode.InputError, match="different config"):
        other, _ = _tiny(tmp_path, "x", learning_rate=1e-3)
        train_config(other, part, progress=False)


def test_early_stopping_keeps_the_best(tmp_path, sl_data):
    train, val, _ = sl_data
    cfg, _ = _tiny(tmp_path, "es")
    from satode._train_run import train_options

    base = train_options(cfg)
    # min_delta = 1e9: only the first evaluation counts as an improvement, so with patience 1
    # training stops at the second evaluation and returns the model of the first.
    opts = dataclasses.replace(base, patience=1, min_delta=1e9)
    small_train, small_val = train.subset(slice(0, 6)), val.subset(slice(0, 2))
    small_train = type(train)(train.ts[:11], small_train.ys[:, :11])
    small_val = type(val)(val.ts[:11], small_val.ys[:, :11])
    model = init_mlp(jax.random.key(0), 2, 8, 1)
    n = Normaliser.fit("minmax", small_train.ys)
    res = fit(model, small_train, jax.random.key(1), val=small_val, normaliser=n, options=opts)
    assert bool(res.stopped) and int(res.steps) == 20 and res.val_losses.shape == (2,)
    assert float(res.best_val) == float(res.val_losses[0])


def test_ensemble_of_8_is_8_separate_runs(tmp_path, sl_data):
    train, val, _ = sl_data
    small_train = type(train)(train.ts[:11], train.ys[:6, :11])
    small_val = type(val)(val.ts[:11], val.ys[:2, :11])
    cfg, _ = _tiny(tmp_path, "ens")
    from satode._train_run import train_options

    opts = train_options(cfg)
    n = Normaliser.fit("minmax", small_train.ys)
    keys = jax.random.split(jax.random.key(7), 8)
    init_keys = jax.random.split(jax.random.key(8), 8)
    gains = jnp.array([0.5, 1.0, 2.0, 4.0] * 2)
    models = eqx.filter_vmap(lambda k, g: init_mlp(k, 2, 8, 1, gain=g))(init_keys, gains)
    before = eqx.debug.get_num_traces(_chunk_ensemble)
    ens = fit_ensemble(models, small_train, keys, val=small_val, normaliser=n, options=opts)
    assert eqx.debug.get_num_traces(_chunk_ensemble) - before == 1  # one compile, both stages
    for i in range(8):
        one = fit(
            jax.tree.map(lambda x, i=i: x[i], models),
            small_train,
            keys[i],
            val=small_val,
            normaliser=n,
            options=opts,
        )
        member = jax.tree.map(lambda x, i=i: x[i], ens.model)
        for x, y in zip(_params(one.model), _params(member), strict=True):
            # vmap equals the loop (batched vs single matmuls differ only in rounding order).
            np.testing.assert_allclose(y, x, rtol=0, atol=1e-10)
        assert float(one.model.gain) == float(gains[i])  # the level is held fixed
    spec = trainable(models)
    assert spec.gain is False and spec.shift is False


def test_multiple_shooting_closes_the_gaps(sl_data):
    train, _, _ = sl_data
    small = type(train)(train.ts[:11], train.ys[:6, :11])
    opts = TrainOptions(
        curriculum=((0, 60),),
        shooting_segments=2,
        continuity_weight=10.0,
        eval_every=30,
        learning_rate=1e-2,
    )
    n = Normaliser.fit("minmax", small.ys)
    model = init_mlp(jax.random.key(0), 2, 8, 1)
    res = fit(model, small, jax.random.key(1), normaliser=n, options=opts)
    losses = np.asarray(res.losses)
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]


def test_bad_train_config_names_the_key(tmp_path):
    raw = copy.deepcopy(TINY)
    raw["train"]["optimiser"] = "adam"
    with pytest.raises(satode.InputError, match="train.optimiser"):
        check_train_config("x.toml", raw)
    raw = copy.deepcopy(TINY)
    raw["train"]["curriculum"] = [[4, 15]]
    with pytest.raises(satode.InputError, match="multiple of eval_every"):
        check_train_config("x.toml", raw)
    raw = copy.deepcopy(TINY)
    raw["data"]["box"] = [[1, 0]]
    with pytest.raises(satode.InputError, match="data.box"):
        check_train_config("x.toml", raw)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[data]\nsystem = 'nope'\nt1 = 1.0\nn_times = 5\n[train]\ncurriculum=[[2, 50]]\n"
    )
    from satode._cli import main

    assert main(["train", str(bad), "--out", str(tmp_path / "o")]) == 2


def test_certificate_before_and_after_training(tmp_path):
    """A shift ensemble (shift held fixed while training): the capacity certificate of every
    initial and every trained network against the true Stuart–Landau cycle (the unit circle,
    exponents {0, −2}, period 2π: C_needed = max(2, 2π/T) = 2)."""
    from satode._train import export_mlp
    from satode._train_run import _models_and_keys, build_data

    raw = copy.deepcopy(TINY)
    raw["analysis"] = {"enabled": True, "y0": [1.0, 0.0], "transient": 10.0, "n_samples": 257}
    raw["ensemble"] = {"seeds": [0], "parameter": "shift", "levels": [0.0, 6.0]}
    cfg = check_train_config("x.toml", raw)
    summary = train_config(cfg, tmp_path / "run", progress=False)
    rows = summary["analysis"]
    assert [r["level"] for r in rows] == [0.0, 6.0]
    for r in rows:
        assert abs(r["c_needed"] - 2.0) < 1e-8
        for when in ("before", "after"):
            c = r[f"{when}_c_theory_true"]
            # The rule: `cannot` exactly when the bound on the true cycle is below the need.
            assert (r[f"{when}_verdict"] == "cannot") == (c < r["c_needed"]), (when, c)
            deltas = np.prod([r[k] for k in r if k.startswith(f"{when}_delta_")])
            np.testing.assert_allclose(r[f"{when}_c_w_needed"] * deltas, r["c_needed"], rtol=1e-12)
        assert r["before_verdict"] in ("cannot", "undetermined")
    # Independently: δ of the initial one-layer network on the exact unit circle, in numpy.
    _, _, _, _, normaliser = build_data(cfg)
    models, _, _ = _models_and_keys(cfg, 2)
    theta = np.linspace(0.0, 2 * np.pi, 4001)
    circle = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    for i, r in enumerate(rows):
        net = export_mlp(jax.tree.map(lambda x, i=i: x[i], models), normaliser)
        w, b = np.asarray(net.weights[0]), np.asarray(net.biases[0])
        z = float(net.gain) * (circle @ w.T + b + float(net.shift))
        delta = np.max(1 - np.tanh(z) ** 2)
        np.testing.assert_allclose(r["before_delta_1"], delta, rtol=1e-4)
        # C_theory = C_W δ for one hidden layer.
        np.testing.assert_allclose(r["before_c_theory_true"], r["before_c_w"] * delta, rtol=1e-4)
    # A shift of 6 leaves σ' ≈ 2.5e-5 on the circle: the initial network provably cannot.
    assert rows[1]["before_verdict"] == "cannot" and rows[1]["before_delta_1"] < 1e-3


def test_certificate_verdicts_for_a_three_dimensional_target():
    """Rössler's period-1 cycle (C_needed = max|λ_i| = 2.117): a network whose own cycle matches
    the whole 3-D spectrum is `can`, one that misses an exponent `undetermined`, and one
    saturated below C_needed on the true cycle `cannot` whatever its cycle looks like."""
    from satode._train_run import capacity_rows, true_cycle
    from satode.systems import Rossler

    analysis = dict(
        enabled=True,
        y0=None,
        transient=None,
        rtol=1e-10,
        atol=1e-12,
        max_steps=200_000,
        n_samples=257,
        reference_period=None,
        reference_exponent=None,
    )
    cycle = true_cycle(Rossler(c=2.5), {"analysis": analysis})
    exps = cycle.truth["exponents"]
    assert len(exps) == 3 and not cycle.target.planar
    assert cycle.c_needed == pytest.approx(max(abs(e) for e in exps), rel=1e-12)
    nets = [
        satode.SaturatingMLP.random(jax.random.key(i), dim=3, width=16, depth=1, activation="tanh")
        for i in range(3)
    ]
    nets[2] = eqx.tree_at(lambda m: m.shift, nets[2], jnp.asarray(12.0))
    nets = jax.tree.map(lambda *x: jnp.stack(x), *nets)
    same = {"status": "ok", "period": cycle.truth["period"]}
    same.update({f"exponent_{k}": e for k, e in enumerate(exps, 1)})
    missed = dict(same, exponent_3=1.5 * exps[2])
    rows = capacity_rows(nets, cycle, [same, missed, same])
    assert [r["verdict"] for r in rows] == ["can", "undetermined", "cannot"]
    assert rows[0]["c_theory_true"] >= cycle.c_needed > rows[2]["c_theory_true"]
    # Before training (no own cycles) nothing is `can`.
    assert [r["verdict"] for r in capacity_rows(nets, cycle)] == [
        "undetermined",
        "undetermined",
        "cannot",
    ]
