"""Training throughput: satode (JAX + diffrax + optax) vs torchdiffeq (PyTorch), per epoch, CPU.

The companion Morris–Lecar setup on both sides: a 3×128 tanh MLP, min–max scaled states (time
in units of 10 ms), dopri5 at rtol 1e-4 / atol 1e-5, discretise-then-optimise (backprop through
the solver: diffrax's RecursiveCheckpointAdjoint, torchdiffeq's `odeint`), Adam at 1e-3, float64.
One epoch = one full-batch step on every training trajectory (rollout from its first sample over
the whole grid, MSE, backward, update). Both networks start from the same weights.

    taskset -c 1 env XLA_FLAGS=--xla_cpu_multi_thread_eigen=false \\
        python benchmarks/train_throughput.py --epochs 10 --repeats 3

Prints a Markdown table and writes benchmarks/train_throughput.json.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=10, help="epochs per timed repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n-traj", type=int, default=16)
    p.add_argument("--n-times", type=int, default=101)
    p.add_argument("--t1", type=float, default=200.0, help="trajectory length (ms)")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=4096, help="diffrax max_steps (satode)")
    p.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    a = p.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax as dfx
    import jax.numpy as jnp
    import numpy as np
    import torch
    import torchdiffeq

    import satode
    from satode._data import make_trajectories, Normaliser
    from satode._train import _chunk_single, init_mlp, initial_state, TrainOptions, window_batch
    from satode.systems import MorrisLecar

    torch.set_num_threads(1)
    system = MorrisLecar.from_params("hopf")
    data = make_trajectories(
        system,
        jax.random.key(0),
        n_trajectories=a.n_traj,
        t1=a.t1,
        n_times=a.n_times,
        initial="cycle",
        y0=[20.0, 0.0],
        transient=300.0,
        spread=0.05,
    )
    norm = Normaliser.fit("minmax", data.ys, time_scale=10.0)
    z = np.asarray(norm.encode(data.ys))
    tz = np.asarray(norm.encode_time(data.ts))
    model = init_mlp(jax.random.key(1), 2, a.width, a.depth)

    # --- satode: the library's compiled training chunk (epochs = steps of one lax.scan), both
    # batch conventions: "vmap" (per-trajectory step control) and "joint" (torchdiffeq's).
    def options(batch_solve):
        return TrainOptions(
            curriculum=((0, a.epochs),),
            batch_size=a.n_traj,
            learning_rate=1e-3,
            clip_norm=None,
            eval_every=a.epochs,
            batch_solve=batch_solve,
        )

    opts = options("vmap")
    # satode's training default: Dopri5 with its stages unrolled (satode.Unrolled).
    flow = satode.FlowOptions(
        solver=satode.Unrolled(dfx.Dopri5()), rtol=1e-4, atol=1e-5, max_steps=a.max_steps
    )
    state0 = initial_state(model, jax.random.key(2), data, norm, opts)
    zj = jnp.asarray(z)
    padded = jnp.concatenate([zj, jnp.repeat(zj[:, -1:], zj.shape[1], axis=1)], axis=1)
    dt = jnp.asarray(tz[1] - tz[0])
    window = jnp.asarray(a.n_times, jnp.int32)
    stopping = (jnp.asarray(2**30, jnp.int32), jnp.asarray(0.0))

    def jax_epochs(state, o):
        out = _chunk_single(state, padded, None, dt, window, stopping, o, flow, a.epochs)
        jax.block_until_ready(out)
        return out

    jax_times, jax_compile, jax_losses = {}, {}, {}
    for mode in ("vmap", "joint"):
        o = options(mode)
        t0 = time.perf_counter()
        jax_epochs(state0, o)
        jax_compile[mode] = time.perf_counter() - t0
        jax_times[mode] = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            _, (losses, _, _), _ = jax_epochs(state0, o)
            jax_times[mode].append((time.perf_counter() - t0) / a.epochs)
        jax_losses[mode] = np.asarray(losses)
    # The windows satode drew at each epoch (whole trajectories, drawn with replacement): torch
    # gets the very same batches.
    base = jax.random.wrap_key_data(state0.key)
    batches = [
        np.asarray(
            window_batch(jax.random.fold_in(base, k), a.n_traj, a.n_times, a.n_times, a.n_traj)[0]
        )
        for k in range(a.epochs)
    ]

    # --- torchdiffeq: the same network, weights, data, tolerances and optimiser.
    layers = []
    for k, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        lin = torch.nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(w)))
            lin.bias.copy_(torch.from_numpy(np.array(b)))
        layers.append(lin)
        if k < len(model.weights) - 1:
            layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*layers)

    class Func(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = copy.deepcopy(net)  # every run starts from the initial weights

        def forward(self, t, y):
            return self.net(y)

    func = Func()
    zt = torch.from_numpy(np.array(z))
    tt = torch.from_numpy(np.array(tz - tz[0]))

    def torch_epochs(n):
        f = Func()
        opt = torch.optim.Adam(f.parameters(), lr=1e-3)
        losses = []
        for k in range(n):
            opt.zero_grad()
            true = zt[torch.from_numpy(batches[k])]
            pred = torchdiffeq.odeint(f, true[:, 0], tt, rtol=1e-4, atol=1e-5, method="dopri5")
            loss = torch.mean((pred.permute(1, 0, 2) - true) ** 2)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    torch_epochs(1)  # warm-up
    torch_times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        torch_losses = torch_epochs(a.epochs)
        torch_times.append((time.perf_counter() - t0) / a.epochs)
    del func

    tv, tj = statistics.median(jax_times["vmap"]), statistics.median(jax_times["joint"])
    tt_ = statistics.median(torch_times)
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:  # noqa: BLE001 — outside a checkout
        rev = None
    record = {
        "setup": vars(a),
        "satode_s_per_epoch": jax_times,
        "torchdiffeq_s_per_epoch": torch_times,
        "satode_compile_s": jax_compile,
        "ratio_joint": tt_ / tj,
        "ratio_vmap": tt_ / tv,
        "losses": {
            "satode_vmap": jax_losses["vmap"].tolist(),
            "satode_joint": jax_losses["joint"].tolist(),
            "torchdiffeq": torch_losses,
        },
        "versions": {
            "jax": jax.__version__,
            "diffrax": dfx.__version__,
            "torch": torch.__version__,
            "torchdiffeq": torchdiffeq.__version__,
            "python": platform.python_version(),
        },
        "device": str(jax.devices()[0]),
        "dtype": "float64",
        "affinity": sorted(os.sched_getaffinity(0)),
        "git": rev,
    }
    Path(a.out).write_text(json.dumps(record, indent=1))
    print(
        "| network | data | satode joint s/epoch | satode vmap s/epoch | torchdiffeq s/epoch "
        "| ratio joint | ratio vmap |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {a.depth}×{a.width} tanh | ML hopf {a.n_traj}×{a.n_times} | {tj:.4f} | {tv:.4f} | "
        f"{tt_:.4f} | {tt_ / tj:.1f}× | {tt_ / tv:.1f}× |"
    )
    print(
        f"satode compile {jax_compile} s; first losses {jax_losses['joint'][0]:.8g} (joint), "
        f"{jax_losses['vmap'][0]:.8g} (vmap), {torch_losses[0]:.8g} (torch)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
