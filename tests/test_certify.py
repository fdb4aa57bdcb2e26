"""Capacity certificates: the need from the target, the bound on the network, the verdicts."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import satode
from satode import systems
from satode._certify import capacity_needed, certify, target_from_system, TargetSpectrum
from satode._cli import main


DATA = Path(__file__).parent / "data"
NET = DATA / "quickstart_network.npz"


@pytest.fixture(scope="module")
def sl_target():
    return target_from_system(systems.StuartLandau(), [1.0, 0.0], period=2 * math.pi)


def test_need_is_max_exponent_and_rotation(sl_target):
    # Stuart–Landau μ = ω = 1: exponents {0, −2} and T = 2π, so max|λ| = 2 and 2π/T = 1.
    need, c_exp, c_rot = capacity_needed(sl_target)
    assert abs(c_exp - 2) < 1e-9 and abs(c_rot - 1) < 1e-12 and need == c_exp
    slow = TargetSpectrum(np.array([0.0, -0.01]), 100.0, True, None)
    assert capacity_needed(slow)[0] == pytest.approx(2 * math.pi / 100)


def test_verdicts_follow_the_bound(sl_target):
    mlp = satode.load_mlp(NET)
    # Gain 20: pre-activations on the unit circle stay ≥ 20·(2.5 − 2) = 10, δ ≈ 8e-9: cannot.
    strong = certify(sl_target, satode.at_level(mlp, "gain", 20.0))
    assert strong.verdict == "cannot"
    audit = strong.target_region
    assert float(audit.c_theory) < strong.c_needed
    # The certificate's numbers obey |λ| ≤ C_emp ≤ C_theory on the same samples.
    assert float(audit.c_empirical) <= float(audit.c_theory)
    assert strong.c_w_needed == pytest.approx(strong.c_needed / float(np.prod(audit.delta)))
    # Gain 1: the bound leaves room; the fitted network's own cycle (T ≈ 6.62, λ₂ ≈ −1.40) is
    # not the target within 5%, but is within 50%.
    mild = certify(sl_target, mlp)
    assert mild.verdict == "undetermined"
    assert abs(mild.own_period - 6.621) < 1e-2
    assert certify(sl_target, mlp, tolerance=0.5).verdict == "can"


def test_cli_certify_json(capsys):
    assert main(["certify", "stuart-landau", str(NET), "--model-set", "gain=20", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["verdict"] == "cannot"
    assert record["c_needed"] == pytest.approx(2.0, abs=1e-9)
    assert record["target_region"]["c_theory"] < 2.0
    # A measured spectrum alone: only the global bound, which the gain does not lower.
    mlp = satode.at_level(satode.load_mlp(NET), "gain", 20.0)
    spectrum = TargetSpectrum(np.array([0.0, -2.0]), 2 * math.pi, True, None)
    cert = certify(spectrum, mlp)
    assert cert.target_region is None and cert.verdict == "undetermined"
    assert cert.c_global == pytest.approx(float(mlp.weight_constant()))  # sup tanh' = 1


@pytest.mark.parametrize(
    "argv",
    [
        ["certify", str(NET), "--exponents", "0,x"],
        ["certify", "stuart-landau"],
        ["certify", "stuart-landau", str(NET), "--model-set", "mu=2"],
        ["continue", "stuart-landau", "--param", "nope", "--from", "1", "--to", "0"],
        ["continue", "stuart-landau", "--param", "mu", "--from", "1", "--to", "1"],
    ],
)
def test_cli_bad_input_exits_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("satode: error:") and "Traceback" not in err
