"""Training Neural ODEs on trajectories: diffrax through `satode._flow.integrate`, optax updates.

The loop is what an ML-for-dynamics user expects: random windows of the training trajectories,
a length curriculum (short windows first), optional multiple shooting with a continuity penalty,
Adam/AdamW with a schedule and global-norm clipping, early stopping on the full-length rollouts
of a validation split (the best model is kept), per-step metrics, checkpoints that resume
bit-for-bit, and ensembles: `jax.vmap` over seeds and saturation levels in one compiled call.

The network is trained in normalised variables (`satode.Normaliser`); `export_mlp` folds the
normalisation into the weights, so the exported network is a plain physical `SaturatingMLP`
(the `.npz` format of SCIENCE.md §5) whose orbits, periods and exponents are in physical units.
"""

import dataclasses
import math
import sys
import time

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from ._data import Normaliser, Trajectories
from ._flow import FlowOptions, integrate
from ._mlp import SaturatingMLP
from ._solver import Unrolled


OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "exponential")
INITS = ("torch", "paper")

# The companion Morris–Lecar setup (torchdiffeq dopri5, rtol 1e-4, atol 1e-5): training does not
# need Floquet-grade accuracy, and looser tolerances keep the backward pass cheap.
TRAIN_FLOW = FlowOptions(solver=Unrolled(dfx.Dopri5()), rtol=1e-4, atol=1e-5, max_steps=4096)


class TrainOptions(eqx.Module):
    """The hyperparameters of `fit` (all static: changing one recompiles).

    **Fields:**

    - `curriculum`: `((window_points, steps), …)`: train `steps` steps on random windows of
        `window_points` samples, then move to the next stage. Short windows first is the usual
        remedy for the rough loss landscape of long rollouts.
    - `batch_size`: windows per step.
    - `optimizer`: `"adam"` or `"adamw"` (`weight_decay` applies to AdamW only).
    - `learning_rate`, `schedule` (`"constant"`, `"cosine"`, `"warmup_cosine"`,
        `"exponential"`), `warmup_steps`, `final_lr_factor` (the last learning rate over the
        first for the decaying schedules).
    - `clip_norm`: clip the global gradient norm to this (`None`: no clipping).
    - `shooting_segments`: `0` for windows; `K > 0` for multiple shooting: every training
        trajectory is cut into `K` segments whose starting states are trained with the network,
        and `continuity_weight` × the mean squared gap between a segment's end and the next
        segment's start is added to the loss. The curriculum's window lengths are then unused
        (only its step counts are).
    - `batch_solve`: `"vmap"` (every window its own adaptive solve and error control) or
        `"joint"` (the batch as one ODE state with one step-size sequence, as torchdiffeq does
        for a batch of initial conditions: fewer, larger operations).
    - `eval_every`: steps between validation rollouts (early stopping, checkpoints, progress).
    - `patience`: stop after this many evaluations without an improvement of more than
        `min_delta` (`None`: never stop early). The best model by validation loss is returned.
    """

    curriculum: tuple[tuple[int, int], ...] = eqx.field(static=True, default=((0, 1000),))
    batch_size: int = eqx.field(static=True, default=16)
    optimizer: str = eqx.field(static=True, default="adam")
    learning_rate: float = eqx.field(static=True, default=3e-3)
    schedule: str = eqx.field(static=True, default="constant")
    warmup_steps: int = eqx.field(static=True, default=0)
    final_lr_factor: float = eqx.field(static=True, default=0.1)
    weight_decay: float = eqx.field(static=True, default=1e-4)
    clip_norm: float | None = eqx.field(static=True, default=1.0)
    shooting_segments: int = eqx.field(static=True, default=0)
    continuity_weight: float = eqx.field(static=True, default=1.0)
    eval_every: int = eqx.field(static=True, default=50)
    batch_solve: str = eqx.field(static=True, default="vmap")
    patience: int | None = eqx.field(static=True, default=None)
    min_delta: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if not self.curriculum:
            raise ValueError("curriculum: expected at least one (window_points, steps) stage")
        for i, (points, steps) in enumerate(self.curriculum):
            if int(steps) != steps or steps < 1 or int(points) != points or points < 0:
                raise ValueError(
                    f"curriculum[{i}]: expected (window_points >= 2, steps >= 1), "
                    f"got {(points, steps)}"
                )
            if points == 1:
                raise ValueError(
                    f"curriculum[{i}]: window_points must be >= 2 (or 0: whole trajectories)"
                )
            if steps % self.eval_every:
                raise ValueError(
                    f"curriculum[{i}]: steps ({steps}) must be a multiple of eval_every "
                    f"({self.eval_every})"
                )
        if self.batch_solve not in ("vmap", "joint"):
            raise ValueError(f"batch_solve: expected 'vmap' or 'joint', got {self.batch_solve!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected > 0, got {self.learning_rate}")
        if self.batch_size < 1 or self.eval_every < 1 or self.shooting_segments < 0:
            raise ValueError("batch_size and eval_every must be >= 1, shooting_segments >= 0")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm: expected > 0 or None, got {self.clip_norm}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience: expected >= 1 or None, got {self.patience}")

    @property
    def total_steps(self) -> int:
        return sum(steps for _, steps in self.curriculum)

    def stage_at(self, step: int) -> int:
        """The curriculum stage that step `step` (0-based) belongs to."""
        end = 0
        for i, (_, steps) in enumerate(self.curriculum):
            end += steps
            if step < end:
                return i
        return len(self.curriculum) - 1

    def learning_rate_schedule(self) -> optax.Schedule:
        lr, total, final = self.learning_rate, self.total_steps, self.final_lr_factor
        if self.schedule == "constant":
            return optax.constant_schedule(lr)
        if self.schedule == "cosine":
            return optax.cosine_decay_schedule(lr, total, alpha=final)
        if self.schedule == "warmup_cosine":
            return optax.warmup_cosine_decay_schedule(
                0.0, lr, max(self.warmup_steps, 1), total, end_value=lr * final
            )
        return optax.exponential_decay(lr, total, final)

    def optax_transform(self) -> optax.GradientTransformation:
        schedule = self.learning_rate_schedule()
        if self.optimizer == "adam":
            opt = optax.adam(schedule)
        else:
            opt = optax.adamw(schedule, weight_decay=self.weight_decay)
        if self.clip_norm is not None:
            opt = optax.chain(optax.clip_by_global_norm(self.clip_norm), opt)
        # A diverging solve (max_steps on a stiff learned field) gives a non-finite loss: skip
        # that update instead of poisoning the parameters. The bound is "never give up".
        return optax.apply_if_finite(opt, max_consecutive_errors=2**30)


