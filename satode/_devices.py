"""Many devices and many hosts: which devices a sweep shards its strands over.

On one host `satode.sweep` shards over `jax.devices()` (all local accelerators, or simulated CPU
devices with `XLA_FLAGS=--xla_force_host_platform_device_count=N`). On several hosts, every
process calls `initialize_distributed` first (the CLI: `satode sweep CONFIG --distributed`);
`jax.devices()` then lists every process's devices, each process runs the same sweep on its
share of the strands and gathers the results.
"""

import jax


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Join a multi-host JAX job (`jax.distributed.initialize`).

    **Arguments:** `coordinator` (`"host:port"` of process 0), `num_processes`, `process_id`.
    Left `None`, JAX detects them from the cluster environment (SLURM, Open MPI, Kubernetes,
    TPU pods) or from `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`.
    """
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )
