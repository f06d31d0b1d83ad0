"""Triangle surfaces in 3D: reading neuroimaging formats, checking them, and meshing them.

A cortical surface is a folded 2D sheet in 3D: its fields live on a mesh of triangles with three
coordinates per vertex (topological dimension 2, geometric dimension 3), and must never be
flattened. `read_surface` reads

- GIfTI (`.gii`, `.gii.gz`: the POINTSET and TRIANGLE data arrays) and FreeSurfer surfaces
  (`lh.pial`, `rh.white`, … — any file nibabel's FreeSurfer reader takes) through nibabel;
- the zip files of The Virtual Brain (`vertices.txt`, `triangles.txt`);
- OBJ, PLY, STL, OFF, VTU and VTK through meshio;

and a list of files as one surface (e.g. both hemispheres: several connected components are
allowed). Coordinates keep the file's units (millimetres in these formats). `check_surface`
refuses, naming what is wrong and where, non-finite coordinates, vertex indices out of range,
duplicate vertices, degenerate or zero-area triangles, edges shared by more than two triangles
(non-manifold) and neighbouring triangles of opposite orientation. `surface_mesh` makes the
DOLFINx mesh (gdim 3) whose input node order is the file's vertex order.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mpi4py import MPI

from fem_fhn.params import ParameterError

SURFACE_SUFFIXES = (".gii", ".obj", ".ply", ".stl", ".off", ".vtu", ".vtk", ".zip")
FREESURFER_NAMES = ("pial", "white", "inflated", "sphere", "smoothwm", "orig", "midthickness")
#: length units a mesh may state, in metres (neuroimaging surfaces are in millimetres)
UNITS = {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6}
#: per-vertex data: FreeSurfer morphometry (lh.curv, lh.thickness, …) and GIfTI data arrays
FREESURFER_DATA = (".curv", ".thickness", ".sulc", ".area", ".volume", ".jacobian_white")
VERTEX_DATA_SUFFIXES = (".gii", ".gii.gz", *FREESURFER_DATA)


class SurfaceError(ParameterError):
    """A surface that cannot be used as it is; the message says what is wrong and where."""


@dataclass(frozen=True)
class Surface:
    """Vertices (n, 3) and triangles (m, 3) of a triangle surface in 3D."""

    vertices: np.ndarray
    triangles: np.ndarray

    @property
    def areas(self) -> np.ndarray:
        """Triangle areas |(B − A) × (C − A)| / 2."""
        a, b, c = (self.vertices[self.triangles[:, i]] for i in range(3))
        return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def is_surface_file(path: str | Path) -> bool:
    """Whether `path` names a surface format of this module (by suffix or FreeSurfer name)."""
    path = Path(path)
    suffixes = "".join(path.suffixes[-2:])
    if path.suffix in SURFACE_SUFFIXES or suffixes == ".gii.gz":
        return True
    return path.name.split(".")[-1] in FREESURFER_NAMES


def _read_gifti(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel

    image = nibabel.load(str(path))
    points = image.get_arrays_from_intent("NIFTI_INTENT_POINTSET")
    triangles = image.get_arrays_from_intent("NIFTI_INTENT_TRIANGLE")
    if not points or not triangles:
        raise SurfaceError(
            f"mesh.source = {str(path)!r} is not allowed: a GIfTI surface needs a POINTSET and a "
            "TRIANGLE data array (this file holds per-vertex data only)"
        )
    return points[0].data, triangles[0].data


def read_vertex_data(path: Path) -> np.ndarray:
    """One value per vertex from a GIfTI file (its first data array that is neither a POINTSET
    nor a TRIANGLE array) or a FreeSurfer morphometry file (lh.curv, lh.thickness, ...).

    Raises:
        ValueError: the file holds no per-vertex data array.
    """
    import nibabel

    name = str(path)
    if name.endswith((".gii", ".gii.gz")):
        skip = {"NIFTI_INTENT_POINTSET", "NIFTI_INTENT_TRIANGLE"}
        image = nibabel.load(name)
        arrays = [
            a.data for a in image.darrays if nibabel.nifti1.intent_codes.label[a.intent] not in skip
        ]
        if not arrays:
            raise ValueError("the GIfTI file holds no per-vertex data array")
        return np.asarray(arrays[0])
    return np.asarray(nibabel.freesurfer.read_morph_data(name))


def _read_freesurfer(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import nibabel.freesurfer

    vertices, triangles = nibabel.freesurfer.read_geometry(str(path))
    return vertices, triangles


def _read_tvb_zip(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        names = {Path(n).name: n for n in archive.namelist()}
        missing = [n for n in ("vertices.txt", "triangles.txt") if n not in names]
        if missing:
            raise SurfaceError(
                f"mesh.source = {str(path)!r} is not allowed: a surface zip holds vertices.txt "
                f"and triangles.txt (missing: {', '.join(missing)})"
            )
        vertices = np.loadtxt(archive.open(names["vertices.txt"]), ndmin=2)
        triangles = np.loadtxt(archive.open(names["triangles.txt"]), dtype=np.int64, ndmin=2)
    return vertices, triangles


def _read_meshio(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import meshio

    data = meshio.read(str(path))
    blocks = [c.data for c in data.cells if c.type == "triangle"]
    if not blocks:
        kinds = sorted({c.type for c in data.cells})
        raise SurfaceError(
            f"mesh.source = {str(path)!r} is not allowed: it holds no triangles (cells: "
            f"{', '.join(kinds) or 'none'}); a surface is a triangle mesh"
        )
    return data.points, np.concatenate(blocks)


def _read_one(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise SurfaceError(f"mesh.source = {str(path)!r} is not allowed: the file does not exist")
    suffixes = "".join(path.suffixes[-2:])
    try:
        if path.suffix == ".gii" or suffixes == ".gii.gz":
            vertices, triangles = _read_gifti(path)
        elif path.suffix == ".zip":
            vertices, triangles = _read_tvb_zip(path)
        elif path.suffix in SURFACE_SUFFIXES:
            vertices, triangles = _read_meshio(path)
        else:
            vertices, triangles = _read_freesurfer(path)
    except SurfaceError:
        raise
    except Exception as err:  # readers raise many kinds of errors for a damaged file
        raise SurfaceError(
            f"mesh.source = {str(path)!r} is not allowed: cannot read it as a surface ({err})"
        ) from None
    vertices = np.asarray(vertices, dtype=np.float64)
    triangles = np.asarray(triangles)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise SurfaceError(
            f"mesh.source = {str(path)!r} is not allowed: vertices of shape {vertices.shape}, "
            "expected (n, 3)"
        )
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise SurfaceError(
            f"mesh.source = {str(path)!r} is not allowed: triangles of shape {triangles.shape}, "
            "expected (m, 3)"
        )
    return vertices, triangles.astype(np.int64)


def read_surface(source: str | Path | list) -> Surface:
    """Read one surface file, or several merged into one surface (vertex numbers in list order).

    Raises:
        SurfaceError: the file is missing, unreadable, or holds no triangle surface.
    """
    paths = [Path(p) for p in source] if isinstance(source, list | tuple) else [Path(source)]
    if not paths:
        raise SurfaceError("mesh.source = [] is not allowed: one surface file or a list of them")
    vertices, triangles, offset = [], [], 0
    for path in paths:
        v, t = _read_one(path)
        vertices.append(v)
        triangles.append(t + offset)
        offset += len(v)
    return Surface(np.concatenate(vertices), np.concatenate(triangles))


def _edges(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges (a → b) of every triangle, in triangle order, and the triangle of each."""
    directed = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    owner = np.tile(np.arange(len(triangles)), 3)
    return directed, owner


