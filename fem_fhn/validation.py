"""Input checks that need more than the config text: the mesh, fields on it, the built model.

They run before the output folder is created, so bad input leaves nothing behind, and raise
`ConfigError` (exit code 1) with a one-line message naming the key, the value and what is allowed.

    check_inputs(config, nodes)     mesh quality and size; ρ0, initial data and stimulus finite on
                                    the mesh; kinetic probes on the mesh; the memory budget
    check_setup(config, setup)      the first time step against the kinetic CFL bound; the number
                                    of time steps of dt = "auto" against the budget
    check_kernel_sign(spec, ...)    kernels with negative values only with allow_negative = true
    explain_mesh_error(config, err) the message for a mesh that cannot be read
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.expressions import Expression
from fem_fhn.parallel import bounding_box
from fem_fhn.params import ParameterError

#: a cell whose measure is at most this fraction of the mean cell measure is degenerate
DEGENERATE = 1e-13
_MEASURE = {1: "length", 2: "area", 3: "volume"}


def _error(message: str) -> ParameterError:
    from fem_fhn.config import ConfigError

    return ConfigError(message)


def cell_measures(mesh) -> np.ndarray:
    """Length, area or volume of each owned simplex cell (NaN for other cell types)."""
    tdim = mesh.topology.dim
    n = mesh.topology.index_map(tdim).size_local
    x = mesh.geometry.x[:, : mesh.geometry.dim]
    dofs = mesh.geometry.dofmaps[0][:n]
    if dofs.shape[1] != tdim + 1:
        return np.full(n, np.nan)
    v = x[dofs]
    edges = v[:, 1:] - v[:, :1]
    gram = edges @ np.swapaxes(edges, 1, 2)
    return np.sqrt(np.abs(np.linalg.det(gram))) / math.factorial(tdim)


def check_mesh(config, nodes) -> None:
    """Refuse meshes with degenerate cells (zero length, area or volume)."""
    comm = nodes.comm
    measures = cell_measures(nodes.mesh)
    if np.isnan(measures).any():
        return
    total = comm.allreduce(float(measures.sum()), op=MPI.SUM)
    count = comm.allreduce(len(measures), op=MPI.SUM)
    floor = DEGENERATE * total / max(count, 1)
    bad = measures <= floor
    n_bad = comm.allreduce(int(bad.sum()), op=MPI.SUM)
    if not n_bad:
        return
    local = None
    if bad.any():
        tdim = nodes.mesh.topology.dim
        dofs = nodes.mesh.geometry.dofmaps[0][np.flatnonzero(bad)[0]]
        pts = nodes.mesh.geometry.x[dofs, : nodes.mesh.geometry.dim]
        local = "; ".join("(" + ", ".join(f"{c:g}" for c in p) + ")" for p in pts[: tdim + 1])
    example = next(e for e in comm.allgather(local) if e)
    what = _MEASURE.get(nodes.mesh.topology.dim, "measure")
    raise _error(
        f"mesh.source = {config.mesh.source!r} is not allowed: {n_bad} of {count} cells are "
        f"degenerate (zero {what}, e.g. the cell with vertices {example}); allowed: a mesh "
        f"whose cells all have positive {what}"
    )


def max_cell_size(nodes) -> float:
    """The longest cell edge of the mesh (collective)."""
    mesh = nodes.mesh
    n = mesh.topology.index_map(mesh.topology.dim).size_local
    v = mesh.geometry.x[mesh.geometry.dofmaps[0][:n], : mesh.geometry.dim]
    longest = 0.0
    for a in range(v.shape[1]):
        for b in range(a + 1, v.shape[1]):
            edge = np.linalg.norm(v[:, a] - v[:, b], axis=1)
            longest = max(longest, float(edge.max(initial=0.0)))
    return nodes.comm.allreduce(longest, op=MPI.MAX)


def extent(nodes) -> np.ndarray:
    """The side lengths of the mesh's bounding box (collective)."""
    lo, hi = bounding_box(nodes.comm, nodes.coords)
    return hi - lo


#: a generated mesh has at least this many cells across the domain's longest side
MIN_CELLS_ACROSS = 4


def check_mesh_size(config, nodes) -> None:
    """Refuse a mesh.h that leaves fewer than MIN_CELLS_ACROSS cells across the domain."""
    h = config.mesh.h
    if not h:
        return
    length = float(extent(nodes).max())
    if h > length / MIN_CELLS_ACROSS:
        raise _error(
            f"mesh.h = {h!r} is not allowed: the domain {config.mesh.source!r} is {length:g} "
            f"across, so the mesh has only {nodes.n_global} nodes; allowed: 0 < h <= "
            f"{length / MIN_CELLS_ACROSS:g} (at least {MIN_CELLS_ACROSS} cells across)"
        )


def check_probes(config, nodes) -> None:
    """Probe points ([output] probes, kinetic.probes): one coordinate per mesh axis, within one
    cell size of a mesh node."""
    from fem_fhn.io import nearest_node

    given = [("output.probes", config.output.probes)]
    if config.kinetic is not None:
        given.append(("kinetic.probes", config.kinetic.probes))
    for key, probes in given:
        for point in probes:
            if len(point) != nodes.dim:
                raise _error(
                    f"{key} = {probes!r} is not allowed: the point {point!r} has "
                    f"{len(point)} coordinates, the mesh is {nodes.dim}D; allowed: points with "
                    f"{nodes.dim} coordinates"
                )
        h = max_cell_size(nodes) if probes else 0.0
        for point in probes:
            _, _, where = nearest_node(nodes.comm, nodes.coords, point)
            distance = float(np.linalg.norm(np.asarray(where) - np.asarray(point, dtype=float)))
            if distance > h:
                raise _error(
                    f"{key} = {probes!r} is not allowed: the point {point!r} is "
                    f"{distance:.3g} from the nearest mesh node; allowed: points on the mesh "
                    f"(within one cell size, {h:.3g}, of a node)"
                )