def init_mlp(
    key: PRNGKeyArray,
    dim: int,
    width: int,
    depth: int,
    *,
    activation: str = "tanh",
    init: str = "torch",
    weight_std: float = 0.5,
    gain: float = 1.0,
    shift: float = 0.0,
    dtype=None,
) -> SaturatingMLP:
    """A fresh network `dim → width × depth → dim`.

    `init = "torch"` is PyTorch's `nn.Linear` default (weights and biases uniform in
    $\\pm 1/\\sqrt{\\text{fan-in}}$), what the companion torchdiffeq experiments use;
    `init = "paper"` is [`satode.SaturatingMLP.random`][] (weights $N(0, \\text{weight\\_std}^2)$,
    biases 0).
    """
    if init == "paper":
        return SaturatingMLP.random(
            key,
            dim,
            width,
            depth,
            activation=activation,
            weight_std=weight_std,
            gain=gain,
            shift=shift,
            dtype=dtype,
        )
    if init != "torch":
        raise ValueError(f"init: expected one of {INITS}, got {init!r}")
    if dtype is None:
        dtype = jnp.result_type(float)
    sizes = [dim] + [width] * depth + [dim]
    weights, biases = [], []
    for k, n_in, n_out in zip(
        jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:], strict=True
    ):
        kw, kb = jax.random.split(k)
        bound = 1.0 / math.sqrt(n_in)
        weights.append(jax.random.uniform(kw, (n_out, n_in), dtype, -bound, bound))
        biases.append(jax.random.uniform(kb, (n_out,), dtype, -bound, bound))
    return SaturatingMLP(weights, biases, gain=gain, shift=shift, activation=activation)


