"""Lyapunov sweeps: vmap = loop, compile once, status per level, configs, report and CLI."""

import csv

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import satode
from satode._cli import main
from satode._config import load_config
from satode._lyapunov_sweep import _lyapunov_chunks
from satode._runner import run_config


KW = dict(t_total=20.0, renorm_interval=0.5, transient=2.0, n_batches=4)


def test_sweep_equals_loop_compiles_once_and_keeps_failures_local():
    # 3 levels in chunks of 2 (one padded level). A max_steps too small for the largest ρ makes
    # only that level fail. Short runs: chaos amplifies last-bit differences between batched
    # and unbatched arithmetic over long ones.
    lorenz = satode.systems.Lorenz()
    options = satode.FlowOptions(max_steps=60)
    levels = jnp.array([20.0, 28.0, 200.0])
    before = eqx.debug.get_num_traces(_lyapunov_chunks)
    out = satode.lyapunov_sweep(
        lorenz, levels, jnp.ones(3), parameter="rho", chunk_size=2, options=options, **KW
    )
    out2 = satode.lyapunov_sweep(
        lorenz, levels + 1e-3, jnp.ones(3), parameter="rho", chunk_size=2, options=options, **KW
    )
    assert eqx.debug.get_num_traces(_lyapunov_chunks) - before == 1
    assert out2.analysis.exponents.shape == (3, 3)
    codes = [satode.status_name(c) for c in np.asarray(out.analysis.result._value)]
    assert codes == ["ok", "ok", "max_steps"]
    assert np.all(np.isnan(out.analysis.exponents[2]))
    single = eqx.filter_jit(
        lambda rho: satode.lyapunov_spectrum(
            satode.systems.Lorenz(rho=rho), jnp.ones(3), options=options, **KW
        )
    )
    for i in range(2):
        one = single(levels[i])
        np.testing.assert_allclose(out.analysis.exponents[i], one.exponents, rtol=0, atol=1e-10)
        np.testing.assert_allclose(out.analysis.stderr[i], one.stderr, rtol=0, atol=1e-10)
    # The exact Lorenz sum holds at every successful level.
    np.testing.assert_allclose(out.analysis.sum[:2], -(10 + 1 + 8 / 3), atol=1e-6)


CONFIG = """
[system]
name = "van-der-pol"

[sweep]
parameter = "mu"
levels = [0.5, 1.0]
y0 = [2.0, 0.0]
n_samples = 65
spectra = [{spectra}]

[lyapunov]
t_total = 40.0
renorm_interval = 0.5
transient = 20.0
n_batches = 4

[solver]
rtol = 1e-9
atol = 1e-10
"""


def test_config_sweep_with_both_spectra(tmp_path):
    # Van der Pol: on the stable cycle the Lyapunov exponents are the Floquet exponents, up to
    # the phase term ln(|f(y_end)| / |f(y_start)|) / t_total of a 40-unit average: |f| varies
    # by less than e^2 on these cycles, so less than 0.05.
    path = tmp_path / "vdp.toml"
    path.write_text(CONFIG.format(spectra='"floquet", "lyapunov"'))
    rows = run_config(load_config(path), tmp_path / "out", progress=False)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert [r["lyap_status"] for r in rows] == ["ok", "ok"]
    for r in rows:
        assert abs(r["lyap_exponent_2"] - r["exponent_2"]) < 0.05
        assert abs(r["lyap_exponent_1"]) < 0.05
    with open(tmp_path / "out" / "results.csv") as f:
        header = next(csv.reader(f))
    assert "exponent_1" in header and "lyap_exponent_1" in header and "lyap_stderr_2" in header
    table = (tmp_path / "out" / "table.md").read_text()
    assert "## Lyapunov spectra" in table and "λ1" in table
    assert (tmp_path / "out" / "spectrum.png").exists()
    assert (tmp_path / "out" / "lyapunov.png").exists()


@pytest.mark.parametrize(
    "edit, key",
    [
        (
            lambda t: t.replace("spectra = [{spectra}]", 'spectra = ["lyapunov", "chaos"]'),
            "sweep.spectra",
        ),
        (lambda t: t.replace("spectra = [{spectra}]", "spectra = []"), "sweep.spectra"),
        (lambda t: t.replace("spectra = [{spectra}]", 'spectra = ["floquet"]'), "[lyapunov]"),
        (lambda t: t.replace("n_batches = 4", "n_batches = 400"), "lyapunov.n_batches"),
        (lambda t: t.replace("t_total = 40.0", "t_total = -1.0"), "lyapunov.t_total"),
        (lambda t: t.replace("n_batches = 4", "n_batchs = 4"), "lyapunov.n_batchs"),
    ],
)
def test_config_errors_name_the_key(tmp_path, edit, key):
    path = tmp_path / "bad.toml"
    path.write_text(edit(CONFIG).replace("{spectra}", '"lyapunov"'))
    with pytest.raises(satode.InputError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_fit_box_config_error(tmp_path):
    path = tmp_path / "box.toml"
    path.write_text(
        '[network.fit]\nsystem = "lorenz"\nbox = [[0, 1], [2, 1], [0, 1]]\n'
        "[sweep]\nlevels = [1.0]\n"
    )
    with pytest.raises(satode.InputError, match="network.fit.box"):
        load_config(path)


def test_cli_lyapunov(capsys):
    import json

    # Exit 0 with the documented keys; x' = −x is too simple for the CLI, so Lorenz, short.
    code = main(
        [
            "lyapunov",
            "lorenz",
            "--t-total",
            "20",
            "--transient",
            "2",
            "--batches",
            "4",
            "--renorm-interval",
            "0.5",
            "--json",
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "ok" and len(record["exponents"]) == 3
    assert set(record) >= {"exponents", "stderr", "sum", "status", "params"}
    assert abs(record["sum"] + (10 + 1 + 8 / 3)) < 1e-6
    # Bad input: exit 2, one line naming the argument.
    for args, name in (
        (["--k", "4"], "--k"),
        (["--t-total", "-1"], "--t-total"),
        (["--y0", "1,2"], "--y0"),
        (["--set", "rho=x"], "--set"),
    ):
        assert main(["lyapunov", "lorenz", *args]) == 2
        err = capsys.readouterr().err
        assert name in err and err.count("\n") == 1