def check_surface(surface: Surface, name: str = "mesh.source") -> None:
    """Refuse a surface that is not a clean triangle surface, naming the first problem found.

    Raises:
        SurfaceError: see the module docstring for what is checked.
    """
    v, t = surface.vertices, surface.triangles
    n = len(v)

    def bad(what: str) -> SurfaceError:
        return SurfaceError(f"{name} is not allowed: {what}")

    if n == 0 or len(t) == 0:
        raise bad(f"the surface is empty ({n} vertices, {len(t)} triangles)")
    finite = np.isfinite(v).all(axis=1)
    if not finite.all():
        raise bad(f"vertex {int(np.argmin(finite))} has a non-finite coordinate")
    out = (t < 0) | (t >= n)
    if out.any():
        i = int(np.argmax(out.any(axis=1)))
        raise bad(f"triangle {i} refers to vertex {t[i].tolist()} outside 0..{n - 1}")
    scale = float(np.ptp(v, axis=0).max()) or 1.0
    rounded = np.round(v / (scale * 1e-12)).astype(np.int64)
    _, first, counts = np.unique(rounded, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = rounded[first[np.argmax(counts > 1)]]
        same = np.flatnonzero((rounded == dup).all(axis=1))
        raise bad(f"vertices {same[:2].tolist()} are duplicates (same coordinates {v[same[0]]})")
    repeated = (t[:, 0] == t[:, 1]) | (t[:, 1] == t[:, 2]) | (t[:, 2] == t[:, 0])
    areas = surface.areas
    degenerate = repeated | (areas <= 1e-12 * scale**2)
    if degenerate.any():
        i = int(np.argmax(degenerate))
        raise bad(f"triangle {i} (vertices {t[i].tolist()}) is degenerate: zero area")
    directed, owner = _edges(t)
    undirected = np.sort(directed, axis=1)
    keys, inverse, counts = np.unique(undirected, axis=0, return_inverse=True, return_counts=True)
    if (counts > 2).any():
        edge = keys[np.argmax(counts > 2)]
        tris = np.unique(owner[(undirected == edge).all(axis=1)])
        raise bad(
            f"edge {edge.tolist()} is shared by {len(tris)} triangles {tris[:4].tolist()} "
            "(non-manifold)"
        )
    forward = directed[:, 0] < directed[:, 1]
    shared = counts[inverse] == 2
    votes = np.zeros(len(keys), dtype=np.int64)
    np.add.at(votes, inverse[shared], np.where(forward[shared], 1, -1))
    flipped = (counts == 2) & (votes != 0)
    if flipped.any():
        edge = keys[np.argmax(flipped)]
        tris = np.unique(owner[(undirected == edge).all(axis=1)])
        raise bad(
            f"triangles {tris.tolist()} around edge {edge.tolist()} have opposite orientations "
            "(reorient the surface so that neighbouring triangles agree)"
        )


def icosphere(level: int, radius: float = 1.0) -> Surface:
    """The icosahedron's triangles split `level` times, vertices projected on the sphere.

    10·4^level + 2 vertices, consistently oriented (outward normals); edge length ≈ 1.1 R / 2^level.
    """
    t = (1.0 + 5.0**0.5) / 2.0
    v = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
         [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=float,
    )  # fmt: skip
    f = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]],
        dtype=np.int64,
    )  # fmt: skip
    v /= np.linalg.norm(v, axis=1)[:, None]
    for _ in range(level):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        middle = v[unique].mean(axis=1)
        middle /= np.linalg.norm(middle, axis=1)[:, None]
        ab, bc, ca = inverse.reshape(3, -1) + len(v)
        a, b, c = f.T
        v = np.vstack([v, middle])
        f = np.vstack([np.c_[a, ab, ca], np.c_[b, bc, ab], np.c_[c, ca, bc], np.c_[ab, bc, ca]])
    return Surface(radius * v, f)


def surface_mesh(surface: Surface, comm: MPI.Comm | None = None):
    """The DOLFINx mesh of a checked surface: triangles in 3D (gdim 3), distributed over `comm`.

    Rank 0 passes the whole surface and DOLFINx partitions it; the input node numbers
    (`mesh.geometry.input_global_indices`) are the surface's vertex numbers.
    """
    import basix.ufl

    from fem_fhn._fenics import dolfinx

    comm = MPI.COMM_WORLD if comm is None else comm
    element = basix.ufl.element("Lagrange", "triangle", 1, shape=(3,))
    if comm.rank == 0:
        cells, x = surface.triangles.astype(np.int64), surface.vertices
    else:
        cells, x = np.empty((0, 3), dtype=np.int64), np.empty((0, 3))
    return dolfinx.mesh.create_mesh(comm, cells, element, x)
