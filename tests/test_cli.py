"""End-to-end tests of the `satode` command line (`python -m satode`), float64 (the CLI default).

Every command runs in a subprocess with a timeout. The independent ones are started together in
a thread pool by module-scoped fixtures (each one compiles its own JAX program, which dominates
the runtime), and the tests only read their results.
"""

import csv
import json
import math
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


TIMEOUT = 300
# ../shared beside the checkout (the project's layout), else this machine's copy.
SHARED = next(
    p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()
)
REFERENCE = SHARED / "reference"
REFERENCE_NPZ = REFERENCE / "mlp_1layer_nls_a1.npz"
PAPER_F_NPZ = SHARED / "paper" / "paper_F_biased_256.npz"
PAPER_F_TABLE = SHARED / "paper" / "paper_F_table.json"
STATUSES = {"ok", "no_orbit", "not_converged", "max_steps", "nonfinite"}

FIELDS_PY = """\
import math


def vdp(t, y, args):
    import jax.numpy as jnp

    return jnp.stack([y[1], (1 - y[0] ** 2) * y[1] - y[0]])


def centre(t, y, args):
    import jax.numpy as jnp

    return jnp.stack([2 * math.pi * y[1], -2 * math.pi * y[0]])


def raises(t, y, args):
    raise RuntimeError("boom")


def short(t, y, args):
    return y[:1]


not_callable = 3
"""

SWEEP_TOML = """\
[system]
name = "stuart-landau"

[sweep]
parameter = "mu"
levels = [0.5, 1.0, -0.5, 1.5]
chunk_size = 2
n_samples = 65
"""


@dataclass
class Run:
    args: list
    returncode: int
    stdout: str
    stderr: str

    @property
    def record(self) -> dict:
        return json.loads(self.stdout)


def satode(*args, cwd=None) -> Run:
    args = [str(a) for a in args]
    p = subprocess.run(
        [sys.executable, "-m", "satode", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
    )
    return Run(args, p.returncode, p.stdout, p.stderr)


def run_all(commands: dict) -> dict:
    """Run `{name: args}` concurrently; returns `{name: Run}`."""
    with ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 2) + 1)) as pool:
        futures = {name: pool.submit(satode, *args) for name, args in commands.items()}
        return {name: f.result() for name, f in futures.items()}


