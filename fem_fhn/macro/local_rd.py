"""The local limit of the macroscopic FHN system (docs/science.md) and its IMEX time stepper.

    ∂_t V = (σ/ρ0) ∇·(ρ0² ∇V) + N(V) − W + I_ext,     ∂_t W = τ (V + a − b W),

σ the second moment of the kernel (`fem_fhn.kernels`), ρ0 > 0, natural (no-flux) boundary
condition ρ0² ∂_n V = 0. P1 finite elements with the ρ0-weighted weak form

    ∫ ρ0 ∂_t V φ + σ ∫ ρ0² ∇V·∇φ = ∫ ρ0 (N(V) − W + I_ext) φ     for every P1 test function φ,

i.e. M dV/dt = −A V + M R_V(V, W), with the stiffness matrix A_ij = σ ∫ ρ0² ∇φ_j·∇φ_i and
R_V = N(V) − W + I_ext evaluated at the nodes (interpolated into P1). The mass matrix is

- "lumped" (default): M = diag(m_i ρ0_i), m_i = ∫ φ_i dx — the reference nodal quadrature that
  the nonlocal model uses, so both models weight the reaction the same way, and dV/dt is nodal;
- "consistent": M_ij = ∫ ρ0 φ_j φ_i.

W has no diffusion: its equation is solved node by node. State arrays have shape (2, n_owned) with
the owned values, as in `NonlocalFHN`. In the standard form (`fem_fhn.standard_form`) the model
provides the whole right-hand side ("rhs", for explicit schemes: stable only for dt ≲ h²/σ) and
the split E(t, y) = (R_V, R_W), I(y) = (−M⁻¹ A V, 0) ("explicit" + "implicit") that the IMEX
engine `fem_fhn.timestepping.IMEXRungeKutta` advances with the diffusion implicit, e.g.
"imex-euler": (M + h A) V^{n+1} = M (V^n + h R_V^n), W^{n+1} = W^n + h R_W^n.

Every implicit stage solves S x = M r with S = M + c A, c = γ h, symmetric positive definite
and constant while h is: it is assembled and factorised once per distinct c, and a step then
costs one pair of triangular solves per implicit stage and vector operations (nothing is
assembled in the loop). The linear solver (`LINEAR_SOLVERS`):

- "cholesky" (default): PETSc's sparse Cholesky with nested-dissection ordering; on several ranks
  each rank factorises the whole matrix (PCREDUNDANT; the factor takes O(n log n) memory per
  rank in 2D, O(n^{4/3}) in 3D);
- "mumps": MUMPS's distributed Cholesky, for meshes whose factor does not fit on one rank;
- "cg": the strict iterative solve, CG + GAMG to relative tolerance `rtol` (default 1e-12).

The direct solves are exact to round-off, so the result does not depend on the number of ranks
beyond round-off (1 and 2 ranks agree to 1e-12 in the tests; CG at rtol 1e-12: to 1e-10).
Stability is limited by the explicit reaction only: h ≲ 1/max|N'(V)| (≈ 0.2 for |V| ≤ 1.5),
independent of the mesh.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import ufl
from mpi4py import MPI

from fem_fhn._fenics import PETSc, fem
from fem_fhn.macro.stimulus import Stimulus
from fem_fhn.mesh import NodalMesh
from fem_fhn.params import FHNParameters, ParameterError, require
from fem_fhn.profiling import phases
from fem_fhn.reaction import FHNReaction, Reacting

__all__ = ["LINEAR_SOLVERS", "MASS_KINDS", "DiffusionSolve", "LocalFHN"]

MASS_KINDS = ("lumped", "consistent")
LINEAR_SOLVERS = ("cholesky", "mumps", "cg")


def _solver(comm: MPI.Comm, matrix, pc: str, rtol: float, prefix: str):
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(matrix)
    ksp.setType("cg")
    ksp.getPC().setType(pc)
    ksp.setTolerances(rtol=rtol, atol=1e-300, max_it=2000)
    ksp.setInitialGuessNonzero(True)
    ksp.setOptionsPrefix(prefix)
    ksp.setFromOptions()
    return ksp


def _factorisation(comm: MPI.Comm, matrix, kind: str, prefix: str):
    """A KSP that solves with a Cholesky factor of `matrix` ("cholesky" or "mumps", see above)."""
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(matrix)
    ksp.setType("preonly")
    ksp.setOptionsPrefix(prefix)
    pc = ksp.getPC()
    if kind == "mumps":
        pc.setType("cholesky")
        pc.setFactorSolverType("mumps")
    elif comm.size == 1:
        pc.setType("cholesky")
        pc.setFactorSolverType("petsc")
        pc.setFactorOrdering("nd")
    else:
        pc.setType("redundant")
        options = PETSc.Options()
        options[f"{prefix}redundant_pc_type"] = "cholesky"
        options[f"{prefix}redundant_pc_factor_mat_solver_type"] = "petsc"
        options[f"{prefix}redundant_pc_factor_mat_ordering_type"] = "nd"
    ksp.setFromOptions()
    ksp.setUp()
    return ksp


@phases.timing("linear solves")
def _solve(ksp, b, x, what: str) -> None:
    ksp.solve(b, x)
    reason = ksp.getConvergedReason()
    if reason < 0:
        raise FloatingPointError(f"the {what} solve did not converge (PETSc KSP reason {reason})")


class LocalFHN(Reacting):
    """∂_t V = (σ/ρ0) ∇·(ρ0² ∇V) + N(V) − W + I_ext,  ∂_t W = τ (V + a − b W)  (P1, no-flux).

    Args:
        nodes: the mesh and its P1 space.
        params: FHN parameters (params.I_ext is added to `stimulus`).
        sigma: diffusion coefficient σ ≥ 0 (the kernel's second moment, see `from_kernel`).
        rho0: owned nodal values of ρ0 > 0, or a constant.
        stimulus: optional space–time current I_ext(x, t).
        mass: "lumped" or "consistent" (see the module docstring).
        linear_solver: the implicit solve, one of `LINEAR_SOLVERS` (see the module docstring).
        rtol: relative tolerance of the CG solves (linear_solver "cg" only).

    Attributes:
        mass_matrix: M (PETSc Mat, assembled).
        stiffness_matrix: A (PETSc Mat, assembled), A_ij = σ ∫ ρ0² ∇φ_j·∇φ_i.
    """

    fields = ("V", "W")
    parts = frozenset({"rhs", "explicit", "implicit"})

    def __init__(
        self,
        nodes: NodalMesh,
        params: FHNParameters,
        sigma: float,
        rho0: np.ndarray | float = 1.0,
        stimulus: Stimulus | None = None,
        mass: str = "lumped",
        linear_solver: str = "cholesky",
        rtol: float = 1e-12,
    ):
        require(mass in MASS_KINDS, "mass", mass, f"one of {MASS_KINDS}")
        require(
            linear_solver in LINEAR_SOLVERS,
            "solver.linear_solver",
            linear_solver,
            f"one of {LINEAR_SOLVERS}",
        )
        require(0 < rtol < 1, "rtol", rtol, "0 < rtol < 1")
        self.linear_solver, self.rtol = linear_solver, float(rtol)
        ok = isinstance(sigma, int | float) and math.isfinite(sigma) and sigma >= 0
        require(ok, "sigma", sigma, "a finite diffusion coefficient >= 0")
        self.nodes, self.sigma = nodes, float(sigma)
        self.fhn = FHNReaction(params, stimulus)
        self.mass_kind = mass
        self.comm = nodes.comm
        self.rho0 = np.broadcast_to(np.asarray(rho0, dtype=float), (nodes.n_owned,)).copy()
        low = self.comm.allreduce(float(self.rho0.min(initial=np.inf)), op=MPI.MIN)
        if not low > 0:
            raise ParameterError(
                f"rho0 must be > 0 on the mesh for the local model, found the value {low:g}"
            )
        petsc = importlib.import_module("dolfinx.fem.petsc")
        rho = nodes.function(self.rho0, "rho0")
        u, phi = ufl.TrialFunction(nodes.space), ufl.TestFunction(nodes.space)
        stiffness = self.sigma * rho**2 * ufl.inner(ufl.grad(u), ufl.grad(phi)) * ufl.dx
        self.stiffness_matrix = petsc.assemble_matrix(fem.form(stiffness))
        self.stiffness_matrix.assemble()
        self.mass_diagonal = nodes.masses * self.rho0
        if mass == "lumped":
            M = self.stiffness_matrix.duplicate(copy=False)
            diagonal = M.createVecLeft()
            diagonal.array[:] = self.mass_diagonal
            M.setDiagonal(diagonal)
        else:
            M = petsc.assemble_matrix(fem.form(rho * u * phi * ufl.dx))
        M.assemble()
        self.mass_matrix = M
        self._x, self._b = M.createVecs()
        self._mass_ksp = None

    @classmethod
    def from_kernel(cls, nodes: NodalMesh, params: FHNParameters, kernel, rho0=1.0, **kwargs):
        """The local limit of the nonlocal model with kernel Ψ: σ = Ψ's second moment."""
        return cls(nodes, params, kernel.second_moment, rho0, **kwargs)

    @phases.timing("right-hand sides")
    def explicit(self, t: float, y: np.ndarray) -> np.ndarray:
        """E(t, y): the reaction at the nodes, (N(V) − W + I_ext, τ (V + a − b W))."""
        return self.fhn.rates(t, y[0], y[1])

    def implicit_part(self, dt: float, order: int) -> DiffusionSolve:
        """The diffusion's implicit solves (M + c A) x = M r for the IMEX engine."""
        return DiffusionSolve(self)

    def diffusion(self, V: np.ndarray) -> np.ndarray:
        """−M⁻¹ A V: the P1 approximation of (σ/ρ0) ∇·(ρ0² ∇V) at the owned nodes."""
        self._x.array[:] = V
        self.stiffness_matrix.mult(self._x, self._b)
        if self.mass_kind == "lumped":
            return -self._b.array / self.mass_diagonal
        if self._mass_ksp is None:
            self._mass_ksp = _solver(self.comm, self.mass_matrix, "jacobi", 1e-13, "fem_fhn_mass_")
        out = self._x.duplicate()
        out.set(0.0)
        _solve(self._mass_ksp, self._b, out, "mass-matrix")
        return -out.array.copy()

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """dy/dt for explicit integrators (stable only for dt ≲ h²/σ: prefer an IMEX scheme)."""
        dy = self.explicit(t, y)
        dy[0] += self.diffusion(y[0])
        return dy

    def max_stable_dt(self, v_max: float = 1.5) -> float:
        """Step bound of the explicit reaction in an IMEX scheme: 1/max(1, 3 v_max² − 1)."""
        return 1.0 / FHNReaction.max_rate(v_max)


class DiffusionSolve:
    """The local model's implicit part: x with (M + c A) x = M r (`fem_fhn.standard_form`).

    S = M + c A is assembled and factorised (or its GAMG preconditioner set up) once per distinct
    c and kept for the next steps with the same c (`cache_size` of them). With a lumped mass
    M r is a vector product.

    Attributes:
        linear_iterations: Krylov iterations so far (1 per solve for the direct solvers).
        factorisations: matrices S set up so far.
    """

    #: how many factorised matrices (distinct c) are kept.
    cache_size = 2

    def __init__(self, model: LocalFHN):
        self.model = model
        self._systems: list[tuple[float, object, object]] = []
        self._vecs = [model.mass_matrix.createVecLeft() for _ in range(2)]
        self._lumped = model.mass_diagonal if model.mass_kind == "lumped" else None
        self.linear_iterations = 0
        self.factorisations = 0

    def _ksp(self, c: float):
        for system in self._systems:
            if abs(c - system[0]) <= 1e-12 * c:
                return system[2]
        model = self.model
        S = model.mass_matrix.copy()
        S.axpy(c, model.stiffness_matrix, structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN)
        if model.linear_solver == "cg":
            ksp = _solver(model.comm, S, "gamg", model.rtol, "fem_fhn_imex_")
        else:
            ksp = _factorisation(model.comm, S, model.linear_solver, "fem_fhn_imex_")
        self.factorisations += 1
        self._systems = [(c, S, ksp), *self._systems][: self.cache_size]
        return ksp

    def solve(self, r: np.ndarray, c: float, guess: np.ndarray | None = None) -> np.ndarray:
        ksp = self._ksp(c)
        x, b = self._vecs
        if self._lumped is not None:
            b.array[:] = self._lumped * r
        else:
            x.array[:] = r
            self.model.mass_matrix.mult(x, b)
        x.array[:] = r if guess is None else guess
        _solve(ksp, b, x, "IMEX diffusion")
        self.linear_iterations += ksp.getIterationNumber()
        return x.array.copy()

    def apply(self, v: np.ndarray) -> np.ndarray:
        return self.model.diffusion(v)

    def info(self) -> dict:
        return {
            "linear_solver": self.model.linear_solver,
            "linear_iterations": self.linear_iterations,
            "factorisations": self.factorisations,
        }
