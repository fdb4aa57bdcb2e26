"""`load_config`: valid configs get their defaults; every bad input is an `InputError` that names
the file and the key at fault."""

from pathlib import Path

import numpy as np
import pytest

from satode._config import load_config
from satode._errors import InputError


# ../shared beside the checkout (the project's layout), else this machine's copy.
_SHARED = next(
    p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()
)
REFERENCE_NPZ = str(_SHARED / "reference" / "mlp_1layer_nls_a1.npz")
QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.toml"

SYSTEM_MINIMAL = """
[system]
name = "stuart-landau"

[sweep]
parameter = "mu"
levels = [0.5, 1.0, 1.5]
"""


def _write(tmp_path, text, name="config.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_system_config_gets_defaults(tmp_path):
    path = _write(tmp_path, SYSTEM_MINIMAL)
    c = load_config(path)
    assert c.path == str(path)
    assert c.network is None and c.fit is None
    assert c.system == {"name": "stuart-landau", "preset": None, "params": {}}
    assert c.levels == [0.5, 1.0, 1.5]
    sw = c.sweep
    assert sw["parameter"] == "mu"
    assert sw["chunk_size"] is None  # `sweep` picks the strand count
    assert sw["warm_start"] is True
    assert sw["n_samples"] == 2049
    assert sw["y0"] is None and sw["period"] is None and sw["circle_radius"] is None
    assert sw["transient"] == 0.0
    assert c.solver == {
        "method": "dopri8",
        "unrolled": False,
        "rtol": 1e-11,
        "atol": 1e-12,
        "dt": None,
        "max_steps": 100_000,
        "newton_tol": 1e-11,
        "closure_tol": 1e-8,
    }
    assert c.output == {"title": None, "table_rows": 60}


def test_network_file_config(tmp_path):
    path = _write(
        tmp_path,
        f"""
[network]
file = "{REFERENCE_NPZ}"
gain = 2

[sweep]
levels = [1.0, 2.0]
y0 = [1.0, 0.0]
""",
    )
    c = load_config(path)
    assert c.system is None and c.fit is None
    assert c.network == {"file": REFERENCE_NPZ, "gain": 2, "shift": None}
    assert c.sweep["parameter"] == "gain"
    assert c.sweep["y0"] == [1.0, 0.0]
    assert c.levels == [1.0, 2.0]


def test_network_fit_config(tmp_path):
    path = _write(
        tmp_path,
        """
[network.fit]
width = 16
steps = 10
params = { mu = 1.0 }

[sweep]
levels = { start = 1.0, stop = 3.0, num = 3 }
""",
    )
    c = load_config(path)
    assert c.system is None
    assert c.network["file"] is None
    fit = c.fit
    assert fit["width"] == 16 and fit["steps"] == 10 and fit["params"] == {"mu": 1.0}
    assert fit["system"] == "stuart-landau"
    assert fit["depth"] == 1 and fit["activation"] == "tanh" and fit["optimizer"] == "adam"
    assert fit["radius"] == [0.1, 2.0] and fit["train_first_bias"] is True
    assert fit["row_norm_max"] is None and fit["seed"] == 0
    np.testing.assert_allclose(c.levels, [1.0, 2.0, 3.0], rtol=0, atol=0)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("{ start = 1.0, stop = 25.0, num = 48, spacing = 'log' }", np.geomspace(1.0, 25.0, 48)),
        ("{ start = 0.001, stop = 10, num = 5, spacing = 'log' }", np.geomspace(1e-3, 10.0, 5)),
        ("{ start = -1.0, stop = 2.0, num = 7 }", np.linspace(-1.0, 2.0, 7)),
        ("{ start = 0, stop = 1, num = 11, spacing = 'linear' }", np.linspace(0.0, 1.0, 11)),
        ("{ start = 3.0, stop = 3.0, num = 1 }", np.array([3.0])),
    ],
)
def test_level_specs(tmp_path, spec, expected):
    path = _write(tmp_path, SYSTEM_MINIMAL.replace("[0.5, 1.0, 1.5]", spec))
    levels = load_config(path).levels
    assert isinstance(levels, list) and all(isinstance(v, float) for v in levels)
    np.testing.assert_allclose(levels, expected, rtol=1e-15, atol=0)