def assert_clean_failure(run: Run, returncode=2):
    assert run.returncode == returncode, (run.args, run.returncode, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("satode:"), run.stderr


def rel(a, b):
    return abs(a - b) / abs(b)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "fields.py").write_text(FIELDS_PY)
    data = dict(np.load(REFERENCE_NPZ))
    nan = dict(data)
    nan["W1"] = data["W1"].copy()
    nan["W1"][0, 0] = np.nan
    np.savez(d / "nan.npz", **nan)
    np.savez(d / "inf.npz", **{**nan, "W1": np.where(np.isnan(nan["W1"]), np.inf, nan["W1"])})
    np.savez(d / "shape.npz", **{**data, "W2": data["W2"][:, :10]})
    np.savez(d / "missing_key.npz", **{k: v for k, v in data.items() if k != "b2"})
    np.savez(
        d / "float32.npz",
        **{k: v.astype(np.float32) if k[0] in "Wb" else v for k, v in data.items()},
    )
    np.savez(d / "activation.npz", **{**data, "activation": np.array("swish2")})
    raw = REFERENCE_NPZ.read_bytes()
    (d / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    (d / "sweep.toml").write_text(SWEEP_TOML)
    (d / "sweep_changed.toml").write_text(SWEEP_TOML.replace("n_samples = 65", "n_samples = 33"))
    (d / "a_file").write_text("not a folder\n")
    (d / "broken.py").write_text("def f(t, y, args)\n")
    (d / "bad.toml").write_text(SWEEP_TOML.replace("chunk_size", "chunk_sise"))
    # no `parameter`: the default, "gain", is not a Stuart-Landau parameter
    (d / "bad_parameter.toml").write_text(SWEEP_TOML.replace('parameter = "mu"\n', ""))
    (d / "bad_system.toml").write_text(SWEEP_TOML.replace("stuart-landau", "stuart-lando"))
    return d


@pytest.fixture(scope="module")
def runs(files):
    """All independent commands, run concurrently once for the module."""
    py = files / "fields.py"
    lorenz_y0 = "-13.763610682134,-19.578751942452,27"  # Viswanath (2003), orbit AB
    return run_all(
        {
            # successes
            "sl": ["floquet", "stuart-landau", "--set", "mu=0.5", "--set", "omega=2", "--json"],
            "vdp": ["floquet", "van-der-pol", "--json"],
            "vdp32": ["--float32", "floquet", "van-der-pol", "--json"],
            # a network whose cycle is gone at this gain: human output, no traceback
            "mlp_no_orbit": ["floquet", REFERENCE_NPZ, "--set", "gain=40"],
            "mlp": ["floquet", REFERENCE_NPZ, "--json"],
            "paper_f": ["floquet", PAPER_F_NPZ, "--set", "gain=2", "--circle", "1", "--json"],
            "py_vdp": ["floquet", f"{py}:vdp", "--y0", "-2,0", "--json"],
            "lorenz": ["floquet", "lorenz", "--y0", lorenz_y0, "--period", "1.5587", "--json"],
            # computations that fail or are degenerate
            "no_orbit": ["floquet", "stuart-landau", "--set", "mu=-1", "--json"],
            "centre": ["floquet", f"{py}:centre", "--y0", "1,0", "--json"],
            # the first sweep (the resume tests follow it)
            "sweep": ["sweep", files / "sweep.toml", "--out", files / "out"],
        }
    )


# The failures the command line must report cleanly, each run as a subprocess:
# (arguments, a word the message must contain). `{d}` is the fixture folder.
BAD_INPUT = {
    "unknown-system": (["floquet", "no-such-system"], "no-such-system"),
    "unknown-preset": (["floquet", "morris-lecar", "--preset", "nope"], "nope"),
    "unknown-parameter": (["floquet", "stuart-landau", "--set", "nu=1"], "nu"),
    "set-without-equals": (["floquet", "stuart-landau", "--set", "mu"], "--set"),
    "y0-not-numbers": (["floquet", "stuart-landau", "--y0", "a,b"], "--y0"),
    "y0-wrong-dimension": (["floquet", "stuart-landau", "--y0", "1,0,0"], "--y0"),
    "missing-npz": (["floquet", "{d}/missing.npz"], "missing.npz"),
    "truncated-npz": (["floquet", "{d}/truncated.npz"], "truncated.npz"),
    "nan-weights": (["floquet", "{d}/nan.npz"], "W1"),
    "unknown-activation": (["floquet", "{d}/activation.npz"], "swish2"),
    "py-without-name": (["floquet", "{d}/fields.py"], "FILE.py:NAME"),
    "py-wrong-dimension": (["floquet", "{d}/fields.py:vdp", "--y0", "1,0,0"], "shape"),
    "circle-on-3d": (["floquet", "lorenz", "--circle", "1"], "--circle"),
    "rtol-zero": (["floquet", "stuart-landau", "--rtol", "0"], "--rtol"),
    "rtol-not-a-number": (["floquet", "stuart-landau", "--rtol", "abc"], "--rtol"),
}

# More bad input, checked in-process through `main` (a subprocess costs seconds of imports).
BAD_INPUT_IN_PROCESS = {
    "set-not-a-number": (["floquet", "stuart-landau", "--set", "mu=abc"], "--set"),
    "set-nan": (["floquet", "stuart-landau", "--set", "mu=nan"], "--set"),
    "y0-nan": (["floquet", "stuart-landau", "--y0", "nan,0"], "--y0"),
    "y0-empty": (["floquet", "stuart-landau", "--y0", ","], "--y0"),
    "circle-negative": (["floquet", "stuart-landau", "--circle", "-1"], "--circle"),
    "atol-negative": (["floquet", "stuart-landau", "--atol=-1"], "--atol"),
    "rtol-inf": (["floquet", "stuart-landau", "--rtol", "inf"], "--rtol"),
    "period-negative": (["floquet", "stuart-landau", "--period", "-1"], "--period"),
    "transient-negative": (["floquet", "stuart-landau", "--transient", "-5"], "--transient"),
    "max-steps-zero": (["floquet", "stuart-landau", "--max-steps", "0"], "--max-steps"),
    "samples-small": (["floquet", "stuart-landau", "--samples", "2"], "--samples"),
    "preset-on-npz": (["floquet", str(REFERENCE_NPZ), "--preset", "hopf"], "--preset"),
    "npz-unknown-parameter": (["floquet", str(REFERENCE_NPZ), "--set", "mu=1"], "mu"),
    "npz-is-a-folder": (["floquet", "{d}"], "{d}"),
    "inf-weights": (["floquet", "{d}/inf.npz"], "W1"),
    "npz-wrong-shape": (["floquet", "{d}/shape.npz"], "W2"),
    "npz-missing-key": (["floquet", "{d}/missing_key.npz"], "b2"),
    "py-missing-file": (["floquet", "{d}/nope.py:f", "--y0", "1,0"], "nope.py"),
    "py-not-callable": (["floquet", "{d}/fields.py:not_callable", "--y0", "1,0"], "not_callable"),
    "py-without-y0": (["floquet", "{d}/fields.py:vdp"], "--y0"),
    "py-set": (["floquet", "{d}/fields.py:vdp", "--y0", "1,0", "--set", "mu=1"], "--set"),
    "py-raises": (["floquet", "{d}/fields.py:raises", "--y0", "1,0"], "boom"),
    "py-wrong-output": (["floquet", "{d}/fields.py:short", "--y0", "1,0"], "shape"),
    "py-import-fails": (["floquet", "{d}/broken.py:f", "--y0", "1,0"], "broken.py"),
    "unknown-option": (["floquet", "stuart-landau", "--bogus"], "--bogus"),
    "no-command": ([], "command"),
    "sweep-missing-config": (["sweep", "{d}/nope.toml"], "nope.toml"),
    "sweep-misspelt-key": (["sweep", "{d}/bad.toml", "--out", "{d}/out_bad"], "chunk_size"),
    "sweep-parameter": (["sweep", "{d}/bad_parameter.toml", "--out", "{d}/o"], "sweep.parameter"),
    "sweep-unknown-system": (["sweep", "{d}/bad_system.toml", "--out", "{d}/o"], "stuart-lando"),
}


@pytest.fixture(scope="module")
def bad_runs(files):
    commands = {
        name: [str(a).format(d=files) for a in args] for name, (args, _) in BAD_INPUT.items()
    }
    return run_all(commands)


# --- floquet: successes ---------------------------------------------------------------------

TOP_KEYS = {
    "system",
    "params",
    "status",
    "period",
    "y0",
    "multipliers",
    "exponents",
    "trivial_multiplier_error",
    "liouville_residual",
}
AUDIT_KEYS = {
    "delta",
    "zero_crossing",
    "c_w",
    "c_theory",
    "c_empirical",
    "c_refined",
    "rotation_ratio",
    "contained",
}


def check_contract(record: dict, dim: int):
    assert TOP_KEYS <= set(record)
    assert record["status"] in STATUSES
    assert len(record["y0"]) == dim
    assert len(record["multipliers"]) == dim
    assert all(isinstance(m, list) and len(m) == 2 for m in record["multipliers"])
    assert len(record["exponents"]) == dim
    if "audit" in record:
        assert AUDIT_KEYS <= set(record["audit"])


def test_stuart_landau(runs):
    r = runs["sl"]
    assert r.returncode == 0, r.stderr
    rec = r.record
    check_contract(rec, 2)
    assert rec["system"] == "stuart-landau"
    assert rec["params"] == {"mu": 0.5, "omega": 2.0, "beta": 0.0}
    assert rec["status"] == "ok"
    assert rel(rec["period"], math.pi) < 1e-9
    np.testing.assert_allclose(rec["exponents"], [0.0, -1.0], rtol=0, atol=1e-8)
    assert abs(math.hypot(*rec["y0"]) - math.sqrt(0.5)) < 1e-8
    mods = [math.hypot(*m) for m in rec["multipliers"]]
    np.testing.assert_allclose(mods, [1.0, math.exp(-math.pi)], rtol=1e-8)
    assert rec["trivial_multiplier_error"] < 1e-8
    assert rec["liouville_residual"] < 1e-8
    assert "audit" not in rec


def test_van_der_pol(runs):
    r = runs["vdp"]
    assert r.returncode == 0, r.stderr
    rec = r.record
    check_contract(rec, 2)
    assert rec["status"] == "ok" and rec["params"] == {"mu": 1.0}
    assert rel(rec["period"], 6.663286859) < 1e-8
    assert rec["exponents"][0] == pytest.approx(0.0, abs=1e-8)
    assert rec["exponents"][1] < -1.0


def test_van_der_pol_in_float32(runs):
    # `--float32` picks float32-sized settings (Dopri5, rtol 1e-6, Newton to 1e-5): the orbit is
    # found and its exponent is float64's (the reference value) to float32-sized accuracy.
    r = runs["vdp32"]
    assert r.returncode == 0, r.stderr
    rec = r.record
    assert rec["status"] == "ok"
    assert rel(rec["period"], 6.663286859) < 1e-5
    assert rec["exponents"][1] == pytest.approx(-1.0593770, abs=1e-4)


def test_network_without_orbit_prints_its_status(runs):
    r = runs["mlp_no_orbit"]
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert "status" in r.stdout and "C_W nan" in r.stdout
    assert r.stderr.strip().splitlines()[-1].startswith("satode: ")


def test_reference_mlp(runs):
    ref = json.loads((REFERENCE / "reference.json").read_text())["mlp"][0]
    assert ref["file"] == REFERENCE_NPZ.name
    r = runs["mlp"]
    assert r.returncode == 0, r.stderr
    rec = r.record
    check_contract(rec, 2)
    assert rec["status"] == "ok"
    assert rec["params"] == {"gain": 1.0, "shift": 0.0}
    assert rel(rec["period"], ref["period"]) < 1e-7
    np.testing.assert_allclose(rec["exponents"], ref["exponents"], rtol=1e-7, atol=1e-8)
    a = rec["audit"]
    np.testing.assert_allclose(a["delta"], ref["delta"], rtol=1e-7)
    assert rel(a["c_w"], ref["c_w"]) < 1e-7
    assert rel(a["c_theory"], ref["c_theory"]) < 1e-7
    assert rel(a["c_empirical"], ref["c_empirical"]) < 1e-4
    assert a["contained"] is True
    assert a["c_empirical"] <= a["c_refined"] <= a["c_theory"] * (1 + 1e-12)
    assert rel(a["rotation_ratio"], a["c_empirical"] * rec["period"] / (2 * math.pi)) < 1e-9


def test_paper_f_circle(runs):
    row = next(r for r in json.loads(PAPER_F_TABLE.read_text()) if r["s"] == 2.0)
    r = runs["paper_f"]
    assert r.returncode == 0, r.stderr
    rec = r.record
    check_contract(rec, 2)
    assert rec["curve"] == "circle"
    assert rec["status"] == "ok"
    assert rec["params"]["gain"] == 2.0
    assert rel(rec["period"], 2 * math.pi) < 1e-12
    mods = [math.hypot(*m) for m in rec["multipliers"]]
    assert rel(mods[0], row["mu1"]) < 1e-6
    assert rel(mods[1], row["mu2"]) < 1e-6
    a = rec["audit"]
    assert rel(a["c_empirical"], row["C_U"]) < 1e-4
    assert rel(a["delta"][0], row["delta"]) < 1e-5
    # the network's own orbit is reported beside the prescribed circle
    assert rec["orbit"]["status"] in STATUSES
    assert set(rec["orbit"]) >= {"period", "y0", "multipliers", "exponents", "status"}
    # The curve carries every field an orbit has (the orbit's own are under "orbit").
    assert set(rec["orbit"]) <= set(rec)
    assert rec["exponent_method"] == "eig" and rec["closure"] == 0.0
    # No multiplier of the circle is 1 (a complex pair of modulus 0.079): it is not an orbit.
    assert rec["trivial_multiplier_error"] > 0.9
    assert a["contained"] is True  # Grönwall along the curve: |ln|μ||/2π <= C_emp


def test_python_field(runs, files):
    r = runs["py_vdp"]  # also: `--y0 -2,0` (a value starting with '-') is accepted
    assert r.returncode == 0, r.stderr
    rec = r.record
    check_contract(rec, 2)
    assert rec["system"] == f"{files}/fields.py:vdp"
    assert rec["params"] == {}
    assert rec["status"] == "ok"
    assert rel(rec["period"], 6.663286859) < 1e-8


def test_lorenz_unstable_orbit(runs):
    # The shortest unstable periodic orbit ("AB") of Lorenz (10, 28, 8/3): T = 1.558652210
    # (D. Viswanath, Nonlinearity 16 (2003) 1035, table 1).
    r = runs["lorenz"]
    assert "Traceback" not in r.stderr
    rec = r.record
    check_contract(rec, 3)
    assert rec["status"] in {"ok", "not_converged"}
    assert r.returncode == (0 if rec["status"] == "ok" else 1)
    if rec["status"] == "ok":
        assert rel(rec["period"], 1.558652210) < 1e-8
        lam = rec["exponents"]
        assert lam[0] > 0.5 and abs(lam[1]) < 1e-6  # unstable, with the trivial exponent
        assert sum(lam) == pytest.approx(-(10 + 1 + 8 / 3), rel=1e-6)


def test_human_output(runs, capsys):
    from satode._cli import _print_human

    for name in ("sl", "mlp", "paper_f"):
        _print_human(runs[name].record)
        out = capsys.readouterr().out
        assert "period" in out and "exponents" in out and "|mu|" in out
        if name != "sl":
            assert "C_W" in out and "delta" in out
    assert "circle of radius 1" in out


# --- floquet: failed computations -----------------------------------------------------------


def test_no_orbit(runs):
    r = runs["no_orbit"]
    assert_clean_failure(r, returncode=1)
    rec = r.record
    check_contract(rec, 2)
    assert rec["status"] == "no_orbit"
    assert rec["period"] is None
    assert rec["closure"] is None  # nothing was shot, so nothing closed
    assert "no_orbit" in r.stderr


def test_linear_centre_is_not_reported_as_an_orbit_at_its_equilibrium(runs):
    # A continuum of orbits (every circle has period 1): the shooting system is singular and
    # Newton slides towards the equilibrium (0, 0), which closes trivially. That must not be
    # reported `ok` (a loop of zero size); a genuine circle of period 1 would be acceptable.
    r = runs["centre"]
    assert "Traceback" not in r.stderr
    rec = r.record
    check_contract(rec, 2)
    if rec["status"] == "ok":
        assert r.returncode == 0
        assert math.hypot(*rec["y0"]) > 1e-3
        assert rel(rec["period"], 1.0) < 1e-6
    else:
        assert_clean_failure(r, returncode=1)
        assert rec["period"] is None and rec["exponents"] == [None, None]
        assert rec["trivial_multiplier_error"] is None and rec["liouville_residual"] is None


# --- floquet: bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_bad_input(bad_runs, name):
    r = bad_runs[name]
    assert_clean_failure(r, returncode=2)
    assert BAD_INPUT[name][1] in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("name", list(BAD_INPUT_IN_PROCESS))
def test_bad_input_in_process(files, capsys, name):
    from satode._cli import main

    args, word = BAD_INPUT_IN_PROCESS[name]
    try:
        code = main([a.format(d=files) for a in args])
    except SystemExit as e:  # usage errors leave through argparse
        code = e.code
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("satode: error:"), captured.err
    assert word.format(d=files) in lines[0]


def test_negative_y0_value_is_not_an_option():
    from satode._cli import _vector_options

    assert _vector_options(["floquet", "x", "--y0", "-1,0"]) == ["floquet", "x", "--y0=-1,0"]
    assert _vector_options(["--y0", "-.5,2", "--json"]) == ["--y0=-.5,2", "--json"]
    assert _vector_options(["--y0", "--json"]) == ["--y0", "--json"]
    assert _vector_options(["--set", "mu=-1"]) == ["--set", "mu=-1"]


# --- sweep ----------------------------------------------------------------------------------


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_outputs(runs, files):
    r = runs["sweep"]
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    out = files / "out"
    for name in ("results.csv", "manifest.json", "table.md", "spectrum.png"):
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0, name
    rows = read_csv(out / "results.csv")
    assert [float(row["level"]) for row in rows] == [0.5, 1.0, -0.5, 1.5]
    for row in rows:
        mu = float(row["level"])
        if mu < 0:
            assert row["status"] == "no_orbit"
            assert math.isnan(float(row["period"]))
        else:
            assert row["status"] == "ok", row
            assert rel(float(row["period"]), 2 * math.pi) < 1e-9
            assert abs(float(row["exponent_1"])) < 1e-8
            assert abs(float(row["exponent_2"]) - (-2 * mu)) < 1e-8
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["levels"] == 4
    assert manifest["statuses"] == {"ok": 3, "no_orbit": 1}
    assert manifest["dtype"] == "float64"
    progress = json.loads((out / "progress.json").read_text())
    assert progress["done"] == 4
    assert (out / "spectrum.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rerun(runs, files):
    before = (files / "out" / "results.csv").read_bytes()
    r = satode("sweep", files / "sweep.toml", "--out", files / "out")
    return before, r


def test_sweep_rerun_reuses_results(rerun, files):
    before, r = rerun
    assert r.returncode == 0, r.stderr
    out = files / "out"
    assert json.loads((out / "progress.json").read_text())["done"] == 4
    assert (out / "results.csv").read_bytes() == before
    # nothing was recomputed: no progress line for a block
    assert "levels (" not in r.stderr


def test_sweep_changed_config_is_refused(rerun, files):
    before, _ = rerun
    r = satode("sweep", files / "sweep_changed.toml", "--out", files / "out")
    assert_clean_failure(r, returncode=2)
    assert "different config" in r.stderr
    assert (files / "out" / "results.csv").read_bytes() == before


def test_sweep_out_is_a_file(files):
    r = satode("sweep", files / "sweep.toml", "--out", files / "a_file")
    assert_clean_failure(r, returncode=2)
    assert "a_file" in r.stderr


def test_sweep_out_under_read_only_dir(files, tmp_path, capsys):
    from satode._cli import main

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)  # 0o500
    try:
        # root may write into a 0o500 folder; procfs refuses new entries to everyone.
        out = locked / "out" if not os.access(locked, os.W_OK) else Path("/proc/satode-out")
        assert main(["sweep", str(files / "sweep.toml"), "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("satode: error:") and len(captured.err.splitlines()) == 1
        assert str(out) in captured.err and "not writable" in captured.err
    finally:
        locked.chmod(0o700)


def _main_json(args, capsys):
    from satode._cli import main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_float32_weights_run_in_float64(files, runs, capsys):
    # float32 inputs with float64 enabled: promoted, not computed in float32. The weights differ
    # from the float64 file by rounding only (~6e-8 relative), so the orbit agrees to ~1e-6.
    code, rec, _ = _main_json(["floquet", files / "float32.npz", "--json"], capsys)
    assert code == 0 and rec["status"] == "ok"
    ref = runs["mlp"].record
    assert rel(rec["period"], ref["period"]) < 1e-5
    assert abs(rec["exponents"][1] - ref["exponents"][1]) < 1e-4
    # The Liouville check is at float64 level, impossible in float32 arithmetic.
    assert rec["liouville_residual"] is None or rec["liouville_residual"] < 1e-9


def test_stiff_system_at_loose_tolerance_is_reported(capsys):
    # Hodgkin–Huxley at rtol 1e-3: the orbit cannot close to closure_tol; a status, not a crash,
    # and no number reported that the checks cannot stand behind.
    code, rec, err = _main_json(
        ["floquet", "hodgkin-huxley", "--rtol", "1e-3", "--atol", "1e-6", "--json"], capsys
    )
    assert rec["status"] in {"ok", "not_converged", "check_failed", "max_steps"}
    if rec["status"] == "ok":
        assert code == 0 and rec["trivial_multiplier_error"] < 1e-5
    else:
        assert code == 1 and err.startswith(f"satode: {rec['status']}")
        assert rec["period"] is None and all(v is None for v in rec["exponents"])


def test_sweep_of_a_trained_ensemble_folder(tmp_path, capsys):
    """`[network] file` naming an ensemble folder of `satode train` (network_000.npz, …) sweeps
    every member: one resumable sweep folder each, and one results.csv with a `member` column
    whose rows are exactly those of sweeping each member file on its own."""
    import csv
    import shutil

    from satode._cli import main

    ensemble = tmp_path / "ensemble"
    ensemble.mkdir()
    for i, name in enumerate(("mlp_1layer_nls_a1.npz", "mlp_1layer_nls_a4.npz")):
        shutil.copy(REFERENCE / name, ensemble / f"network_{i:03d}.npz")
    body = '\n[sweep]\nparameter = "gain"\nlevels = [1.0, 1.05]\nn_samples = 65\n'

    def sweep(file, out):
        config = tmp_path / f"{out}.toml"
        config.write_text(f'[network]\nfile = "{file}"\n' + body)
        assert main(["sweep", str(config), "--out", str(tmp_path / out), "--quiet"]) == 0
        with open(tmp_path / out / "results.csv", newline="") as f:
            return list(csv.DictReader(f))

    rows = sweep(ensemble, "all")
    assert "member_000 … member_001" in capsys.readouterr().out
    assert [(r["member"], r["level"]) for r in rows] == [
        ("0", "1.0"),
        ("0", "1.05"),
        ("1", "1.0"),
        ("1", "1.05"),
    ]
    for i in range(2):
        alone = sweep(ensemble / f"network_{i:03d}.npz", f"alone_{i}")
        mine = [{k: v for k, v in r.items() if k not in ("member", "network")} for r in rows]
        assert mine[2 * i : 2 * i + 2] == alone
        assert (tmp_path / "all" / f"member_{i:03d}" / "table.md").exists()
    assert any(r["status"] == "ok" for r in rows)
