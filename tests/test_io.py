from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from satode._errors import InputError
from satode._io import load_mlp, save_mlp
from satode._mlp import SaturatingMLP


SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_NETWORKS = [
    "paper/paper_A_unbiased_32.npz",
    "paper/paper_E_32.npz",
    "paper/paper_F_biased_256.npz",
    "reference/mlp_1layer_nls_a1.npz",
    "reference/mlp_1layer_nls_a4.npz",
]


def _layers(width=4, dim=2):
    rng = np.random.default_rng(0)
    return {
        "W1": rng.normal(size=(width, dim)),
        "b1": rng.normal(size=width),
        "W2": rng.normal(size=(dim, width)),
        "b2": rng.normal(size=dim),
    }


def test_round_trip_is_exact(tmp_path, key):
    mlp = SaturatingMLP.random(key, 3, 5, 2, activation="softsign", gain=2.5, shift=-0.3)
    mlp = jax.tree.map(lambda x: x + 0.1, mlp)  # non-zero biases too
    path = tmp_path / "net"  # no suffix: written exactly where asked
    save_mlp(path, mlp)
    assert path.exists()
    loaded = load_mlp(path)
    assert loaded.activation == "softsign"
    assert float(loaded.gain) == float(mlp.gain) and float(loaded.shift) == float(mlp.shift)
    for a, b in zip(loaded.weights + loaded.biases, mlp.weights + mlp.biases, strict=True):
        assert a.dtype == jnp.float64
        np.testing.assert_array_equal(a, b)


def test_defaults_when_optional_keys_absent(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, **_layers())
    mlp = load_mlp(path)
    assert (float(mlp.gain), float(mlp.shift), mlp.activation) == (1.0, 0.0, "tanh")
    assert (mlp.dim, mlp.depth, mlp.width) == (2, 1, (4,))


