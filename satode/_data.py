"""Training data for Neural ODEs: trajectories of a vector field, splits, noise and normalisation.

Trajectories are integrated through `satode._flow.integrate` (tight tolerances: the data must be
far more accurate than any fit). A `Normaliser` keeps the affine change of variables used for
training, $z = (y - b) / a$ and $t_z = t / τ$, so that a network fitted in $z$ is mapped back
to the physical vector field exactly (see `satode._train.export_mlp`).
"""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._flow import FlowOptions, integrate
from ._periodic_orbit import find_periodic_orbit, sample_orbit


NORMALISATIONS = ("none", "minmax", "standard")

# The data is the oracle of every fit: integrate it far more accurately than training does.
_DATA_OPTIONS = FlowOptions(rtol=1e-10, atol=1e-10, max_steps=200_000)


class Trajectories(eqx.Module):
    """Sampled trajectories on a common uniform time grid (physical units).

    **Fields:**

    - `ts`: the sample times, shape `(n_times,)`, starting at 0.
    - `ys`: the states, shape `(n_traj, n_times, d)`.
    """

    ts: Float[Array, " n_times"]
    ys: Float[Array, "n_traj n_times d"]

    @property
    def n_trajectories(self) -> int:
        return self.ys.shape[0]

    def subset(self, index) -> "Trajectories":
        """The trajectories `ys[index]` on the same grid."""
        return Trajectories(self.ts, self.ys[index])


class Normaliser(eqx.Module):
    """The affine change of variables $z = (y - b) / a$, $t_z = t / τ$ used for training.

    `minmax` maps the training data's range to $[0, 1]$ per coordinate ($b = \\min$,
    $a = \\max - \\min$), `standard` to zero mean and unit variance, `none` is the identity.
    A field $f_z$ in normalised variables is the physical field
    $f(y) = (a / τ) ⊙ f_z((y - b) / a)$: its orbits are the images of $f_z$'s, its periods are
    $τ$ times theirs and its Floquet exponents $1/τ$ times theirs (the change of variables is
    affine, so multipliers are unchanged).

    **Fields:** `kind` (static), `scale` $a$, `offset` $b$ (shape `(d,)`), `time_scale` $τ$.
    """

    kind: str = eqx.field(static=True)
    scale: Float[Array, " d"]
    offset: Float[Array, " d"]
    time_scale: Float[Array, ""]

    def __check_init__(self):
        if self.kind not in NORMALISATIONS:
            raise ValueError(f"normalisation: expected one of {NORMALISATIONS}, got {self.kind!r}")

    @classmethod
    def fit(cls, kind: str, ys: Float[Array, "... d"], time_scale: float = 1.0) -> "Normaliser":
        """The normaliser of `kind` fitted to the states `ys` (any leading shape).

        **Raises:** `ValueError` for an unknown kind, a non-positive `time_scale`, or a
        coordinate that is constant in the data (it cannot be scaled).
        """
        if kind not in NORMALISATIONS:
            raise ValueError(f"normalisation: expected one of {NORMALISATIONS}, got {kind!r}")
        if not time_scale > 0:
            raise ValueError(f"time_scale: expected a number > 0, got {time_scale!r}")
        flat = jnp.reshape(ys, (-1, ys.shape[-1]))
        if kind == "none":
            scale, offset = (
                jnp.ones(flat.shape[1], flat.dtype),
                jnp.zeros(flat.shape[1], flat.dtype),
            )
        elif kind == "minmax":
            offset = jnp.min(flat, axis=0)
            scale = jnp.max(flat, axis=0) - offset
        else:
            offset = jnp.mean(flat, axis=0)
            scale = jnp.std(flat, axis=0)
        if not bool(jnp.all(scale > 0)):
            raise ValueError(f"normalisation {kind!r}: a coordinate is constant in the data")
        return cls(kind, scale, offset, jnp.asarray(time_scale, flat.dtype))

    def encode(self, y: Float[Array, "... d"]) -> Float[Array, "... d"]:
        """$z = (y - b) / a$."""
        return (y - self.offset) / self.scale

    def decode(self, z: Float[Array, "... d"]) -> Float[Array, "... d"]:
        """$y = a ⊙ z + b$."""
        return self.scale * z + self.offset

    def encode_time(self, t):
        return t / self.time_scale


def _box_points(key, n, box, dtype):
    lo = jnp.asarray([b[0] for b in box], dtype)
    hi = jnp.asarray([b[1] for b in box], dtype)
    return lo + (hi - lo) * jax.random.uniform(key, (n, len(box)), dtype)


def _cycle_points(key, system, n, y0, transient, spread, options, dtype):
    orbit = find_periodic_orbit(
        system, jnp.asarray(y0, dtype), transient=transient, options=options, throw=False
    )
    if not bool(jnp.isfinite(orbit.period)):
        raise ValueError(
            f"initial = 'cycle': no periodic orbit of {type(system).__name__} found from {y0}"
        )
    cycle = sample_orbit(system, orbit, n=512, options=options)[:-1]
    key_phase, key_kick = jax.random.split(key)
    phase = jax.random.randint(key_phase, (n,), 0, cycle.shape[0])
    width = jnp.max(cycle, axis=0) - jnp.min(cycle, axis=0)
    kick = spread * width * jax.random.normal(key_kick, (n, cycle.shape[1]), dtype)
    return cycle[phase] + kick, orbit


