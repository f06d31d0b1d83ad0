"""Neuron positions sampled from ρ0 on a mesh, their MPI distribution and initial states.

**Positions.** With ρ0 a P1 function (nodal values ρ_k at the vertices), the normalised density
ρ0/∫ρ0 is sampled exactly, in two steps per particle:

1. a cell T with probability ∫_T ρ0 / ∫ρ0, where ∫_T ρ0 = |T| · mean_k ρ_k (exact for P1);
2. a point of T with density ∝ ρ0|_T = Σ_k ρ_k λ_k (λ the barycentric coordinates). This is the
   mixture over vertices k, with weights ρ_k / Σ_j ρ_j, of the densities ∝ λ_k, and λ ∝ λ_k is
   the Dirichlet(1, …, 2, …, 1) law (2 in place k): λ_j = G_j / Σ G with G_j ~ Exp(1) and
   G_k ~ Gamma(2) = Exp(1) + Exp(1). No rejection: every particle uses the same d + 5 uniforms.

**Rank independence.** All random numbers are counter-based functions of (seed, particle id)
(`fem_fhn.network.rng`). The cells are ordered by their input index
(`topology.original_cell_index`) and each cell's vertices by their input node index, so the
cumulative cell masses, the chosen cell and the point in it are bitwise the same on any number of
ranks. Only one number per cell (its mass) and its input index are gathered to every rank
(16 bytes per cell); the cell geometry stays local. Every rank draws the cell choice of all n
particles (one uniform each, ~10 ms per 10⁶) and keeps the particles that fall in the cells it
owns; the particle then lives on the rank that owns its cell (DOLFINx cell ownership), so
depositing moments on the mesh needs no communication beyond the usual ghost accumulation.
Particles are stored in increasing global id on each rank.

**User positions** (`place_particles`) are given as the same global array on every rank (row =
global id). Each rank finds the points inside its owned cells (DOLFINx bounding-box tree and
collision test); a point on a shared face goes to the colliding cell of smallest input index.

**Weights.** Every particle carries the weight ω = (∫ρ0)/n, so that Σ_p ω g(x_p) → ∫ g ρ0 dx
(docs/discretisation.md).

**Curves and surfaces in space.** On a mesh of d-dimensional cells in ℝ^D (triangles of a
surface in 3D, d = 2 < D = 3) the same two steps sample ρ0 on the manifold: |T| is the cell's
d-dimensional measure √det(G)/d! (G = E Eᵀ the Gram matrix of the edge vectors E, rows X_k − X_0),
the barycentric coordinates are those of the cell's own plane (λ_0 = 1 − Σ t_k with
G t = E (x − X_0): the orthogonal projection onto that plane), and positions have D coordinates.

The mesh geometry must be affine (P1 coordinate element), with simplex cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from fem_fhn._fenics import dolfinx
from fem_fhn.expressions import Expression
from fem_fhn.mesh import NodalMesh
from fem_fhn.network.rng import STREAMS, exponentials, normals, uniforms
from fem_fhn.parallel import gather_rows
from fem_fhn.params import ParameterError, require

#: how far a given position may lie from a curve or surface in space (DOLFINx's collision test)
SURFACE_TOLERANCE = 1e-6

__all__ = [
    "Particles",
    "default_radius",
    "evaluate_at",
    "initial_state",
    "place_particles",
    "radius_for",
    "sample_kinetic_state",
    "sample_particles",
]


@dataclass
class Particles:
    """The particles (neurons) a rank owns, on the rank that owns their cell.

    Attributes:
        nodes: the nodal mesh.
        positions: owned positions x_p, shape (n_owned, D) (D the geometric dimension: 3 for a
            surface in space).
        global_id: rank-independent ids in [0, n_global), increasing.
        cells: local index of each particle's (owned) cell.
        bary: barycentric coordinates of x_p in its cell, in the cell's local dof order, shape
            (n_owned, d + 1), d the cells' (topological) dimension: the P1 hat functions' values
            φ_k(x_p).
        weight: ω = (∫ρ0)/n, the same for every particle.
        n_global: total number of particles.
    """

    nodes: NodalMesh
    positions: np.ndarray
    global_id: np.ndarray
    cells: np.ndarray
    bary: np.ndarray
    weight: float
    n_global: int

    @property
    def comm(self) -> MPI.Comm:
        return self.nodes.comm

    @property
    def n_owned(self) -> int:
        return self.positions.shape[0]

    @property
    def dim(self) -> int:
        """D, the number of coordinates of a position."""
        return self.positions.shape[1]

    @property
    def tdim(self) -> int:
        """d, the dimension of the cells (2 on a surface in space)."""
        return self.nodes.tdim

    @property
    def weights(self) -> np.ndarray:
        """ω for each owned particle (the operators take weight arrays)."""
        return np.full(self.n_owned, self.weight)

    @property
    def total_mass(self) -> float:
        """n ω = ∫ρ0."""
        return self.n_global * self.weight


# --------------------------------------------------------------------------- mesh cells


@dataclass
class _Cells:
    """Owned cells: vertices in input-node order, and the permutation back to dof order."""

    vertices: np.ndarray  # (n_cells, d + 1, D), sorted by input node index
    to_dof_order: np.ndarray  # (n_cells, d + 1): sorted position of each local vertex
    original: np.ndarray  # input cell index, (n_cells,)
    sorted_dofs: np.ndarray  # P1 dofs in sorted vertex order, (n_cells, d + 1)


def _owned_cells(nodes: NodalMesh) -> _Cells:
    mesh = nodes.mesh
    tdim, gdim = mesh.topology.dim, mesh.geometry.dim
    require(
        mesh.geometry.cmaps[0].degree == 1,
        "mesh",
        f"geometry degree {mesh.geometry.cmaps[0].degree}",
        "an affine (P1) geometry",
    )
    n_cells = mesh.topology.index_map(tdim).size_local
    geom = mesh.geometry.dofmaps[0][:n_cells]
    require(geom.shape[1] == tdim + 1, "mesh", "non-simplex cells", "simplices")
    input_ids = np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)[geom]
    order = np.argsort(input_ids, axis=1, kind="stable")
    vertices = mesh.geometry.x[np.take_along_axis(geom, order, axis=1), :gdim]
    dofs = np.asarray(nodes.space.dofmap.list[:n_cells])
    original = np.asarray(mesh.topology.original_cell_index[:n_cells], dtype=np.int64)
    return _Cells(
        vertices=vertices,
        to_dof_order=np.argsort(order, axis=1),
        original=original,
        sorted_dofs=np.take_along_axis(dofs, order, axis=1),
    )


def _row_sum(a: np.ndarray) -> np.ndarray:
    """Σ_k a[:, k] added left to right (a fixed order, independent of the array's size)."""
    out = a[:, 0].copy()
    for k in range(1, a.shape[1]):
        out += a[:, k]
    return out


def _gram(edges: np.ndarray) -> np.ndarray:
    """G_ij = Σ_a E_ia E_ja for edge vectors E (m, d, D), summed in a fixed order."""
    d = edges.shape[1]
    gram = np.empty((edges.shape[0], d, d))
    for i in range(d):
        for j in range(i, d):
            gram[:, i, j] = gram[:, j, i] = _row_sum(edges[:, i, :] * edges[:, j, :])
    return gram


def _volumes(vertices: np.ndarray) -> np.ndarray:
    """|T| = |det(X_1 − X_0, …, X_d − X_0)| / d!, or √det(G) / d! for d-cells in a larger space
    (G the Gram matrix of the edges: the length of a segment, the area of a triangle in 3D);
    vertices in input-node order, shape (m, d + 1, D)."""
    d = vertices.shape[1] - 1
    edges = vertices[:, 1:, :] - vertices[:, :1, :]
    if vertices.shape[2] == d:
        return np.abs(np.linalg.det(edges)) / math.factorial(d)
    gram = _gram(edges)
    det = gram[:, 0, 0] if d == 1 else gram[:, 0, 0] * gram[:, 1, 1] - gram[:, 0, 1] ** 2
    return np.sqrt(det) / math.factorial(d)


# --------------------------------------------------------------------------- sampling


def sample_particles(
    nodes: NodalMesh, rho0: np.ndarray, n: int, seed: int = 0, chunk: int = 1 << 18
) -> Particles:
    """Sample n positions from ρ0/∫ρ0 (P1) exactly; rank-independent for a fixed seed.

    Args:
        nodes: the nodal mesh.
        rho0: owned nodal values of ρ0 ≥ 0 (e.g. `nodes.density(...)`).
        n: number of particles (up to ~10⁶ and beyond: memory per rank is O(n/ranks + cells)).
        seed: random seed.
        chunk: ids processed at once while choosing cells (bounds temporary memory only).

    Returns:
        The particles owned by this rank (the owner of their cell), weight ω = ∫ρ0/n.
    """
    require(isinstance(n, int | np.integer) and n > 0, "n", n, "a positive integer")
    comm = nodes.comm
    cells = _owned_cells(nodes)
    rho_f = nodes.function(np.asarray(rho0, dtype=float))
    rho_v = rho_f.x.array[cells.sorted_dofs]  # (n_cells, d + 1), input-node order
    require(bool(np.all(rho_v >= 0)), "rho0", "negative values", "rho0 >= 0")
    d = nodes.tdim
    mass = _volumes(cells.vertices) * _row_sum(rho_v) / (d + 1)

    # global cell table in input-cell order: mass, owner rank, local index
    counts = np.asarray(comm.allgather(len(mass)), dtype=np.int64)
    all_original = gather_rows(comm, cells.original, counts)
    all_mass = gather_rows(comm, mass, counts)
    owner = np.repeat(np.arange(comm.size), counts)
    local_index = np.concatenate([np.arange(c) for c in counts])
    order = np.argsort(all_original, kind="stable")
    cdf = np.cumsum(all_mass[order])
    total = float(cdf[-1])
    require(total > 0, "rho0", "zero integral", "a density with positive integral")
    mine_sorted = owner[order] == comm.rank
    local_sorted = local_index[order]

    # step 1: the cell of every particle (every rank draws all ids, keeps its own)
    ids_parts, cell_parts = [], []
    for start in range(0, n, chunk):
        ids = np.arange(start, min(start + chunk, n), dtype=np.int64)
        u = uniforms(seed, STREAMS["cell"], 0, ids) * total
        k = np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)
        keep = mine_sorted[k]
        ids_parts.append(ids[keep])
        cell_parts.append(local_sorted[k[keep]])
    gid = np.concatenate(ids_parts)
    cell = np.concatenate(cell_parts).astype(np.int32)

    # step 2: the point in the cell, density ∝ Σ_k ρ_k λ_k (mixture of Dirichlet laws)
    rho_c = rho_v[cell]
    pick = uniforms(seed, STREAMS["in_cell"], 0, gid) * _row_sum(rho_c)
    vertex = np.minimum((np.cumsum(rho_c, axis=1) <= pick[:, None]).sum(axis=1), d)
    gam = np.stack(
        [exponentials(seed, STREAMS["in_cell"], 1 + j, gid) for j in range(d + 1)], axis=1
    )
    gam[np.arange(len(gid)), vertex] += exponentials(seed, STREAMS["in_cell"], d + 2, gid)
    lam = gam / _row_sum(gam)[:, None]
    vertices = cells.vertices[cell]
    positions = lam[:, :1] * vertices[:, 0, :]
    for k in range(1, d + 1):  # fixed summation order: bitwise the same on any rank
        positions += lam[:, k : k + 1] * vertices[:, k, :]
    bary = np.take_along_axis(lam, cells.to_dof_order[cell], axis=1)
    return Particles(nodes, positions, gid, cell, bary, total / n, int(n))