def export_mlp(model: SaturatingMLP, normaliser: Normaliser) -> SaturatingMLP:
    """The physical network of a network trained in normalised variables.

    With $z = (y - b)/a$ and $t_z = t/τ$, the trained field $f_z$ is the physical field
    $f(y) = (a/τ) ⊙ f_z((y - b)/a)$. It is again a `SaturatingMLP` with the same gain, shift,
    activation and pre-activations:

    $$W_1 ← W_1 \\operatorname{diag}(1/a), \\quad b_1 ← b_1 - W_1 (b/a), \\quad
      W_L ← \\operatorname{diag}(a/τ) W_L, \\quad b_L ← (a/τ) ⊙ b_L.$$

    So every δ_k is unchanged, the Floquet multipliers are unchanged, periods are in physical
    time and exponents per physical time unit; `C_emp` and `C_W` are those of the physical
    field (the bound $|λ| ≤ C_{emp}$ holds in either coordinates, the audit is done in these).
    Works on a batched (ensemble) model too.
    """
    a, b, tau = normaliser.scale, normaliser.offset, normaliser.time_scale
    w1, b1 = model.weights[0], model.biases[0]
    wl, bl = model.weights[-1], model.biases[-1]
    out_scale = a / tau
    new_w1 = w1 / a[..., None, :]
    new_b1 = b1 - jnp.einsum("...ij,...j->...i", w1, b / a)
    new_wl = out_scale[..., :, None] * wl
    new_bl = out_scale * bl
    return eqx.tree_at(
        lambda m: (m.weights[0], m.biases[0], m.weights[-1], m.biases[-1]),
        model,
        (new_w1, new_b1, new_wl, new_bl),
    )


def trainable(model: SaturatingMLP):
    """The filter spec of what training updates: weights and biases, never gain or shift."""
    spec = jax.tree.map(lambda _: True, model)
    return eqx.tree_at(lambda m: (m.gain, m.shift), spec, (False, False))


class TrainState(eqx.Module):
    """Everything a training run carries between steps (what a checkpoint holds).

    **Fields:** `model` (normalised variables), `nodes` (shooting states or `None`),
    `opt_state`, `step`, `key` (raw key data; step `k` uses `fold_in(key, k)`), `best_model`,
    `best_val`, `bad_evals`, `stopped`.
    """

    model: SaturatingMLP
    nodes: Array | None
    opt_state: optax.OptState
    step: Array
    key: Array
    best_model: SaturatingMLP
    best_val: Array
    bad_evals: Array
    stopped: Array


class TrainResult(eqx.Module):
    """The outcome of `fit` / `fit_ensemble` (batched along the members for an ensemble).

    **Fields:** `model` (the best network by validation loss, normalised variables; the last one
    without validation data), `normaliser`, `best_val` (its validation MSE, normalised units),
    `steps` (steps run), `stopped` (early-stopped), `losses` (training loss per step),
    `val_losses` (per evaluation). `physical` is the exported network (`export_mlp`).
    """

    model: SaturatingMLP
    normaliser: Normaliser
    best_val: Array
    steps: Array
    stopped: Array
    losses: Array
    val_losses: Array

    @property
    def physical(self) -> SaturatingMLP:
        return export_mlp(self.model, self.normaliser)


def _initial_state(model, nodes, key, options: TrainOptions) -> TrainState:
    params = eqx.filter(model, trainable(model))
    opt_state = options.optax_transform().init((params, nodes))
    dtype = model.weights[0].dtype
    return TrainState(
        model=model,
        nodes=nodes,
        opt_state=opt_state,
        step=jnp.asarray(0, jnp.int32),
        key=jax.random.key_data(key),
        best_model=model,
        best_val=jnp.asarray(jnp.inf, dtype),
        bad_evals=jnp.asarray(0, jnp.int32),
        stopped=jnp.asarray(False),
    )


def _rollout(model, z0, ts, flow: FlowOptions):
    sol = integrate(model, z0, ts[-1], options=flow, saveat=dfx.SaveAt(ts=ts))
    return sol.ys


