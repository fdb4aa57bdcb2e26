"""Reading and writing satode's files.

MLP weights use the exchange format of SCIENCE.md §5, so networks trained elsewhere (numpy,
PyTorch) can be audited: an `.npz` with `W1, b1, W2, b2, …, WL, bL` (`Wk` of shape (out, in)),
optional scalars `gain` (default 1) and `shift` (default 0) and an optional string `activation`
(default `"tanh"`).
"""

import os
import re
import zipfile
import zlib
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ._activations import ACTIVATIONS
from ._errors import InputError
from ._mlp import SaturatingMLP


_LAYER_KEY = re.compile(r"^([Wb])([1-9][0-9]*)$")
_OPTIONAL_KEYS = ("gain", "shift", "activation")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def ensemble_members(path) -> list[str]:
    """The member networks (`network_000.npz`, …) of an ensemble folder of `satode train`; empty
    for anything else (a file, a single model's folder holding `network.npz`)."""
    path = str(path)
    if not os.path.isdir(path) or os.path.isfile(os.path.join(path, "network.npz")):
        return []
    names = sorted(f for f in os.listdir(path) if re.fullmatch(r"network_\d{3}\.npz", f))
    return [os.path.join(path, f) for f in names]


def _model_folder_network(path: str) -> str:
    # A model folder of `satode train` holds its physical network(s) as .npz files.
    single = os.path.join(path, "network.npz")
    if os.path.isfile(single):
        return single
    members = [os.path.basename(m) for m in ensemble_members(path)]
    if members:
        raise InputError(
            f"{path}: holds an ensemble of {len(members)} networks; name one, e.g. "
            f"{os.path.join(path, members[0])}"
        )
    return path


def _read_npz(path: str) -> dict[str, np.ndarray]:
    if os.path.isdir(path):
        path = _model_folder_network(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: file not found")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected an .npz file")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InputError(f"{path}: not an .npz archive (a single .npy array?)")
        with loaded as data:
            return {key: data[key] for key in data.files}
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as e:
        # A truncated/corrupt archive surfaces as any of these, depending on where it breaks.
        if isinstance(e, ValueError) and "pickle" in str(e):
            # numpy falls back to unpickling what is neither .npz nor .npy; say so plainly.
            reason = "neither a zip archive of arrays nor an .npy file (pickle is not allowed)"
        else:
            reason = f"{type(e).__name__}: {_one_line(e)}"
        raise InputError(f"{path}: not a valid .npz file ({reason})") from None


def _real_array(path: str, key: str, value: np.ndarray, ndim: int | None) -> np.ndarray:
    if value.dtype.kind not in "iuf":
        raise InputError(f"{path}: key {key!r} has dtype {value.dtype}; expected real numbers")
    if ndim is not None and value.ndim != ndim:
        expected = {1: "a vector", 2: "a matrix (out, in)"}[ndim]
        raise InputError(f"{path}: key {key!r} has shape {value.shape}; expected {expected}")
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)):
        n_bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        raise InputError(f"{path}: key {key!r} contains {n_bad} NaN/inf value(s)")
    return value


def _scalar(path: str, data: dict[str, np.ndarray], key: str, default: float) -> float:
    if key not in data:
        return default
    value = data[key]
    if value.size != 1:
        raise InputError(f"{path}: key {key!r} has shape {value.shape}; expected a scalar")
    return float(_real_array(path, key, value.reshape(()), None))


def _activation(path: str, data: dict[str, np.ndarray]) -> str:
    if "activation" not in data:
        return "tanh"
    value = data["activation"]
    if value.dtype.kind not in "US" or value.size != 1:
        raise InputError(
            f"{path}: key 'activation' has dtype {value.dtype} and shape {value.shape}; "
            "expected a string"
        )
    name = value.reshape(()).item()
    if isinstance(name, bytes):
        name = name.decode("utf-8", errors="replace")
    if name not in ACTIVATIONS:
        raise InputError(
            f"{path}: key 'activation' is {name!r}, an unknown activation; "
            f"expected one of {sorted(ACTIVATIONS)}"
        )
    return name


