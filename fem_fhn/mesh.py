"""Meshes and the nodal (P1) view of them that every model uses (docs/discretisation.md).

`load_mesh` reads a gmsh `.msh`, an XDMF mesh, a triangle surface (GIfTI, FreeSurfer, TVB zip,
OBJ/PLY/STL/VTU, or a list of them), or a bundled domain by name; `NodalMesh` holds the
P1 space and, for the nodes this rank owns, their coordinates, lumped masses m_j = ∫ φ_j dx and
rank-independent global indices (the node numbers of the input file). `nodal_field` turns a
constant, an expression or a file into owned nodal values (ρ0, initial data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ufl
from mpi4py import MPI

from fem_fhn._fenics import dolfinx, fem
from fem_fhn.expressions import Expression
from fem_fhn.params import ParameterError
from fem_fhn.surface import UNITS, VERTEX_DATA_SUFFIXES, read_vertex_data

MESH_SUFFIXES = (".msh", ".xdmf")
#: surface formats read through meshio: their coordinates carry no unit
MESHIO_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".vtu", ".vtk")
NUMBER_FILES = (
    "a .npy file holding an array of numbers, a .csv/.txt file of numbers separated by "
    "spaces or commas, a GIfTI data array (.gii) or a FreeSurfer morphometry file (lh.curv, ...)"
)


class MeshError(ParameterError):
    """A mesh that cannot be used: missing, unreadable, empty or of the wrong kind."""


def load_numbers(path: Path, key: str, value=None, ndim: int | None = 1) -> np.ndarray:
    """The finite numbers of a .npy, .csv or .txt file as float64 (flattened for ndim = 1).

    Args:
        path: the file (.npy: a numeric array, no pickled objects; .csv/.txt: numbers separated
            by spaces, commas or line breaks).
        key, value: the config key and value named by the error message.
        ndim: 1 to flatten; otherwise the number of axes the array must have.

    Raises:
        ParameterError: `key = value is not allowed: ...` for a file that is missing, cannot be
            read as numbers, has the wrong number of axes or holds non-finite values.
    """
    path = Path(path)
    shown = str(path) if value is None else value

    def refuse(why: str) -> ParameterError:
        return ParameterError(f"{key} = {shown!r} is not allowed: {why}; allowed: {NUMBER_FILES}")

    if not path.is_file():
        raise refuse(f"file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif str(path).endswith(VERTEX_DATA_SUFFIXES):
            data = read_vertex_data(path)
        else:
            text = path.read_bytes().decode("utf-8").replace(",", " ")
            data = np.array(text.split(), dtype=float)
    except (OSError, ValueError, EOFError, ImportError) as err:  # UnicodeDecodeError: ValueError
        reason = " ".join(str(err).split())[:120]
        raise refuse(f"the file cannot be read as numbers ({reason})") from None
    if not isinstance(data, np.ndarray) or not (
        np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)
    ):
        raise refuse(f"the file holds {getattr(data, 'dtype', type(data))} values, not numbers")
    data = np.asarray(data, dtype=float)
    if ndim == 1:
        data = data.ravel()
    elif data.ndim != ndim:
        raise refuse(f"the array has shape {data.shape}, not {ndim} axes")
    if data.size == 0:
        raise refuse("the file holds no numbers")
    if not np.all(np.isfinite(data)):
        raise refuse(f"it holds {int(np.count_nonzero(~np.isfinite(data)))} non-finite values")
    return data


def resolve_mesh_source(source: str | Path | tuple | list) -> Path | tuple[Path, ...]:
    """A mesh file path (or several surface files) from a path, a list of surface files, or the
    name of a bundled domain (see `fem_fhn.meshes`)."""
    from fem_fhn import meshes
    from fem_fhn.surface import is_surface_file

    if isinstance(source, tuple | list):
        paths = tuple(Path(p) for p in source)
        bad = [str(p) for p in paths if not is_surface_file(p)]
        if not paths or bad:
            raise MeshError(
                f"mesh.source = {[str(p) for p in paths]!r} is not allowed: a list holds surface "
                f"files (.gii, FreeSurfer, TVB .zip, .obj/.ply/.stl/.off/.vtu/.vtk); not {bad}"
            )
        for p in paths:
            if not p.is_file():
                raise MeshError(f"mesh file {str(p)!r} does not exist")
        return paths
    path = Path(source)
    if path.suffix in MESH_SUFFIXES or is_surface_file(path):
        if not path.is_file():
            raise MeshError(f"mesh file {str(path)!r} does not exist")
        return path
    if str(source) in meshes.names():
        return meshes.bundled_path(str(source))
    raise MeshError(
        f"mesh = {str(source)!r} is neither a .msh/.xdmf file nor a bundled domain "
        f"({', '.join(meshes.names())}) nor a surface file (.gii, FreeSurfer lh.pial, TVB .zip, "
        ".obj/.ply/.stl/.off/.vtu/.vtk)"
    )


def mesh_units(source: Path | tuple[Path, ...], units: str = "") -> tuple[str, float]:
    """The length unit of a mesh's coordinates and the factor its file coordinates are scaled by.

    Surface files of neuroimaging (GIfTI, FreeSurfer, TVB zip) are in millimetres: `units` converts
    them (e.g. "m": factor 1e-3). Other meshes carry no unit: a stated unit names theirs (factor 1);
    "" leaves them in the file's own unit. Kernel widths, mesh sizes and expressions are read in
    this unit.
    """
    from fem_fhn.surface import is_surface_file

    if units and units not in UNITS:
        raise MeshError(f'mesh.units = {units!r} is not allowed: one of {", ".join(UNITS)} or ""')
    paths = source if isinstance(source, tuple) else (source,)
    if all(is_surface_file(p) and p.suffix not in MESHIO_SUFFIXES for p in paths):
        return (units or "mm"), UNITS["mm"] / UNITS[units or "mm"]
    return units, 1.0


def _read_msh(path: Path, comm: MPI.Comm) -> dolfinx.mesh.Mesh:
    import gmsh

    dim, space = 0, 0
    if comm.rank == 0:
        gmsh.initialize(interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        try:
            gmsh.merge(str(path))
            dim = gmsh.model.getDimension()
            if dim > 0 and not gmsh.model.getPhysicalGroups(dim):
                dim = -2  # cells without a physical group: dolfinx cannot take them
            if dim > 0:
                space = coordinate_dimension(gmsh.model.mesh.getNodes()[1].reshape(-1, 3))
        except Exception as err:  # gmsh raises plain Exceptions
            gmsh.finalize()
            dim = -1
            comm.bcast((dim, space), root=0)
            raise MeshError(f"cannot read mesh file {str(path)!r}: {err}") from err
    dim, space = comm.bcast((dim, space) if comm.rank == 0 else None, root=0)
    if dim == -2:
        if comm.rank == 0:
            gmsh.finalize()
        raise MeshError(
            f"mesh file {str(path)!r} has no physical group of its cells: add one in gmsh "
            "(Physical Surface/Volume) or write it with `fem-fhn mesh`"
        )
    if dim < 0:
        raise MeshError(f"cannot read mesh file {str(path)!r}")
    if dim == 0:
        if comm.rank == 0:
            gmsh.finalize()
        raise MeshError(f"mesh file {str(path)!r} holds no cells")
    try:
        data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=max(dim, space))
    finally:
        if comm.rank == 0:
            gmsh.finalize()
    return data.mesh


def _read_xdmf(path: Path, comm: MPI.Comm) -> dolfinx.mesh.Mesh:
    errors = []
    for name in ("mesh", "Grid"):
        try:
            with dolfinx.io.XDMFFile(comm, str(path), "r") as f:
                mesh = f.read_mesh(name=name)
        except RuntimeError as err:
            errors.append(str(err))
            continue
        return mesh
    raise MeshError(f"cannot read mesh file {str(path)!r}: {errors[-1]}")


def coordinate_dimension(x: np.ndarray) -> int:
    """How many coordinates the points x (n, 3) use: 1 + the last axis with a non-zero value."""
    largest = np.abs(x).max(axis=0, initial=0.0)
    used = np.flatnonzero(largest > 1e-12 * max(float(largest.max(initial=0.0)), 1e-300))
    return int(used.max()) + 1 if used.size else 1


def _generated(name: str, h: float, comm: MPI.Comm) -> dolfinx.mesh.Mesh:
    """A bundled domain meshed at size h on rank 0 (in a temporary file) and distributed."""
    import tempfile

    from fem_fhn import meshes

    with tempfile.TemporaryDirectory(prefix="fem_fhn_mesh_") as tmp:
        path = Path(tmp) / f"{name}.msh"
        error = None
        if comm.rank == 0:
            try:
                meshes.generate(name, h, path)
            except ValueError as err:
                error = str(err)
        error = comm.bcast(error, root=0)
        if error is not None:
            raise MeshError(f"mesh.h = {h!r}: {error}")
        return _read_msh(path, comm)


def _read_surface(paths, comm: MPI.Comm, scale: float) -> dolfinx.mesh.Mesh:
    """A checked surface file (or list of files, merged) as a gdim-3 mesh; rank 0 reads it."""
    from fem_fhn.surface import SurfaceError, check_surface, read_surface, surface_mesh

    surface, error = None, None
    if comm.rank == 0:
        try:
            surface = read_surface(list(paths) if isinstance(paths, tuple) else paths)
            check_surface(surface)
        except SurfaceError as err:
            error = str(err)
    error = comm.bcast(error, root=0)
    if error is not None:
        raise MeshError(error)
    if comm.rank == 0 and scale != 1.0:
        surface = type(surface)(surface.vertices * scale, surface.triangles)
    return surface_mesh(surface, comm)


def load_mesh(
    source: str | Path | tuple | list,
    comm: MPI.Comm | None = None,
    h: float | None = None,
    units: str = "",
) -> dolfinx.mesh.Mesh:
    """Read a mesh, distributed over `comm`.

    Sources: a `.msh` or `.xdmf` file, a bundled domain name (generated on the fly at mesh size
    `h` if given), a triangle surface file of `fem_fhn.surface` (GIfTI, FreeSurfer, TVB zip,
    meshio formats) or a list of them merged into one mesh (several connected components).

    A mesh is never flattened: its geometric dimension is the number of coordinates its nodes use
    (at least its topological dimension), so a surface in 3D keeps x, y, z and a curve in the plane
    keeps x, y (a manifold mesh: fields, masses and the Laplace–Beltrami operator live on it).
    `units` converts surface files (in mm) to another unit (see `mesh_units`).
    """
    from fem_fhn import meshes

    comm = MPI.COMM_WORLD if comm is None else comm
    path = resolve_mesh_source(source)
    _, scale = mesh_units(path, units)
    if h is not None:
        if str(source) not in meshes.names():
            raise MeshError(f"mesh.h = {h!r} applies to bundled domains only, not {str(source)!r}")
        mesh = _generated(str(source), h, comm)
    elif isinstance(path, tuple) or path.suffix not in MESH_SUFFIXES:
        mesh = _read_surface(path, comm, scale)
    elif path.suffix == ".msh":
        mesh = _read_msh(path, comm)
    else:
        mesh = _read_xdmf(path, comm)
    n_cells = comm.allreduce(mesh.topology.index_map(mesh.topology.dim).size_local)
    if n_cells == 0:
        raise MeshError(f"mesh file {str(path)!r} holds no cells")
    return mesh


@dataclass
class NodalMesh:
    """A mesh with its P1 space and the owned nodes' data.

    Attributes:
        mesh: the DOLFINx mesh.
        space: the P1 Lagrange space; node = degree of freedom of this space.
        coords: owned node coordinates, shape (n_owned, gdim): the input mesh's coordinates,
            identical on every partition (gdim 3 for a surface in space).
        masses: owned lumped masses m_j = ∫ φ_j dx (on a surface: areas, dx the area element).
        global_index: input node number of each owned node (independent of the partition).
    """

    mesh: dolfinx.mesh.Mesh
    space: fem.FunctionSpace
    coords: np.ndarray
    masses: np.ndarray
    global_index: np.ndarray

    @classmethod
    def from_mesh(cls, mesh: dolfinx.mesh.Mesh) -> NodalMesh:
        space = fem.functionspace(mesh, ("Lagrange", 1))
        index_map = space.dofmap.index_map
        n_owned = index_map.size_local
        dim = mesh.geometry.dim
        phi = ufl.TestFunction(space)
        mass = fem.assemble_vector(fem.form(phi * ufl.dx))
        mass.scatter_reverse(dolfinx.la.InsertMode.add)
        # P1 dofs and P1 geometry nodes share the cells' local vertex order.
        dof_to_node = np.empty(n_owned + index_map.num_ghosts, dtype=np.int64)
        dof_to_node[space.dofmap.list.ravel()] = mesh.geometry.dofmaps[0].ravel()
        global_index = np.asarray(mesh.geometry.input_global_indices)[dof_to_node[:n_owned]]
        # The geometry nodes are the input coordinates, copied bit for bit to every partition
        # (tabulated dof coordinates are pushed forward from the reference cell and differ
        # between partitions by round-off, which moves fields with a jump on a node).
        coords = mesh.geometry.x[dof_to_node[:n_owned], :dim].copy()
        return cls(mesh, space, coords, mass.array[:n_owned].copy(), global_index)

    @classmethod
    def load(
        cls,
        source: str | Path | tuple | list,
        comm: MPI.Comm | None = None,
        h: float | None = None,
        units: str = "",
    ) -> NodalMesh:
        return cls.from_mesh(load_mesh(source, comm, h, units))

    @property
    def comm(self) -> MPI.Comm:
        return self.mesh.comm

    @property
    def dim(self) -> int:
        """The geometric dimension: coordinates per node."""
        return self.mesh.geometry.dim

    @property
    def tdim(self) -> int:
        """The topological dimension: 2 for a surface (in the plane or in space), 1 for a curve."""
        return self.mesh.topology.dim

    @property
    def n_owned(self) -> int:
        return self.coords.shape[0]

    @property
    def n_global(self) -> int:
        return self.space.dofmap.index_map.size_global

    def integrate(self, values: np.ndarray) -> float:
        """Σ_j m_j u_j over all ranks: the lumped quadrature of ∫ u dx."""
        return float(self.comm.allreduce(float(self.masses @ values), op=MPI.SUM))

    def function(self, values: np.ndarray | None = None, name: str = "u") -> fem.Function:
        """A P1 function with the given owned values (ghosts updated)."""
        u = fem.Function(self.space, name=name)
        if values is not None:
            self.assign(u, values)
        return u

    def assign(self, u: fem.Function, values: np.ndarray) -> None:
        u.x.array[: self.n_owned] = values
        u.x.scatter_forward()

    def coordinate_arrays(self) -> dict[str, np.ndarray]:
        """{"x": ..., "y": ..., "z": ...} of the owned nodes (missing axes are zeros)."""
        names = ("x", "y", "z")
        zeros = np.zeros(self.n_owned)
        return {n: self.coords[:, i] if i < self.dim else zeros for i, n in enumerate(names)}

    def field(self, source, key: str = "field", t: float | None = None) -> np.ndarray:
        """Owned nodal values from a number, an `Expression`, a callable or a file.

        Args:
            source: a number; an `Expression` of x, y, z (and t if `t` is given); a callable
                f(x) taking coordinates of shape (n, dim); or a path to a `.npy`/`.txt`/`.csv`
                file holding one value per node in the input mesh's node order.
            key: name used in error messages.
            t: time, for expressions that use t.
        """
        if isinstance(source, int | float) and not isinstance(source, bool):
            return np.full(self.n_owned, float(source))
        if isinstance(source, str):
            source = Expression(source, ("x", "y", "z", "t"), key)
        if isinstance(source, Expression):
            values = source(**self.coordinate_arrays(), **({} if t is None else {"t": t}))
        elif isinstance(source, Path):
            values = self._field_from_file(source, key)
        elif callable(source):
            values = source(self.coords)
        else:
            raise ParameterError(f"{key} = {source!r} is not allowed: a number, expression or file")
        values = np.broadcast_to(np.asarray(values, dtype=float), (self.n_owned,)).copy()
        if not np.all(np.isfinite(values)):
            raise ParameterError(f"{key} has non-finite values on the mesh")
        return values

    def _field_from_file(self, path: Path, key: str) -> np.ndarray:
        data = load_numbers(path, key)
        if data.size != self.n_global:
            raise ParameterError(
                f"{key} = {str(path)!r} is not allowed: the file has {data.size} values, the "
                f"mesh has {self.n_global} nodes; allowed: one value per node, in input node order"
            )
        return data[self.global_index]

    def density(self, source, key: str = "rho0") -> np.ndarray:
        """Owned nodal values of a density ρ0 ≥ 0 (zero regions allowed, not all zero)."""
        rho = self.field(source, key)
        bad = self.comm.allreduce(float(rho.min(initial=np.inf)), op=MPI.MIN)
        if bad < 0:
            raise ParameterError(f"{key} must be >= 0 on the mesh, found the value {bad:g}")
        if self.integrate(rho) <= 0:
            raise ParameterError(f"{key} has zero integral on the mesh: nothing to simulate")
        return rho
