"""What a run will need, estimated before any work, against the [budget] table.

Three quantities are checked before anything is built or written, so that a run that cannot
finish (or would fill the disk) is refused with one line instead of crashing or running away:

    steps    n_outputs · ⌈(t_end / n_outputs) / dt⌉ time steps of a fixed-step scheme
             ≤ [budget] steps (the adaptive scheme chooses its own steps: not counted)
    outputs  time.n_outputs ≤ [budget] outputs (every output time writes files)
    memory   the largest arrays of the model, per rank, ≤ [budget] memory_gib, or when that is 0
             the memory available on the machine shared by the ranks running on it:
                 nodes          NODE_BYTES per owned mesh node (mesh, spaces, fields, writers)
                 dense operator 8 N n bytes (N global points, n owned) for method "dense"
                                (or "auto" with N ≤ nonlocal.DENSE_MAX)
                 kinetic        KINETIC_COPIES · 8 · n · n_v · n_w bytes (f and its stages)
                 network        PARTICLE_BYTES + 20 · neighbours bytes per owned particle

The memory figures are estimates from the array sizes (to a factor of about 2), meant to refuse
what cannot fit, not to predict the peak exactly.
"""

from __future__ import annotations

import math
import os

from fem_fhn.params import ParameterError

GIB = 1024**3
NODE_BYTES = 2048
KINETIC_COPIES = 8
PARTICLE_BYTES = 512


def _error(message: str) -> ParameterError:
    from fem_fhn.config import ConfigError

    return ConfigError(message)


def steps_needed(t_end: float, n_outputs: int, dt: float) -> float:
    """Steps of a fixed-step scheme: n_outputs · ⌈(t_end / n_outputs) / dt⌉ (inf on overflow)."""
    per_interval = (t_end / n_outputs) / dt
    if not math.isfinite(per_interval):
        return math.inf
    return n_outputs * max(1.0, math.ceil(per_interval * (1 - 1e-12)))


def check_steps(config, dt: float, key: str = "time.dt") -> None:
    """Refuse a fixed-step run that needs more than [budget] steps time steps."""
    t = config.time
    if t.scheme == "adaptive":
        return
    steps = steps_needed(t.t_end, t.n_outputs, dt)
    limit = config.budget.steps
    if steps > limit:
        shown = f"{steps:.3g}" if math.isfinite(steps) else "more than 1e308"
        raise _error(
            f"{key} = {dt!r} is not allowed with time.t_end = {t.t_end!r}: the run needs "
            f"{shown} time steps, the budget is {limit} ([budget] steps); allowed: a larger dt, "
            "a shorter t_end, or raise [budget] steps"
        )


def check_outputs(config) -> None:
    """Refuse more output times than [budget] outputs."""
    n, limit = config.time.n_outputs, config.budget.outputs
    if n > limit:
        raise _error(
            f"time.n_outputs = {n!r} is not allowed: every output time writes files, the budget "
            f"is {limit} output times ([budget] outputs); allowed: 1 <= n_outputs <= {limit}, "
            "or raise [budget] outputs"
        )


def available_bytes(comm) -> float:
    """Memory available on this machine (MemAvailable) divided by the ranks running on it."""
    from mpi4py import MPI

    total = math.inf
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    total = float(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if not math.isfinite(total):
        try:
            total = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            return math.inf
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        ranks_here = local.size
    finally:
        local.Free()
    return total / ranks_here


def _dense(config, n_global: float) -> bool:
    from fem_fhn.nonlocal_ import DENSE_MAX

    method = config.nonlocal_.method
    return method == "dense" or (method == "auto" and n_global <= DENSE_MAX)


def memory_parts(config, n_global: int, n_owned: int, ranks: int) -> dict[str, tuple[str, float]]:
    """{what: (the key that sets it, bytes per rank)} of the largest arrays of the run."""
    parts = {"mesh nodes": ("mesh.source", float(NODE_BYTES) * n_owned)}
    if config.network is not None:
        net = config.network
        n = float(net.n)
        local = n / ranks
        parts["network"] = ("network.n", local * (PARTICLE_BYTES + 20.0 * net.neighbours))
        if _dense(config, n):
            parts["dense operator"] = ("network.n", 8.0 * n * local)
        return parts
    if _dense(config, n_global):
        parts["dense operator"] = ("nonlocal.method", 8.0 * float(n_global) * n_owned)
    if config.kinetic is not None:
        kin = config.kinetic
        cells = float(n_owned) * kin.n_v * kin.n_w
        parts["kinetic density"] = ("kinetic.n_v", 8.0 * KINETIC_COPIES * cells)
    return parts


def check_memory(config, nodes) -> None:
    """Refuse a run whose estimated memory per rank exceeds the budget (collective)."""
    from mpi4py import MPI

    comm = nodes.comm
    n_owned = comm.allreduce(nodes.n_owned, op=MPI.MAX)
    parts = memory_parts(config, nodes.n_global, n_owned, comm.size)
    need = sum(b for _, b in parts.values())
    if config.budget.memory_gib > 0:
        limit, source = config.budget.memory_gib * GIB, "[budget] memory_gib"
    else:
        limit = comm.allreduce(available_bytes(comm), op=MPI.MIN)
        source = "the memory available per rank"
    if need <= limit:
        return
    what, (key, _) = max(parts.items(), key=lambda item: item[1][1])
    section, name = key.split(".")
    value = getattr(getattr(config, "nonlocal_" if section == "nonlocal" else section), name)
    detail = ", ".join(f"{k} {b / GIB:.3g}" for k, (_, b) in parts.items())
    raise _error(
        f"{key} = {value!r} is not allowed: the run needs about {need / GIB:.3g} GiB per rank "
        f"({detail} GiB; most for the {what}), {source} is {limit / GIB:.3g} GiB; allowed: a "
        "smaller problem, more ranks, or raise [budget] memory_gib"
    )
