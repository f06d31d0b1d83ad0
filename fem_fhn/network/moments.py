"""Particle → mesh: empirical moments ρ, V, W as P1 fields, distances, and a particle writer.

**Deposit** (the L² projection with lumped mass of the empirical measure μ_n = Σ_p ω δ_{x_p}):
testing ρ_h = Σ_k ρ_k φ_k against φ_k with the lumped mass m_k = ∫φ_k gives

    ρ_k = Σ_p ω φ_k(x_p) / m_k,
    V_k = Σ_p ω v_p φ_k(x_p) / Σ_p ω φ_k(x_p),        W_k likewise,

with V_k = W_k = 0 at nodes no particle reaches (ρ_k = 0); `mark_empty` turns those into NaN
for output (files, pictures and diagnostics then leave them out). φ_k(x_p) are the barycentric
coordinates of x_p in its cell. Since Σ_k φ_k = 1, Σ_k m_k ρ_k = n ω = ∫ρ0 exactly, and
constant v_p = c gives V_k = c wherever ρ_k > 0. Under MPI each particle lives on the rank that
owns its cell; contributions to ghost nodes are summed onto their owners with
`scatter_reverse(InsertMode.add)`.

**Distance** to given nodal moments, weighted by ρ0 (the relative entropy of docs/science.md):

    D = ( ∫ ρ0 (|V_n − V|² + |W_n − W|²)/2 dx )^{1/2}    (lumped quadrature).

**Particle files**: `ParticleWriter` writes one VTK unstructured grid of vertices per output time
(`particles_<k>.vtu`, with v, w and global_id as point data, sorted by global id) and a
`particles.pvd` collection with the times; ParaView opens the .pvd. Under MPI the particles are
gathered to rank 0, which writes (≈ 40 bytes per particle; fine up to ~10⁷).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_fhn._fenics import dolfinx, fem
from fem_fhn.analysis import relative_entropy
from fem_fhn.mesh import NodalMesh
from fem_fhn.network.sampling import Particles
from fem_fhn.parallel import to_global_order

__all__ = ["ParticleMoments", "ParticleWriter", "empirical_distance", "mark_empty"]


class ParticleMoments:
    """Deposit of particle quantities on the P1 nodes (lumped-mass L² projection).

    Args:
        particles: the particles (with their cells and barycentric coordinates).
    """

    def __init__(self, particles: Particles):
        self.particles = particles
        self.nodes: NodalMesh = particles.nodes
        dofs = np.asarray(self.nodes.space.dofmap.list)[particles.cells]
        self._dofs = dofs.ravel()
        self._phi = (particles.weight * particles.bary).ravel()
        index_map = self.nodes.space.dofmap.index_map
        self._n_all = index_map.size_local + index_map.num_ghosts
        self._work = fem.Function(self.nodes.space)
        self.mass = self.deposit(np.ones(particles.n_owned))

    def deposit(self, values: np.ndarray) -> np.ndarray:
        """Owned nodal sums S_k = Σ_p ω values_p φ_k(x_p) (ghost contributions included)."""
        d1 = self.particles.bary.shape[1]
        weights = self._phi * np.repeat(np.asarray(values, dtype=float), d1)
        x = self._work.x
        x.array[:] = np.bincount(self._dofs, weights=weights, minlength=self._n_all)
        x.scatter_reverse(dolfinx.la.InsertMode.add)
        return x.array[: self.nodes.n_owned].copy()

    @property
    def rho(self) -> np.ndarray:
        """ρ_k = Σ_p ω φ_k(x_p) / m_k."""
        return self.mass / self.nodes.masses

    def average(self, values: np.ndarray) -> np.ndarray:
        """Σ_p ω u_p φ_k / Σ_p ω φ_k (0 where no particle contributes)."""
        positive = self.mass > 0
        return np.where(positive, self.deposit(values) / np.where(positive, self.mass, 1.0), 0.0)

    def fields(self, v: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
        """{"V": V_k, "W": W_k, "rho": ρ_k} on the owned nodes."""
        return {"V": self.average(v), "W": self.average(w), "rho": self.rho}


def mark_empty(fields: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The moments with V and W set to NaN at the nodes no particle reaches (ρ_k = 0).

    There the deposit has no value (its V_k = W_k = 0 is a placeholder): NaN makes the field
    files say so, the pictures leave those nodes out and the diagnostics skip them.
    """
    empty = fields["rho"] == 0
    if not empty.any():
        return fields
    return {
        name: np.where(empty, np.nan, u) if name in ("V", "W") else u for name, u in fields.items()
    }


def empirical_distance(
    nodes: NodalMesh,
    fields: dict[str, np.ndarray],
    V: np.ndarray,
    W: np.ndarray,
    rho0: np.ndarray,
) -> float:
    """D = (∫ ρ0 (|V_n − V|² + |W_n − W|²)/2 dx)^{1/2} with the lumped quadrature.

    Args:
        nodes: the nodal mesh.
        fields: empirical moments with keys "V" and "W" (e.g. `ParticleMoments.fields`).
        V, W: owned nodal values to compare with (e.g. kinetic or macroscopic moments).
        rho0: owned nodal ρ0 (the weight).
    """
    H = relative_entropy(nodes.masses, rho0, V, W, fields["V"], fields["W"], nodes.comm)
    return float(np.sqrt(max(H, 0.0)))


class ParticleWriter:
    """Observer obs(t, y, step) writing the particles as a VTK point cloud time series.

    Args:
        particles: the particles.
        out_dir: output folder (created on rank 0 if missing).
        name: file stem; writes `<name>_<k>.vtu` and `<name>.pvd`.
    """

    def __init__(self, particles: Particles, out_dir: Path | str, name: str = "particles"):
        self.particles = particles
        self.comm = particles.comm
        self.out_dir = Path(out_dir)
        self.name = name
        self.entries: list[tuple[float, str]] = []
        if self.comm.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        gid = particles.global_id
        points = np.zeros((particles.n_owned, 3))
        points[:, : particles.dim] = particles.positions
        self._points = self._gather(gid, points)
        self._gid = self._gather(gid, gid)

    def _gather(self, gid: np.ndarray, values: np.ndarray) -> np.ndarray | None:
        return to_global_order(self.comm, gid, values)

    def __call__(self, t: float, y: np.ndarray, step: int) -> None:
        gid = self.particles.global_id
        v, w = self._gather(gid, y[0]), self._gather(gid, y[1])
        if self.comm.rank != 0:
            return
        import meshio

        n = len(self._gid)
        mesh = meshio.Mesh(
            self._points,
            [("vertex", np.arange(n, dtype=np.int64)[:, None])],
            point_data={"v": v, "w": w, "global_id": self._gid.astype(np.int64)},
        )
        file = f"{self.name}_{len(self.entries):05d}.vtu"
        meshio.write(self.out_dir / file, mesh, binary=True)
        self.entries.append((float(t), file))
        self._write_pvd()

    def _write_pvd(self) -> None:
        rows = "\n".join(
            f'    <DataSet timestep="{t:.12g}" part="0" file="{f}"/>' for t, f in self.entries
        )
        (self.out_dir / f"{self.name}.pvd").write_text(
            '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n'
            f"  <Collection>\n{rows}\n  </Collection>\n</VTKFile>\n"
        )

    def close(self) -> None:
        """Nothing to flush (each call writes complete files); kept for the writer interface."""
        self.comm.barrier()