def test_deeper_network_and_bytes_activation(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {
        "W1": rng.normal(size=(4, 2)),
        "b1": rng.normal(size=4),
        "W2": rng.normal(size=(3, 4)),
        "b2": rng.normal(size=3),
        "W3": rng.normal(size=(2, 3)),
        "b3": rng.normal(size=2),
        "gain": np.array([1.5]),  # a 1-element array, as some exporters write scalars
        "activation": np.bytes_(b"sigmoid"),
    }
    path = tmp_path / "deep.npz"
    np.savez(path, **arrays)
    mlp = load_mlp(path)
    assert mlp.width == (4, 3) and mlp.activation == "sigmoid" and float(mlp.gain) == 1.5
    y = np.array([0.3, -0.4])
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    a1 = sig(1.5 * (arrays["W1"] @ y + arrays["b1"]))
    a2 = sig(1.5 * (arrays["W2"] @ a1 + arrays["b2"]))
    np.testing.assert_allclose(
        mlp(0.0, jnp.asarray(y)), arrays["W3"] @ a2 + arrays["b3"], rtol=1e-13
    )


@pytest.mark.parametrize("name", SHARED_NETWORKS)
def test_shared_networks_load_and_match_numpy(name):
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    raw = np.load(path, allow_pickle=False)
    mlp = load_mlp(path)
    gain = float(raw["gain"]) if "gain" in raw.files else 1.0
    shift = float(raw["shift"]) if "shift" in raw.files else 0.0
    assert mlp.activation == (str(raw["activation"]) if "activation" in raw.files else "tanh")
    assert float(mlp.gain) == gain and float(mlp.shift) == shift
    assert mlp.depth == 1 and mlp.dim == 2 and mlp.width == (raw["W1"].shape[0],)
    ys = np.random.default_rng(2).uniform(-2, 2, size=(20, 2))
    # SCIENCE.md §1 with one hidden tanh layer, in numpy.
    expected = np.tanh(gain * (ys @ raw["W1"].T + raw["b1"] + shift)) @ raw["W2"].T + raw["b2"]
    got = jax.vmap(lambda y: mlp(0.0, y))(jnp.asarray(ys))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


def _write(tmp_path, filename, arrays):
    path = tmp_path / filename
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def _assert_input_error(path, *fragments):
    with pytest.raises(InputError) as info:
        load_mlp(path)
    message = str(info.value)
    assert "\n" not in message  # printed by the CLI as one line
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_file(tmp_path):
    _assert_input_error(tmp_path / "nope.npz", "not found")


def test_truncated_file(tmp_path):
    path = _write(tmp_path, "truncated.npz", _layers())
    path.write_bytes(path.read_bytes()[:300])
    _assert_input_error(path, "not a valid .npz")


def test_not_an_npz(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("W1 = [[1, 2]]\n")
    _assert_input_error(path, "not a valid .npz")


def test_single_npy_array(tmp_path):
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    _assert_input_error(path, "not an .npz archive")


def test_missing_w2(tmp_path):
    arrays = _layers()
    del arrays["W2"]
    _assert_input_error(_write(tmp_path, "no_w2.npz", arrays), "'W2'")


def test_only_one_layer(tmp_path):
    arrays = {k: v for k, v in _layers().items() if k in ("W1", "b1")}
    _assert_input_error(_write(tmp_path, "one_layer.npz", arrays), "W2")


def test_no_w1(tmp_path):
    arrays = {k: v for k, v in _layers().items() if k in ("W2", "b2")}
    _assert_input_error(_write(tmp_path, "no_w1.npz", arrays), "'W1'")


def test_gap_in_numbering(tmp_path):
    arrays = _layers()
    arrays["W4"], arrays["b4"] = np.ones((2, 2)), np.ones(2)
    _assert_input_error(_write(tmp_path, "gap.npz", arrays), "'W3'", "without gaps")


def test_weight_shape_mismatch(tmp_path):
    arrays = _layers()
    arrays["W2"] = np.ones((2, 7))
    _assert_input_error(_write(tmp_path, "shapes.npz", arrays), "'W2'", "(2, 7)", "'W1'", "(4, 2)")


def test_bias_shape_mismatch(tmp_path):
    arrays = _layers()
    arrays["b1"] = np.ones(5)
    _assert_input_error(_write(tmp_path, "bias.npz", arrays), "'b1'", "(5,)", "'W1'", "(4, 2)")


def test_non_square_field(tmp_path):
    arrays = _layers()
    arrays["W2"], arrays["b2"] = np.ones((3, 4)), np.ones(3)
    _assert_input_error(_write(tmp_path, "nonsquare.npz", arrays), "'W2'", "square")


def test_weight_not_a_matrix(tmp_path):
    arrays = _layers()
    arrays["W1"] = np.ones(8)
    _assert_input_error(_write(tmp_path, "flat.npz", arrays), "'W1'", "(8,)")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values(tmp_path, bad):
    arrays = _layers()
    arrays["W1"][2, 1] = bad
    _assert_input_error(_write(tmp_path, "nan.npz", arrays), "'W1'", "NaN/inf")


def test_non_finite_gain(tmp_path):
    arrays = _layers() | {"gain": np.array(np.nan)}
    _assert_input_error(_write(tmp_path, "nan_gain.npz", arrays), "'gain'", "NaN/inf")


def test_unknown_activation(tmp_path):
    arrays = _layers() | {"activation": np.array("swish")}
    _assert_input_error(_write(tmp_path, "act.npz", arrays), "'activation'", "'swish'", "tanh")


def test_non_string_activation(tmp_path):
    arrays = _layers() | {"activation": np.array(3.0)}
    _assert_input_error(_write(tmp_path, "act_num.npz", arrays), "'activation'", "string")


@pytest.mark.parametrize("key", ["gain", "shift"])
def test_non_scalar_gain_shift(tmp_path, key):
    arrays = _layers() | {key: np.array([1.0, 2.0])}
    _assert_input_error(_write(tmp_path, f"{key}.npz", arrays), f"'{key}'", "scalar")


def test_stray_key(tmp_path):
    arrays = _layers() | {"W1_extra": np.ones(2), "notes": np.array("hi")}
    _assert_input_error(_write(tmp_path, "stray.npz", arrays), "'W1_extra'", "'notes'")


def test_complex_weights(tmp_path):
    arrays = _layers()
    arrays["W2"] = arrays["W2"] + 1j
    _assert_input_error(_write(tmp_path, "complex.npz", arrays), "'W2'", "real")


def test_input_error_is_value_error():
    assert issubclass(InputError, ValueError)
