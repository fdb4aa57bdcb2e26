"""A sweep killed with SIGKILL and rerun with the same command finishes exactly as an
uninterrupted run (every level once, the same numbers, bit for bit); a changed config is refused."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest


CONFIG = """\
[system]
name = "stuart-landau"

[sweep]
parameter = "mu"
levels = { start = 0.3, stop = 2.0, num = 48 }
chunk_size = 2
block_size = 8
n_samples = 65
"""
N_LEVELS = 48


def _command(config, out):
    return [sys.executable, "-m", "satode", "sweep", str(config), "--out", str(out)]


def _env():
    # Both runs on one thread each: the kill must land between blocks, not be raced by a run
    # that finishes first, and the comparison must not depend on thread scheduling.
    return {**os.environ, "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}


def _done(out):
    try:
        return json.loads((out / "progress.json").read_text())["done"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _rows(out):
    with open(out / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    config = d / "sweep.toml"
    config.write_text(CONFIG)
    whole, killed = d / "whole", d / "killed"
    # The interrupted run: SIGKILL as soon as the first block is on disk.
    proc = subprocess.Popen(
        _command(config, killed), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while _done(killed) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = _done(killed)
    rows_at_kill = _rows(killed) if (killed / "results.csv").exists() else []
    resumed = subprocess.run(_command(config, killed), env=_env(), capture_output=True, text=True)
    uninterrupted = subprocess.run(
        _command(config, whole), env=_env(), capture_output=True, text=True
    )
    return dict(
        config=config,
        whole=whole,
        killed=killed,
        done_at_kill=done_at_kill,
        rows_at_kill=rows_at_kill,
        killed_returncode=proc.returncode,
        resumed=resumed,
        uninterrupted=uninterrupted,
    )


def test_the_kill_landed_mid_sweep(runs):
    assert runs["killed_returncode"] == -signal.SIGKILL
    assert 0 < runs["done_at_kill"] < N_LEVELS
    # What was on disk at the kill is whole: exactly the levels progress.json counts.
    assert len(runs["rows_at_kill"]) == runs["done_at_kill"]


def test_resumed_run_equals_uninterrupted_run(runs):
    assert runs["resumed"].returncode == 0, runs["resumed"].stderr
    assert runs["uninterrupted"].returncode == 0, runs["uninterrupted"].stderr
    resumed, whole = _rows(runs["killed"]), _rows(runs["whole"])
    # Every level exactly once, in order.
    assert [r["level"] for r in resumed] == [r["level"] for r in whole]
    assert len({r["level"] for r in resumed}) == N_LEVELS
    # The same numbers, bit for bit (the carried orbit is stored exactly in progress.json),
    # which is also the determinism check: two runs of one config give identical results.
    assert resumed == whole
    # Sanity: these are real orbits (Stuart–Landau: period 2π, exponent −2μ).
    for r in whole:
        assert r["status"] == "ok"
        assert abs(float(r["period"]) - 2 * 3.141592653589793) < 1e-9
        assert abs(float(r["exponent_2"]) + 2 * float(r["level"])) < 1e-8
    # The rows written before the kill were kept, not recomputed differently.
    assert resumed[: runs["done_at_kill"]] == runs["rows_at_kill"]


def test_manifest_records_how_to_rerun(runs):
    manifest = json.loads((runs["whole"] / "manifest.json").read_text())
    text = json.dumps(manifest)
    for word in ("config", "jax", "diffrax", "float64"):
        assert word in text, word


def test_changed_config_is_refused(runs, tmp_path):
    changed = tmp_path / "changed.toml"
    changed.write_text(CONFIG.replace("n_samples = 65", "n_samples = 129"))
    r = subprocess.run(_command(changed, runs["killed"]), capture_output=True, text=True)
    assert r.returncode == 2
    assert "different config" in r.stderr and "Traceback" not in r.stderr
    assert len(_rows(runs["killed"])) == N_LEVELS  # nothing lost or mixed


def test_digest_follows_the_network_file_not_its_path(tmp_path):
    """A result folder moved with its network (another checkout, a copied study) still resumes:
    the digest names the network by content; a changed network is another config."""
    import shutil

    import numpy as np

    from satode._config import load_config
    from satode._runner import config_digest

    source = os.path.join(os.path.dirname(__file__), "data", "quickstart_network.npz")
    digests = []
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        shutil.copy(source, tmp_path / where / "net.npz")
        toml = tmp_path / where / "c.toml"
        toml.write_text(
            '[network]\nfile = "net.npz"\n[sweep]\nparameter = "gain"\nlevels = [1.0, 1.1]\n'
        )
        digests.append(config_digest(load_config(toml)))
    assert digests[0] == digests[1]
    data = dict(np.load(tmp_path / "b" / "net.npz"))
    data["W1"] = data["W1"] * 1.01
    np.savez(tmp_path / "b" / "net.npz", **data)
    assert config_digest(load_config(tmp_path / "b" / "c.toml")) != digests[0]


def test_resumed_manifest_keeps_the_timings_of_every_invocation(runs):
    # The killed run's blocks plus the resumed run's: one timing per block of 8 levels
    # (`block_size`), the first including compilation, and a rerun with nothing left to do keeps
    # them.
    manifest = json.loads((runs["killed"] / "manifest.json").read_text())["timings_s"]
    assert len(manifest["blocks"]) == N_LEVELS // 8
    assert manifest["first_block_including_compile"] == manifest["blocks"][0]
    assert manifest["total"] >= sum(manifest["blocks"]) > 0
    again = subprocess.run(
        _command(runs["config"], runs["killed"]), env=_env(), capture_output=True
    )
    assert again.returncode == 0
    assert (
        json.loads((runs["killed"] / "manifest.json").read_text())["timings_s"]["blocks"]
        == (manifest["blocks"])
    )