def test_quickstart_config_loads():
    c = load_config(QUICKSTART)
    assert c.fit is not None and c.fit["width"] == 64
    assert len(c.levels) == 48
    np.testing.assert_allclose(c.levels, np.geomspace(1.0, 25.0, 48), rtol=1e-15)
    assert c.sweep["circle_radius"] == 1.0


def _sys(sweep_extra="", levels="[0.5, 1.0]", solver="", system_extra=""):
    return (
        f'[system]\nname = "stuart-landau"\n{system_extra}\n'
        f'[sweep]\nparameter = "mu"\nlevels = {levels}\n{sweep_extra}\n'
        + (f"[solver]\n{solver}\n" if solver else "")
    )


_SWEEP_ONLY = "[sweep]\nlevels = [1.0]\n"
_NET = f'[network]\nfile = "{REFERENCE_NPZ}"\n'

# (id, file contents, words the message must contain besides the path)
BAD = [
    ("unknown-section", _sys() + "[outputs]\ntitle = 'x'\n", ["[outputs]", "output"]),
    ("misspelt-sweep-key", _sys("chunk_sise = 4"), ["sweep.chunk_sise", "chunk_size"]),
    (
        "misspelt-fit-key",
        "[network.fit]\nwidht = 4\n" + _SWEEP_ONLY,
        ["network.fit.widht", "width"],
    ),
    ("chunk-size-string", _sys('chunk_size = "8"'), ["sweep.chunk_size", "str"]),
    ("chunk-size-bool", _sys("chunk_size = true"), ["sweep.chunk_size", "bool"]),
    ("chunk-size-zero", _sys("chunk_size = 0"), ["sweep.chunk_size"]),
    ("warm-start-int", _sys("warm_start = 1"), ["sweep.warm_start", "bool"]),
    ("rtol-negative", _sys(solver="rtol = -1e-9"), ["solver.rtol"]),
    ("rtol-zero", _sys(solver="rtol = 0.0"), ["solver.rtol"]),
    ("atol-zero", _sys(solver="atol = 0"), ["solver.atol"]),
    ("atol-negative", _sys(solver="atol = -1e-12"), ["solver.atol"]),
    ("rtol-nan", _sys(solver="rtol = nan"), ["solver.rtol"]),
    ("max-steps-zero", _sys(solver="max_steps = 0"), ["solver.max_steps"]),
    ("unknown-method", _sys(solver='method = "rk4"'), ["solver.method", "dopri8"]),
    (
        "unrolled-implicit",
        _sys(solver='method = "kvaerno5"\nunrolled = true'),
        ["solver.unrolled", "implicit"],
    ),
    ("unrolled-string", _sys(solver='unrolled = "yes"'), ["solver.unrolled", "bool"]),
    ("levels-empty", _sys(levels="[]"), ["sweep.levels"]),
    ("levels-inf", _sys(levels="[1.0, inf]"), ["sweep.levels", "finite"]),
    ("levels-nan", _sys(levels="[nan]"), ["sweep.levels", "finite"]),
    ("levels-bool", _sys(levels="[1.0, true]"), ["sweep.levels[1]"]),
    ("levels-string", _sys(levels='"1,2"'), ["sweep.levels", "str"]),
    (
        "log-start-zero",
        _sys(levels="{start = 0.0, stop = 1.0, num = 3, spacing = 'log'}"),
        ["sweep.levels", "log"],
    ),
    (
        "log-start-negative",
        _sys(levels="{start = -1.0, stop = 1.0, num = 3, spacing = 'log'}"),
        ["sweep.levels", "log"],
    ),
    ("levels-num-zero", _sys(levels="{start = 1.0, stop = 2.0, num = 0}"), ["sweep.levels.num"]),
    (
        "levels-spacing",
        _sys(levels="{start = 1.0, stop = 2.0, num = 3, spacing = 'cubic'}"),
        ["sweep.levels.spacing"],
    ),
    ("levels-missing-stop", _sys(levels="{start = 1.0, num = 3}"), ["sweep.levels.stop"]),
    ("levels-inf-spec", _sys(levels="{start = 1.0, stop = inf, num = 3}"), ["sweep.levels"]),
    (
        "levels-missing",
        '[system]\nname = "stuart-landau"\n[sweep]\nparameter = "mu"\n',
        ["sweep.levels", "missing"],
    ),
    ("n-samples-small", _sys("n_samples = 2"), ["sweep.n_samples"]),
    ("period-negative", _sys("period = -1.0"), ["sweep.period"]),
    ("transient-negative", _sys("transient = -1.0"), ["sweep.transient"]),
    ("y0-not-numbers", _sys('y0 = [1.0, "a"]'), ["sweep.y0"]),
    ("params-not-number", _sys(system_extra='params = { mu = "x" }'), ["system.params.mu"]),
    ("system-name-missing", '[system]\npreset = "x"\n' + _SWEEP_ONLY, ["system.name", "missing"]),
    ("missing-sweep", '[system]\nname = "stuart-landau"\n', ["[sweep]", "missing"]),
    ("sweep-not-table", 'sweep = 3\n[system]\nname = "stuart-landau"\n', ["[sweep]", "table"]),
    ("both-network-system", _NET + _sys(), ["[network]", "[system]"]),
    ("neither-network-system", _SWEEP_ONLY, ["[network]", "[system]"]),
    (
        "network-file-and-fit",
        _NET + "[network.fit]\nwidth = 4\n" + _SWEEP_ONLY,
        ["network", "network.file", "[network.fit]"],
    ),
    (
        "network-neither-file-nor-fit",
        "[network]\ngain = 2.0\n" + _SWEEP_ONLY,
        ["network", "network.file"],
    ),
    ("network-gain-string", _NET + 'gain = "2"\n' + _SWEEP_ONLY, ["network.gain"]),
    ("invalid-toml", '[system\nname = "stuart-landau"\n', ["invalid TOML"]),
    ("invalid-toml-value", _sys("chunk_size = "), ["invalid TOML"]),
]