def place_particles(nodes: NodalMesh, positions: np.ndarray, mass: float = 1.0) -> Particles:
    """Particles at given positions, distributed by the owner of their cell.

    Args:
        nodes: the nodal mesh.
        positions: all positions, shape (n, D), the same array on every rank (row = global id);
            on a curve or surface in space they must lie on its cells (within
            SURFACE_TOLERANCE; the barycentric coordinates are those of the projection).
        mass: total mass n ω the particles represent (∫ρ0 for a sample of ρ0).

    Raises:
        ParameterError: if some positions lie outside the mesh.
    """
    comm = nodes.comm
    positions = np.asarray(positions, dtype=float)
    if positions.ndim == 1:
        positions = positions[:, None]
    d = nodes.dim
    require(positions.shape[1] == d, "positions", positions.shape, f"an array of shape (n, {d})")
    n = positions.shape[0]
    require(n > 0, "positions", positions.shape, "at least one position")
    mesh = nodes.mesh
    cells = _owned_cells(nodes)
    n_cells = len(cells.original)
    tdim = mesh.topology.dim
    tree = dolfinx.geometry.bb_tree(mesh, tdim, entities=np.arange(n_cells, dtype=np.int32))
    points = np.zeros((n, 3))
    points[:, :d] = positions
    hits = dolfinx.geometry.compute_colliding_cells(
        mesh, dolfinx.geometry.compute_collisions_points(tree, points), points
    )
    offsets, links = np.asarray(hits.offsets), np.asarray(hits.array)
    big = np.iinfo(np.int64).max
    best = np.full(n, big, dtype=np.int64)
    best_cell = np.full(n, -1, dtype=np.int64)
    if links.size:
        point_of = np.repeat(np.arange(n), np.diff(offsets))
        orig = cells.original[links]
        ordering = np.lexsort((orig, point_of))  # per point, smallest input index first
        first = np.unique(point_of[ordering], return_index=True)
        pts = first[0]
        best[pts] = orig[ordering][first[1]]
        best_cell[pts] = links[ordering][first[1]]
    winner = np.empty_like(best)
    comm.Allreduce(best, winner, op=MPI.MIN)
    outside = int(np.count_nonzero(winner == big))
    if outside:
        where = f" (farther than {SURFACE_TOLERANCE:g} from its cells)" if tdim < d else ""
        raise ParameterError(f"positions: {outside} of {n} points lie outside the mesh{where}")
    gid = np.nonzero((best == winner) & (best_cell >= 0))[0].astype(np.int64)
    cell = best_cell[gid].astype(np.int32)
    bary = _barycentric(cells.vertices[cell], positions[gid])
    bary = np.take_along_axis(bary, cells.to_dof_order[cell], axis=1)
    return Particles(nodes, positions[gid].copy(), gid, cell, bary, float(mass) / n, n)