class _Batched(eqx.Module):
    # The whole batch as one ODE state (batch, d): one adaptive solve with one step-size sequence
    # (torchdiffeq's convention for a batch of initial conditions); matmuls become GEMMs.
    model: SaturatingMLP

    def __call__(self, t, y, args=None):
        return jax.vmap(lambda v: self.model(t, v))(y)


def window_batch(key, n_traj, n_times, window, batch):
    """The (trajectory, start) of each window of a step (`key` = that step's key)."""
    key_traj, key_start = jax.random.split(key)
    which = jax.random.randint(key_traj, (batch,), 0, n_traj)
    start = jax.random.randint(key_start, (batch,), 0, n_times - window + 1)
    return which, start


def _window_loss(model, data, dt, key, window, batch: int, flow, joint: bool = False):
    # `window` is a traced length (<= the unpadded length, a static size), so one compiled step
    # serves every curriculum stage: a window integrates only to its own end, the save times
    # past it collapse onto that end and are masked out of the loss.
    n_traj, n_padded, _ = data.shape
    n_times = n_padded // 2
    which, start = window_batch(key, n_traj, n_times, window, batch)
    max_window = n_times
    steps = jnp.arange(max_window)
    mask = (steps < window).astype(data.dtype)
    ts = dt * jnp.minimum(steps, window - 1).astype(data.dtype)

    true = jax.vmap(lambda i, s: jax.lax.dynamic_slice_in_dim(data[i], s, max_window, axis=0))(
        which, start
    )
    if joint:
        pred = jnp.swapaxes(_rollout(_Batched(model), true[:, 0], ts, flow), 0, 1)
    else:
        pred = jax.vmap(lambda z0: _rollout(model, z0, ts, flow))(true[:, 0])
    err = jnp.sum(mask[None, :, None] * (pred - true) ** 2, axis=(1, 2))
    return jnp.mean(err / (window * data.shape[2]))


def _segments(data, k: int):
    n_times = data.shape[1]
    m = (n_times - 1) // k
    idx = m * jnp.arange(k)[:, None] + jnp.arange(m + 1)[None, :]
    return data[:, idx], m  # (n_traj, k, m + 1, d)


def _shooting_loss(model, nodes, data, dt, k: int, weight: float, flow):
    segs, m = _segments(data, k)
    ts = dt * jnp.arange(m + 1, dtype=data.dtype)
    pred = jax.vmap(jax.vmap(lambda z0: _rollout(model, z0, ts, flow)))(nodes)
    misfit = jnp.mean((pred - segs) ** 2)
    gaps = pred[:, :-1, -1] - nodes[:, 1:]
    continuity = jnp.mean(gaps**2) if k > 1 else jnp.zeros((), data.dtype)
    return misfit + weight * continuity


def _val_loss(model, val, dt, flow):
    if val is None or val.shape[0] == 0:
        return jnp.asarray(jnp.nan, jnp.result_type(float))
    ts = dt * jnp.arange(val.shape[1], dtype=val.dtype)
    pred = jax.vmap(lambda y: _rollout(model, y[0], ts, flow))(val)
    loss = jnp.mean((pred - val) ** 2)
    return jnp.where(jnp.isfinite(loss), loss, jnp.inf)