@pytest.mark.parametrize("text, words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config(tmp_path, text, words):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    assert "\n" not in message


def test_unreadable_config(tmp_path):
    path = tmp_path / "no-such-config.toml"
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "cannot read" in message


def test_config_that_is_a_directory(tmp_path):
    with pytest.raises(InputError) as info:
        load_config(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_input_error_is_value_error(tmp_path):
    path = _write(tmp_path, _SWEEP_ONLY)
    with pytest.raises(ValueError):
        load_config(path)


def test_unrolled_solver_and_digest(tmp_path):
    import diffrax as dfx

    from satode import Unrolled
    from satode._runner import config_digest, flow_options

    plain = load_config(_write(tmp_path, SYSTEM_MINIMAL, "plain.toml"))
    off = load_config(_write(tmp_path, SYSTEM_MINIMAL + "[solver]\nunrolled = false\n", "off.toml"))
    on = load_config(_write(tmp_path, SYSTEM_MINIMAL + "[solver]\nunrolled = true\n", "on.toml"))
    assert type(flow_options(plain.solver).solver) is dfx.Dopri8
    solver = flow_options(on.solver).solver
    assert isinstance(solver, Unrolled) and type(solver.solver) is dfx.Dopri8
    # The key came after result folders were written: at its default it leaves the digest alone.
    assert config_digest(plain) == config_digest(off) != config_digest(on)