def _where(nodes, bad: np.ndarray) -> str | None:
    if not bad.any():
        return None
    point = nodes.coords[np.flatnonzero(bad)[0]]
    return "(" + ", ".join(f"{c:g}" for c in point) + ")"


def _check_finite(nodes, key: str, value, values: np.ndarray, when: str = "") -> None:
    comm = nodes.comm
    bad = ~np.isfinite(values)
    n_bad = comm.allreduce(int(bad.sum()), op=MPI.SUM)
    if n_bad:
        example = next(e for e in comm.allgather(_where(nodes, bad)) if e)
        raise _error(
            f"{key} = {value!r} is not allowed: it is not finite at {n_bad} of "
            f"{nodes.n_global} mesh nodes{when} (e.g. at x = {example}); allowed: an "
            "expression with finite values on the whole mesh"
        )


def _check_mass(nodes, value, rho: np.ndarray) -> None:
    """ρ0 ≥ 0 with zero integral leaves nothing to simulate (negative values: NodalMesh.density)."""
    low = nodes.comm.allreduce(float(rho.min(initial=np.inf)), op=MPI.MIN)
    if low >= 0 and nodes.integrate(rho) <= 0:
        raise _error(
            f"rho0.value = {value!r} is not allowed: its integral over the mesh is 0, nothing to "
            "simulate; allowed: rho0 >= 0 with a positive integral"
        )


def _evaluate(source: Expression, values: dict, n: int) -> np.ndarray:
    """The expression at n nodes; NaN where Python arithmetic fails (e.g. 1/t at t = 0)."""
    try:
        with np.errstate(all="ignore"):
            result = np.asarray(source(**values), dtype=float)
    except ArithmeticError:
        result = np.array(np.nan)
    return np.broadcast_to(result, (n,))


def check_fields(config, nodes) -> None:
    """ρ0, the initial data and the stimulus (at the output times) finite at every node."""
    coords = nodes.coordinate_arrays()
    for key, value in (
        ("rho0.value", config.rho0.value),
        ("initial.V", config.initial.V),
        ("initial.W", config.initial.W),
    ):
        source = config.field_source(value, key)
        if isinstance(source, Expression | float):
            values = (
                np.full(nodes.n_owned, source)
                if isinstance(source, float)
                else _evaluate(source, coords, nodes.n_owned)
            )
            _check_finite(nodes, key, value, values)
            if key == "rho0.value":
                _check_mass(nodes, value, values)
    source = config.field_source(config.stimulus.I, "stimulus.I", ("x", "y", "z", "t"))
    if isinstance(source, Expression):
        times = np.linspace(0.0, config.time.t_end, config.time.n_outputs + 1)
        if "t" not in source.names:
            times = times[:1]
        for t in times:
            values = _evaluate(source, {**coords, "t": float(t)}, nodes.n_owned)
            _check_finite(nodes, "stimulus.I", config.stimulus.I, values, f" at t = {t:g}")


def check_inputs(config, nodes) -> None:
    """The checks that need the mesh: cell quality and size, the fields on it, the kernel's
    sign, the kinetic probes and the memory the run will take (`fem_fhn.budget`)."""
    from fem_fhn.budget import check_memory

    check_mesh(config, nodes)
    check_mesh_size(config, nodes)
    check_fields(config, nodes)
    kernel = config.kernel.build(nodes.tdim)
    check_kernel_sign(kernel, config.kernel.spec, config.kernel.allow_negative)
    check_probes(config, nodes)
    check_memory(config, nodes)


def check_setup(config, setup) -> None:
    """Checks of the built model before anything is written: the number of steps of dt = "auto",
    and the model kind's own check (`fem_fhn.registry.ModelKind.check`, e.g. the kinetic CFL
    bound of the first step, which the stepper would otherwise raise after the output exists)."""
    from fem_fhn.budget import check_steps

    integrator = setup.integrator
    if config.time.dt == "auto" and integrator.fixed_step:
        check_steps(config, float(integrator.dt), "time.dt = 'auto' gives dt")
    setup.kind.check(config, setup)


def check_kernel_sign(kernel, spec: dict, allow_negative: bool) -> None:
    """A kernel taking negative values needs [kernel] allow_negative = true.

    The models are written for Ψ ≥ 0 (excitatory coupling); a sign-changing Ψ (Mexican hat,
    docs/science.md) or a negative strength is allowed when asked for explicitly.
    """
    if allow_negative:
        return
    from fem_fhn.kernels import min_value

    low = min_value(kernel)
    if low < 0:
        shown = {k: v for k, v in spec.items() if k != "type"}
        raise _error(
            f"kernel = {spec.get('type')!r} with {shown} is not allowed: Psi takes negative "
            f"values (min {low:.3g}); allowed: Psi >= 0, or set [kernel] allow_negative = true "
            "for an inhibitory or sign-changing kernel"
        )


def explain_mesh_error(config, err: Exception) -> str:
    """One line for a mesh that cannot be loaded, naming the key, the value and what is allowed."""
    from fem_fhn import meshes

    message = " ".join(str(err).split())
    if message.startswith("mesh."):
        return message
    source = config.mesh.source
    if Path(source).suffix and (config.path(source)).is_dir():
        message = f"{str(config.path(source))!r} is a folder"
    return (
        f"mesh.source = {source!r} is not allowed: {message}; allowed: a gmsh .msh file with "
        f"cells, an XDMF mesh with its .h5 file, or a bundled domain ({', '.join(meshes.names())})"
    )
