"""Sweeps sharded over devices: 4 simulated CPU devices give exactly the one-device results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


ROOT = Path(__file__).parents[1]
# Run in a fresh interpreter: the device count is fixed when JAX first initialises.
SCRIPT = r"""
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np
import satode
from satode import systems

assert len(jax.devices()) == 4, jax.devices()
levels = jnp.linspace(0.5, 2.0, 12)
out = {}
for name, devices in (("one", jax.devices()[:1]), ("four", jax.devices())):
    r = satode.sweep(systems.StuartLandau(), levels, jnp.array([0.3, 0.1]), parameter="mu",
                     chunk_size=4, n_samples=33, devices=devices)
    a = r.analysis
    out[name] = {
        "status": np.asarray(a.result._value).tolist(),
        "period": np.asarray(a.orbit.period).tolist(),
        "exponents": np.asarray(a.spectrum.exponents).tolist(),
        "y0": np.asarray(a.orbit.y0).tolist(),
        "solves": np.asarray(r.solves).tolist(),
        "sharding": str(r.analysis.orbit.period.sharding),
    }
print("RESULT" + json.dumps(out))
"""


def _cpu_devices(n):
    """The environment of a fresh process with `n` simulated CPU devices running this satode."""
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n}"
    env["XLA_FLAGS"] = flags.strip()
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["JAX_PLATFORMS"] = "cpu"
    return env


def test_four_devices_equal_one():
    env = _cpu_devices(4)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    out = json.loads(line[len("RESULT") :])
    one, four = out["one"], out["four"]
    assert one["status"] == four["status"] == [0] * 12
    # Every strand takes the same path on any device: the same solves, the same statuses...
    assert four["solves"] == one["solves"]
    # ...and the same numbers up to rounding: a batch of 4 strands and 4 batches of 1 run
    # differently vectorised kernels (~1e-14 relative apart), 1e4 below the solver tolerance.
    for key in ("period", "exponents"):
        np.testing.assert_allclose(
            np.asarray(four[key]), np.asarray(one[key]), rtol=1e-12, atol=1e-12, err_msg=key
        )
    # The orbit point is fixed only to Newton's tolerance (1e-11 of the scale) along the orbit.
    np.testing.assert_allclose(np.asarray(four["y0"]), np.asarray(one["y0"]), rtol=0, atol=1e-10)
    # ...and right: Stuart-Landau's cycle has period 2π and exponent -2μ.
    np.testing.assert_allclose(one["period"], 2 * np.pi, rtol=1e-9)
    np.testing.assert_allclose(
        np.asarray(one["exponents"])[:, 1], -2 * np.linspace(0.5, 2.0, 12), atol=1e-8
    )


CONFIG = """
[system]
name = "stuart-landau"

[sweep]
parameter = "mu"
levels = { start = 0.5, stop = 2.0, num = 8 }
y0 = [0.3, 0.1]
chunk_size = 4
n_samples = 33
"""


def test_two_processes_with_jax_distributed(tmp_path):
    """`satode sweep --distributed`: two processes (two CPU devices each) join one
    `jax.distributed` job on this machine, shard the strands over all four devices, gather the
    results, and both hold the exact Stuart–Landau values (process 0 writes OUT, process 1
    OUT/process-1)."""
    import socket

    config = tmp_path / "sl.toml"
    config.write_text(CONFIG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _cpu_devices(2)
    out = tmp_path / "out"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "satode", "sweep", str(config), "--out", str(out), "--quiet"]
            + ["--distributed", "--coordinator", f"127.0.0.1:{port}"]
            + ["--num-processes", "2", "--process-id", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    import csv

    tables = []
    for folder in (out, out / "process-1"):
        with open(folder / "results.csv", newline="") as f:
            tables.append(list(csv.DictReader(f)))
    zero, one = tables
    assert len(zero) == len(one) == 8
    mu = np.linspace(0.5, 2.0, 8)
    for rows in (zero, one):
        assert [r["status"] for r in rows] == ["ok"] * 8
        np.testing.assert_allclose([float(r["level"]) for r in rows], mu, rtol=1e-15)
        np.testing.assert_allclose([float(r["period"]) for r in rows], 2 * np.pi, rtol=1e-9)
        np.testing.assert_allclose([float(r["exponent_2"]) for r in rows], -2 * mu, atol=1e-8)
    # Both processes gathered the same numbers.
    for key in ("period", "exponent_2"):
        assert [r[key] for r in zero] == [r[key] for r in one], key