def _barycentric(vertices: np.ndarray, x: np.ndarray) -> np.ndarray:
    """λ with x = Σ λ_k X_k, Σ λ_k = 1, for simplices `vertices` (m, d + 1, D).

    For d < D (a triangle in 3D) x is first projected onto the cell's plane: the tail
    t = (λ_1, …, λ_d) solves the normal equations G t = E (x − X_0), G = E Eᵀ.
    """
    if len(x) == 0:
        return np.zeros((0, vertices.shape[1]))
    edges = vertices[:, 1:, :] - vertices[:, :1, :]  # E, (m, d, D)
    offset = x - vertices[:, 0, :]
    if edges.shape[1] == edges.shape[2]:
        tail = np.linalg.solve(np.transpose(edges, (0, 2, 1)), offset[:, :, None])[:, :, 0]
    else:
        rhs = np.stack([_row_sum(edges[:, k, :] * offset) for k in range(edges.shape[1])], 1)
        tail = np.linalg.solve(_gram(edges), rhs[:, :, None])[:, :, 0]
    return np.column_stack([1.0 - tail.sum(axis=1), tail])


# --------------------------------------------------------------------------- initial states


def evaluate_at(source, positions: np.ndarray, key: str = "field") -> np.ndarray:
    """Values of a number, an expression of x, y, z (str or `Expression`) or f(positions)."""
    n, d = positions.shape
    if isinstance(source, int | float) and not isinstance(source, bool):
        return np.full(n, float(source))
    if isinstance(source, str):
        source = Expression(source, ("x", "y", "z"), key)
    if isinstance(source, Expression):
        xyz = {name: positions[:, i] if i < d else np.zeros(n) for i, name in enumerate("xyz")}
        values = source(**xyz)
    elif callable(source):
        values = source(positions)
    else:
        raise ParameterError(f"{key} = {source!r} is not allowed: a number, expression or callable")
    values = np.broadcast_to(np.asarray(values, dtype=float), (n,)).copy()
    if not np.all(np.isfinite(values)):
        raise ParameterError(f"{key} has non-finite values at the particles")
    return values