def make_trajectories(
    system,
    key: PRNGKeyArray,
    *,
    n_trajectories: int,
    t1: float,
    n_times: int,
    initial: str = "box",
    box=None,
    y0=None,
    spread: float = 0.1,
    transient: float = 0.0,
    args=None,
    options: FlowOptions = _DATA_OPTIONS,
    dtype=None,
) -> Trajectories:
    """Integrate `system` from random initial conditions and sample on a uniform grid.

    **Arguments:**

    - `system`: a vector field `f(t, y, args)` (e.g. a [`satode.systems`][] system).
    - `key`: a PRNG key.
    - `n_trajectories`: how many trajectories.
    - `t1`, `n_times`: the grid `linspace(0, t1, n_times)` (after the transient).
    - `initial`: `"box"` (uniform in `box`, a list of `(lo, hi)` per coordinate) or `"cycle"`
        (points of the periodic orbit reached from `y0`, each kicked by a Gaussian of standard
        deviation `spread` times the cycle's extent in that coordinate).
    - `transient`: integrate this long from each initial condition before sampling starts.
    - `args`, `options`: for the integrations (default: rtol = atol = 1e-10).
    - `dtype`: the floating dtype (default: JAX's default float dtype).

    **Returns:** `Trajectories`.

    **Raises:** `ValueError` for bad sizes, an unknown `initial`, a missing `box`/`y0`, or an
    integration that fails (e.g. a trajectory that blows up).
    """
    if dtype is None:
        dtype = jnp.result_type(float)
    if int(n_trajectories) < 1 or int(n_times) < 2:
        raise ValueError(
            f"n_trajectories must be >= 1 and n_times >= 2, got {n_trajectories}, {n_times}"
        )
    if not t1 > 0:
        raise ValueError(f"t1: expected a number > 0, got {t1!r}")
    if initial == "box":
        if box is None:
            raise ValueError(
                "initial = 'box' needs box = [[lo, hi], ...] (one pair per coordinate)"
            )
        starts = _box_points(key, n_trajectories, box, dtype)
    elif initial == "cycle":
        if y0 is None:
            raise ValueError("initial = 'cycle' needs y0, a point whose orbit reaches the cycle")
        starts, _ = _cycle_points(
            key, system, n_trajectories, y0, transient, spread, options, dtype
        )
        transient = 0.0  # the starts are on (or near) the cycle already
    else:
        raise ValueError(f"initial: expected 'box' or 'cycle', got {initial!r}")
    ts = jnp.linspace(0.0, t1, n_times, dtype=dtype)

    @jax.jit
    @jax.vmap
    def one(y):
        if transient > 0:
            y = integrate(system, y, transient, args, options=options).ys[-1]
        sol = integrate(system, y, t1, args, options=options, saveat=dfx.SaveAt(ts=ts))
        return sol.ys, sol.result == dfx.RESULTS.successful

    ys, ok = one(starts)
    if not bool(jnp.all(ok)) or not bool(jnp.all(jnp.isfinite(ys))):
        bad = int(np.sum(~np.asarray(ok)))
        raise ValueError(f"make_trajectories: {bad} of {n_trajectories} integrations failed")
    return Trajectories(ts, ys)


def add_noise(
    data: Trajectories, key: PRNGKeyArray, level: float, reference: Float[Array, " d"] | None = None
) -> Trajectories:
    """Add Gaussian noise of standard deviation `level` × the data's per-coordinate std.

    `reference` overrides the per-coordinate scale. The first sample of each trajectory is noisy
    too (it is an observation like the others).
    """
    if level == 0:
        return data
    scale = (
        jnp.std(data.ys.reshape(-1, data.ys.shape[-1]), axis=0) if reference is None else reference
    )
    noise = level * scale * jax.random.normal(key, data.ys.shape, data.ys.dtype)
    return Trajectories(data.ts, data.ys + noise)


def split(data: Trajectories, n_val: int, n_test: int) -> tuple[Trajectories, ...]:
    """Split into (train, validation, test) by trajectory: the last `n_val + n_test` are held out.

    **Raises:** `ValueError` if nothing is left for training.
    """
    n = data.n_trajectories
    n_train = n - n_val - n_test
    if n_train < 1 or n_val < 0 or n_test < 0:
        raise ValueError(
            f"split: {n} trajectories cannot give {n_val} validation and {n_test} test ones "
            "and at least one for training"
        )
    return (
        data.subset(slice(0, n_train)),
        data.subset(slice(n_train, n_train + n_val)),
        data.subset(slice(n_train + n_val, n)),
    )


def r_squared(pred: Float[Array, "..."], true: Float[Array, "..."]) -> Float[Array, ""]:
    """The coefficient of determination $R^2 = 1 - \\sum (p - y)^2 / \\sum (y - \\bar y)^2$."""
    ss_res = jnp.sum((pred - true) ** 2)
    ss_tot = jnp.sum((true - jnp.mean(true)) ** 2)
    return 1.0 - ss_res / ss_tot