def _select(pred, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _chunk(
    state: TrainState, data, val, dt, window, stopping, options: TrainOptions, flow, n_steps
):
    """`n_steps` optimiser steps (one `lax.scan`) then one validation rollout.

    `data` is the training set padded to twice its length (see `run`); `window` a traced length.
    """
    opt = options.optax_transform()
    schedule = options.learning_rate_schedule()
    spec = trainable(state.model)
    base_key = jax.random.wrap_key_data(state.key)

    def loss_fn(params, nodes, frozen, key):
        model = eqx.combine(params, frozen)
        if options.shooting_segments:
            real = data[:, : data.shape[1] // 2]
            return _shooting_loss(
                model, nodes, real, dt, options.shooting_segments, options.continuity_weight, flow
            )
        joint = options.batch_solve == "joint"
        return _window_loss(model, data, dt, key, window, options.batch_size, flow, joint)

    def step(state: TrainState, _):
        params, frozen = eqx.partition(state.model, spec)
        key = jax.random.fold_in(base_key, state.step)
        loss, (g_params, g_nodes) = jax.value_and_grad(loss_fn, argnums=(0, 1))(
            params, state.nodes, frozen, key
        )
        grads = (g_params, g_nodes)
        updates, opt_state = opt.update(grads, state.opt_state, (params, state.nodes))
        new_params, new_nodes = eqx.apply_updates((params, state.nodes), updates)
        # An early-stopped member of an ensemble keeps its parameters (the others go on).
        model = _select(state.stopped, state.model, eqx.combine(new_params, frozen))
        nodes = _select(state.stopped, state.nodes, new_nodes)
        opt_state = _select(state.stopped, state.opt_state, opt_state)
        metrics = (loss, optax.tree.norm(grads), schedule(state.step))
        state = dataclasses.replace(
            state, model=model, nodes=nodes, opt_state=opt_state, step=state.step + 1
        )
        return state, metrics

    state, metrics = jax.lax.scan(step, state, None, length=n_steps)
    val_loss = _val_loss(state.model, val, dt, flow)
    if val is None or val.shape[0] == 0:
        best_model, best_val, bad, stopped = (
            state.model,
            state.best_val,
            state.bad_evals,
            state.stopped,
        )
    else:
        patience, min_delta = stopping
        improved = (val_loss < state.best_val - min_delta) & ~state.stopped
        best_model = _select(improved, state.model, state.best_model)
        best_val = jnp.where(improved, val_loss, state.best_val)
        bad = jnp.where(improved, 0, state.bad_evals + jnp.where(state.stopped, 0, 1))
        stopped = state.stopped
        stopped = stopped | (bad >= patience)
    state = dataclasses.replace(
        state, best_model=best_model, best_val=best_val, bad_evals=bad, stopped=stopped
    )
    return state, metrics, val_loss


# One compiled chunk per (stage, data shapes); `assert_max_traces` lets tests count compiles.
_chunk_single = eqx.filter_jit(eqx.debug.assert_max_traces(_chunk, max_traces=None))
_chunk_ensemble = eqx.filter_jit(
    eqx.debug.assert_max_traces(
        eqx.filter_vmap(
            _chunk, in_axes=(eqx.if_array(0), None, None, None, None, None, None, None, None)
        ),
        max_traces=None,
    )
)


class _Progress:
    """A one-line progress bar on stderr (a TTY gets `\\r` updates, a log gets lines)."""

    def __init__(self, total: int, enabled: bool, label: str = "satode train"):
        self.total, self.enabled, self.label = total, enabled, label
        self.t0 = time.perf_counter()
        self.tty = enabled and sys.stderr.isatty()

    def update(self, step: int, loss: float, val: float):
        if not self.enabled:
            return
        width = 24
        filled = int(width * step / max(self.total, 1))
        elapsed = time.perf_counter() - self.t0
        line = (
            f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {step}/{self.total} "
            f"loss {loss:.3e} val {val:.3e} {elapsed:.1f} s"
        )
        print(
            ("\r" + line) if self.tty else line,
            end="" if self.tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    def close(self):
        if self.tty:
            print(file=sys.stderr, flush=True)


def initial_nodes(train: Trajectories, normaliser: Normaliser, options: TrainOptions):
    """The starting shooting states: the (normalised) data at each segment's start."""
    if not options.shooting_segments:
        return None
    k = options.shooting_segments
    if (train.ys.shape[1] - 1) % k:
        raise ValueError(
            f"shooting_segments: {k} does not divide the {train.ys.shape[1] - 1} intervals of "
            "the time grid"
        )
    segs, _ = _segments(normaliser.encode(train.ys), k)
    return segs[:, :, 0]


def initial_state(model, key, train, normaliser, options, *, ensemble=False) -> TrainState:
    """The state a run starts from (also the template a checkpoint is read into)."""
    nodes = initial_nodes(train, normaliser, options)
    if not ensemble:
        return _initial_state(model, nodes, key, options)
    return eqx.filter_vmap(lambda m, k: _initial_state(m, nodes, k, options))(model, key)


def run(
    state: TrainState,
    train: Trajectories,
    val: Trajectories | None,
    normaliser: Normaliser,
    options: TrainOptions = TrainOptions(),
    flow: FlowOptions = TRAIN_FLOW,
    *,
    ensemble: bool = False,
    on_eval=None,
    progress: bool = False,
    until: int | None = None,
) -> tuple[TrainState, dict]:
    """Advance `state` to the end of the curriculum (or to early stopping), chunk by chunk.

    Each chunk is `eval_every` steps in one compiled `lax.scan`, then a validation rollout.
    `on_eval(state, rows)` is called after every chunk with the per-step metric rows (for CSV
    writing and checkpoints). The computation depends only on `state`, so a run resumed from a
    checkpointed state continues exactly as the uninterrupted one. `until` stops after that
    many steps in all (a multiple of `eval_every`), as if the run had been interrupted there.

    **Returns:** the final state and the metric history `{"loss", "grad_norm", "lr", "val"}`.
    """
    dt = normaliser.encode_time(train.ts[1] - train.ts[0])
    data = normaliser.encode(train.ys)
    n_times = data.shape[1]
    # Pad every trajectory with copies of its last state (masked out of the loss), so that a
    # window of any length can be sliced with one static size from any admissible start.
    data = jnp.concatenate([data, jnp.repeat(data[:, -1:], n_times, axis=1)], axis=1)
    v = None if val is None or val.n_trajectories == 0 else normaliser.encode(val.ys)
    chunk = _chunk_ensemble if ensemble else _chunk_single
    # Early stopping enters the compiled chunk as arrays, so changing it does not recompile.
    never = 2**30
    stopping = (
        jnp.asarray(never if options.patience is None else options.patience, jnp.int32),
        jnp.asarray(options.min_delta, data.dtype),
    )
    static_options = dataclasses.replace(options, patience=None, min_delta=0.0)
    total = options.total_steps if until is None else min(until, options.total_steps)
    start = int(jnp.min(state.step))
    bar = _Progress(total, progress)
    history = {"loss": [], "grad_norm": [], "lr": [], "val": []}
    step = start
    while step < total:
        stage = options.stage_at(step)
        points = options.curriculum[stage][0]
        window = jnp.asarray(n_times if points == 0 or points > n_times else points, jnp.int32)
        state, (loss, gnorm, lr), val_loss = chunk(
            state, data, v, dt, window, stopping, static_options, flow, options.eval_every
        )
        rows = []
        for j in range(options.eval_every):
            rows.append(
                {
                    "step": step + j + 1,
                    "stage": stage,
                    "window": options.curriculum[stage][0],
                    "lr": lr[..., j],
                    "loss": loss[..., j],
                    "grad_norm": gnorm[..., j],
                    "val_loss": val_loss if j == options.eval_every - 1 else None,
                }
            )
        step += options.eval_every
        history["loss"].append(loss)
        history["grad_norm"].append(gnorm)
        history["lr"].append(lr)
        history["val"].append(val_loss)
        if on_eval is not None:
            on_eval(state, rows)
        bar.update(step, float(jnp.mean(loss[..., -1])), float(jnp.mean(val_loss)))
        if bool(jnp.all(state.stopped)):
            break
    bar.close()
    return state, history


def result_of(state: TrainState, normaliser: Normaliser, history: dict, has_val: bool):
    """The `TrainResult` of a finished state."""
    axis = -1
    cat = (
        (lambda xs: jnp.concatenate(xs, axis=axis))
        if history["loss"]
        else (lambda xs: jnp.zeros(0))
    )
    vals = jnp.stack(history["val"], axis=-1) if history["val"] else jnp.zeros(0)
    return TrainResult(
        model=state.best_model if has_val else state.model,
        normaliser=normaliser,
        best_val=state.best_val,
        steps=state.step,
        stopped=state.stopped,
        losses=cat(history["loss"]),
        val_losses=vals,
    )


def fit(
    model: SaturatingMLP,
    train: Trajectories,
    key: PRNGKeyArray,
    *,
    val: Trajectories | None = None,
    normaliser: Normaliser | None = None,
    options: TrainOptions = TrainOptions(),
    flow: FlowOptions = TRAIN_FLOW,
    progress: bool = False,
) -> TrainResult:
    """Train a Neural ODE `y' = model(y)` on trajectories by matching them (discretise-then-
    optimise through `diffrax`, gradients by `flow.adjoint`).

    With windows of $n$ samples $y_{j}, …, y_{j+n-1}$ (normalised), the loss of a batch is

    $$\\mathcal L = \\frac{1}{B n d} \\sum_{b} \\sum_{i<n} \\|\\hat z_b(t_i) - z_{b,i}\\|^2,
      \\qquad \\hat z_b = \\text{solve}(f_θ, z_{b,0}),$$

    with multiple shooting the misfit of every segment plus `continuity_weight` × the mean squared
    gap between consecutive segments. `gain` and `shift` are held fixed.

    **Arguments:**

    - `model`: the initial network (normalised variables), e.g. from `init_mlp`.
    - `train`, `val`: physical trajectories (`val` for early stopping; optional).
    - `key`: the PRNG key of the window sampling.
    - `normaliser`: the change of variables (default: `minmax` fitted to `train`).
    - `options`, `flow`: `TrainOptions` and the training integrator (`TRAIN_FLOW`: dopri5,
        rtol 1e-4, atol 1e-5).
    - `progress`: print a progress bar on stderr.

    **Returns:** a `TrainResult`; `result.physical` is the physical network.
    """
    if normaliser is None:
        normaliser = Normaliser.fit("minmax", train.ys)
    state = initial_state(model, key, train, normaliser, options)
    state, history = run(state, train, val, normaliser, options, flow, progress=progress)
    return result_of(state, normaliser, history, val is not None and val.n_trajectories > 0)


def ensemble_models(
    keys: PRNGKeyArray,
    levels: Float[Array, " n"],
    parameter: str,
    make_model,
) -> SaturatingMLP:
    """A batched ensemble: member `i` is `make_model(keys[i])` with `parameter` at `levels[i]`."""
    if parameter not in ("gain", "shift"):
        raise ValueError(f"parameter: expected 'gain' or 'shift', got {parameter!r}")

    def one(key, level):
        m = make_model(key)
        return eqx.tree_at(lambda m: getattr(m, parameter), m, jnp.asarray(level, m.gain.dtype))

    return eqx.filter_vmap(one)(keys, jnp.asarray(levels))


def fit_ensemble(
    models: SaturatingMLP,
    train: Trajectories,
    keys: PRNGKeyArray,
    *,
    val: Trajectories | None = None,
    normaliser: Normaliser | None = None,
    options: TrainOptions = TrainOptions(),
    flow: FlowOptions = TRAIN_FLOW,
    progress: bool = False,
) -> TrainResult:
    """`fit` for a batch of networks at once: `jax.vmap` over the members, one compile per
    curriculum stage for the whole ensemble. Members differ by initial weights, window keys and
    (fixed) gain or shift; they share the data. Each member stops early on its own (it is then
    frozen while the others go on). Member `i` equals `fit(models[i], train, keys[i], …)`.

    **Returns:** a batched `TrainResult`.
    """
    if normaliser is None:
        normaliser = Normaliser.fit("minmax", train.ys)
    state = initial_state(models, keys, train, normaliser, options, ensemble=True)
    state, history = run(
        state, train, val, normaliser, options, flow, ensemble=True, progress=progress
    )
    return result_of(state, normaliser, history, val is not None and val.n_trajectories > 0)


def predict(
    model: SaturatingMLP,
    normaliser: Normaliser,
    y0: Float[Array, "n d"],
    ts: Float[Array, " t"],
    flow: FlowOptions = TRAIN_FLOW,
) -> Float[Array, "n t d"]:
    """Physical trajectories of a normalised model from physical starts `y0` on the grid `ts`
    (`ts[0]` must be 0): encode, integrate, decode."""
    tz = normaliser.encode_time(ts)
    z0 = normaliser.encode(y0)
    return normaliser.decode(jax.vmap(lambda z: _rollout(model, z, tz, flow))(z0))