def initial_state(
    particles: Particles,
    V0=0.0,
    W0=0.0,
    spread: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> np.ndarray:
    """(v_p, w_p) = (V0(x_p) + s_v ξ_p, W0(x_p) + s_w η_p), ξ, η standard normals by global id.

    Args:
        particles: the particles.
        V0, W0: initial moments: numbers, expressions of x, y, z, or callables f(positions).
        spread: standard deviations (s_v, s_w) of the Gaussian spread around the moments.
        seed: random seed of the spread.

    Returns:
        State of shape (2, n_owned).
    """
    s_v, s_w = spread
    require(s_v >= 0 and s_w >= 0, "spread", spread, "standard deviations >= 0")
    v = evaluate_at(V0, particles.positions, "initial.V")
    w = evaluate_at(W0, particles.positions, "initial.W")
    if s_v:
        v += s_v * normals(seed, STREAMS["spread"], 0, particles.global_id)
    if s_w:
        w += s_w * normals(seed, STREAMS["spread"], 1, particles.global_id)
    return np.stack([v, w])


def sample_kinetic_state(
    particles: Particles,
    f0: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    v_range: tuple[float, float],
    w_range: tuple[float, float],
    f_max: float,
    seed: int = 0,
    max_rounds: int = 10_000,
) -> np.ndarray:
    """(v_p, w_p) drawn from the conditional law f0(x_p, ·, ·) by rejection, by global id.

    In round k each particle not yet accepted proposes (v, w) uniform in the box and accepts it
    if u · f_max ≤ f0(x_p, v, w); round k uses the counters 3k, 3k + 1, 3k + 2 of the
    "kinetic" stream, so the result does not depend on the ranks.

    Args:
        particles: the particles.
        f0: vectorised f0(x (m, d), v (m,), w (m,)) ≥ 0 (need not be normalised in (v, w)).
        v_range, w_range: box containing the support of f0 in (v, w).
        f_max: an upper bound of f0 on the box.
        seed: random seed.
        max_rounds: give up after this many rounds.

    Raises:
        ParameterError: if f0 exceeds f_max, or some particle found no sample.
    """
    n = particles.n_owned
    state = np.zeros((2, n))
    todo = np.arange(n)
    (v_lo, v_hi), (w_lo, w_hi) = v_range, w_range
    for k in range(max_rounds):
        if particles.comm.allreduce(len(todo), op=MPI.MAX) == 0:
            return state
        if len(todo) == 0:
            continue
        ids = particles.global_id[todo]
        v = v_lo + (v_hi - v_lo) * uniforms(seed, STREAMS["kinetic"], 3 * k, ids)
        w = w_lo + (w_hi - w_lo) * uniforms(seed, STREAMS["kinetic"], 3 * k + 1, ids)
        u = uniforms(seed, STREAMS["kinetic"], 3 * k + 2, ids)
        f = np.asarray(f0(particles.positions[todo], v, w), dtype=float)
        require(bool(np.all(f <= f_max)), "f_max", f_max, f"an upper bound of f0 (found {f.max()})")
        accept = u * f_max <= f
        state[0, todo[accept]] = v[accept]
        state[1, todo[accept]] = w[accept]
        todo = todo[~accept]
    raise ParameterError(f"f0: no sample accepted in {max_rounds} rounds for some particles")


# --------------------------------------------------------------------------- radius rule


def default_radius(
    n: int, d: int, rho_mean: float, total_mass: float = 1.0, neighbours: float = 30.0
) -> float:
    """Short-range radius r with about `neighbours` expected particles within distance r.

    A particle at x sees on average n |B_r| ρ0(x)/∫ρ0 others within r, so

        r = (k · ∫ρ0 / (n · ρ̄ · |B_1|))^{1/d} ∝ n^{−1/d},

    with ρ̄ the typical (mean) value of ρ0 where it is positive and |B_1| = 2, π, 4π/3.
    Then n r^d = k ∫ρ0/(ρ̄|B_1|) stays fixed and r → 0 as n → ∞. The mean-field (kinetic)
    comparison also needs r² ≪ ε: at fixed r, (1/ε)χ_r acts like a diffusion of strength
    ≈ σ_χ r²/ε (σ_χ the bump's second moment per r²) that synchronises whole clusters as ε → 0
    (docs/discretisation.md). Choose n large enough that r² ≪ ε for the smallest ε of a study.

    Args:
        n: number of particles.
        d: space dimension.
        rho_mean: mean of ρ0 over its support.
        total_mass: ∫ρ0.
        neighbours: expected number k of neighbours.
    """
    require(n > 0, "n", n, "n > 0")
    require(d in (1, 2, 3), "d", d, "1, 2 or 3")
    require(rho_mean > 0, "rho_mean", rho_mean, "rho_mean > 0")
    require(neighbours > 0, "neighbours", neighbours, "neighbours > 0")
    unit_ball = {1: 2.0, 2: math.pi, 3: 4.0 * math.pi / 3.0}[d]
    return float((neighbours * total_mass / (n * rho_mean * unit_ball)) ** (1.0 / d))


def radius_for(nodes: NodalMesh, rho0: np.ndarray, n: int, neighbours: float = 30.0) -> float:
    """`default_radius` with ∫ρ0 and the mean of ρ0 over {ρ0 > 0} taken from the mesh, in the
    mesh's own dimension (d = 2 and surface areas on a surface in space)."""
    total = nodes.integrate(rho0)
    support = nodes.integrate((np.asarray(rho0) > 0).astype(float))
    return default_radius(n, nodes.tdim, total / support, total, neighbours)