def load_mlp(path: str | os.PathLike) -> SaturatingMLP:
    """Load a [`satode.SaturatingMLP`][] from an `.npz` file (SCIENCE.md §5).

    The network is $f(y) = W_L σ(s(W_{L-1} ⋯ σ(s(W_1 y + b_1 + c)) ⋯ + b_{L-1} + c)) + b_L$.

    **Arguments:**

    - `path`: the file, or a model folder written by `satode train` (its `network.npz`). The
        file must hold `W1, b1, …, WL, bL` (`Wk` of shape (out, in), $L \\ge 2$,
        square overall) and may hold scalars `gain` (default 1), `shift` (default 0) and a
        string `activation` (default `"tanh"`). Nothing else.

    **Returns:**

    The network. Arrays are read as float64 numpy and converted with `jnp.asarray`, so they
    take JAX's configured default float dtype (float64 only if `jax_enable_x64` is on).

    **Raises:**

    `InputError` (a `ValueError`) with a one-line message naming the file and the problem: a
    missing or unreadable file, a missing or misnumbered layer key, mismatched shapes, a
    non-square field, NaN/inf values, an unknown activation, a non-scalar `gain`/`shift`, or
    unexpected keys.
    """
    path = os.fspath(path)
    data = _read_npz(path)

    layers: dict[str, dict[int, np.ndarray]] = {"W": {}, "b": {}}
    unexpected = []
    for key, value in data.items():
        match = _LAYER_KEY.match(key)
        if match:
            layers[match.group(1)][int(match.group(2))] = value
        elif key not in _OPTIONAL_KEYS:
            unexpected.append(key)
    if unexpected:
        raise InputError(
            f"{path}: unexpected key(s) {sorted(unexpected)}; expected only W1, b1, …, WL, bL, "
            "gain, shift, activation"
        )
    if 1 not in layers["W"]:
        raise InputError(f"{path}: no key 'W1'; expected layers W1, b1, …, WL, bL")
    n_layers = max(max(layers["W"]), max(layers["b"], default=0))
    for k in range(1, n_layers + 1):
        for kind in "Wb":
            if k not in layers[kind]:
                raise InputError(
                    f"{path}: missing key '{kind}{k}'; layers must be numbered W1, b1, …, WL, bL "
                    f"without gaps (found {sorted(data)})"
                )
    if n_layers < 2:
        raise InputError(
            f"{path}: only one layer (W1, b1); expected at least W1, b1, W2, b2 (one hidden "
            "layer and the linear output layer)"
        )

    weights, biases = [], []
    for k in range(1, n_layers + 1):
        w = _real_array(path, f"W{k}", layers["W"][k], 2)
        b = _real_array(path, f"b{k}", layers["b"][k], 1)
        if b.shape != (w.shape[0],):
            raise InputError(
                f"{path}: key 'b{k}' has shape {b.shape} but 'W{k}' has shape {w.shape}; "
                f"expected b{k} of shape {(w.shape[0],)}"
            )
        if k > 1 and w.shape[1] != weights[-1].shape[0]:
            raise InputError(
                f"{path}: key 'W{k}' has shape {w.shape} but 'W{k - 1}' has shape "
                f"{weights[-1].shape}; expected W{k} of shape (out, {weights[-1].shape[0]})"
            )
        weights.append(w)
        biases.append(b)
    if weights[-1].shape[0] != weights[0].shape[1]:
        raise InputError(
            f"{path}: 'W{n_layers}' has {weights[-1].shape[0]} outputs but 'W1' has "
            f"{weights[0].shape[1]} inputs; an ODE vector field must be square (d -> d)"
        )

    gain = _scalar(path, data, "gain", 1.0)
    shift = _scalar(path, data, "shift", 0.0)
    activation = _activation(path, data)
    try:
        return SaturatingMLP(
            [jnp.asarray(w) for w in weights],
            [jnp.asarray(b) for b in biases],
            gain=gain,
            shift=shift,
            activation=activation,
        )
    except ValueError as e:  # every case is checked above; kept so nothing escapes unnamed
        raise InputError(f"{path}: {_one_line(e)}") from None


def save_mlp(path: str | os.PathLike, mlp: SaturatingMLP) -> None:
    """Save a [`satode.SaturatingMLP`][] as an `.npz` file (SCIENCE.md §5).

    Writes `W1, b1, …, WL, bL`, the scalars `gain` and `shift` and the string `activation`,
    in the arrays' own dtype, so that `load_mlp(path)` reproduces the network exactly (under
    the same JAX dtype configuration). The file is written at `path` as given (no `.npz` suffix
    is appended).

    **Arguments:**

    - `path`: the file to write (overwritten if it exists).
    - `mlp`: a single (unbatched) network.

    **Returns:**

    Nothing.

    **Raises:**

    `ValueError` if `mlp` is batched (its weights are not matrices); `InputError` naming the
    file if it cannot be written.
    """
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    for k, (w, b) in enumerate(zip(mlp.weights, mlp.biases, strict=True), start=1):
        if np.ndim(w) != 2 or np.ndim(b) != 1:
            raise ValueError(
                f"mlp: layer {k} has weight shape {np.shape(w)} and bias shape {np.shape(b)}; "
                "expected a single network (save batched networks one at a time)"
            )
        arrays[f"W{k}"] = np.asarray(w)
        arrays[f"b{k}"] = np.asarray(b)
    if np.ndim(mlp.gain) != 0 or np.ndim(mlp.shift) != 0:
        raise ValueError("mlp: gain and shift must be scalars (a single network)")
    arrays["gain"] = np.asarray(mlp.gain)
    arrays["shift"] = np.asarray(mlp.shift)
    arrays["activation"] = np.asarray(mlp.activation)
    try:
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    except OSError as e:
        raise InputError(f"{path}: cannot write ({_one_line(e.strerror or e)})") from None


def writable_folder(path) -> Path:
    """`path` as a folder, created if needed and checked writable (before any work is done).

    **Raises:** `InputError` naming the folder.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise InputError(f"{path}: output folder is not writable ({e.strerror or e})") from None
    return path
