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
the owned values, as in `NonlocalFHN`. The model holds no time step; `IMEXStepper`
advances it with the diffusion implicit and the reaction explicit:

- "imex-euler": (M + h A) V^{n+1} = M V^n + h M R_V^n, W^{n+1} = W^n + h R_W^n (order 1);
- "imex-ars222": the L-stable, stiffly accurate IMEX Runge–Kutta method ARS(2,2,2) of Ascher,
  Ruuth & Spiteri (1997), γ = 1 − 1/√2 (order 2); both implicit stages solve with M + γ h A.

The implicit matrix S = M + γ h A is symmetric positive definite and constant while h is: it is
assembled and factorised once per distinct γ h, and a step then costs one pair of triangular solves
per implicit stage, vector operations and one mat-vec with A (nothing is assembled in the loop).
The linear solver (`LINEAR_SOLVERS`):

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
from fem_fhn.macro.stimulus import Stimulus, total_current
from fem_fhn.mesh import NodalMesh
from fem_fhn.params import FHNParameters, ParameterError, require
from fem_fhn.profiling import phases
from fem_fhn.timestepping import IMEX_SCHEMES as IMEX_TABLEAUX

__all__ = ["IMEX_SCHEMES", "LINEAR_SOLVERS", "MASS_KINDS", "IMEXStepper", "LocalFHN"]

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


class LocalFHN:
    """∂_t V = (σ/ρ0) ∇·(ρ0² ∇V) + N(V) − W + I_ext,  ∂_t W = τ (V + a − b W)  (P1, no-flux).

    Args:
        nodes: the mesh and its P1 space.
        params: FHN parameters (params.I_ext is added to `stimulus`).
        sigma: diffusion coefficient σ ≥ 0 (the kernel's second moment, see `from_kernel`).
        rho0: owned nodal values of ρ0 > 0, or a constant.
        stimulus: optional space–time current I_ext(x, t).
        mass: "lumped" or "consistent" (see the module docstring).

    Attributes:
        mass_matrix: M (PETSc Mat, assembled).
        stiffness_matrix: A (PETSc Mat, assembled), A_ij = σ ∫ ρ0² ∇φ_j·∇φ_i.
    """

    fields = ("V", "W")

    def __init__(
        self,
        nodes: NodalMesh,
        params: FHNParameters,
        sigma: float,
        rho0: np.ndarray | float = 1.0,
        stimulus: Stimulus | None = None,
        mass: str = "lumped",
    ):
        require(mass in MASS_KINDS, "mass", mass, f"one of {MASS_KINDS}")
        ok = isinstance(sigma, int | float) and math.isfinite(sigma) and sigma >= 0
        require(ok, "sigma", sigma, "a finite diffusion coefficient >= 0")
        self.nodes, self.params, self.sigma, self.stimulus = nodes, params, float(sigma), stimulus
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

    def current(self, t: float) -> np.ndarray | float:
        """I_ext(x, t) including the constant params.I_ext."""
        return total_current(self.params.I_ext, self.stimulus, t)

    @phases.timing("right-hand sides")
    def reaction(self, t: float, y: np.ndarray) -> np.ndarray:
        """The explicit part at the nodes: (N(V) − W + I_ext, τ (V + a − b W))."""
        V, W = y
        p = self.params
        return np.stack([p.N(V) - W + self.current(t), p.recovery(V, W)])

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
        """dy/dt for explicit integrators (stable only for dt ≲ h²/σ: prefer `IMEXStepper`)."""
        dy = self.reaction(t, y)
        dy[0] += self.diffusion(y[0])
        return dy

    def state(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        return np.stack([V, W]).astype(float)

    def fields_of(self, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"V": y[0], "W": y[1]}

    def max_stable_dt(self, v_max: float = 1.5) -> float:
        """Step bound of the explicit reaction in `IMEXStepper`: 1/max(1, 3 v_max² − 1)."""
        return 1.0 / max(1.0, 3.0 * v_max**2 - 1.0)


#: IMEX pairs with an explicit first stage (the stepper below needs one): imex-euler, imex-ars222.
IMEX_SCHEMES = {name: tab for name, tab in IMEX_TABLEAUX.items() if tab.a_imp[0][0] == 0.0}


class IMEXStepper:
    """Advance a model with `mass_matrix`, `stiffness_matrix` and `reaction(t, y)`.

    The model's equation is M dy_0/dt = −A y_0 + M R_0(t, y), dy_k/dt = R_k(t, y) (k ≥ 1): the
    first component diffuses (implicit), every component reacts (explicit). Steps are equal and
    ≤ dt up to each target time, like the explicit schemes of `fem_fhn.timestepping`; the linear
    system M + γ h A is assembled and factorised (or its GAMG preconditioner set up) once per
    distinct step size h, and kept for the next `advance` with the same h. A model with a lumped
    mass (`mass_kind == "lumped"`, `mass_diagonal`) has M y computed as a vector product.

    Args:
        dt: largest step.
        scheme: "imex-euler" (order 1) or "imex-ars222" (order 2), from
            `fem_fhn.timestepping.IMEX_SCHEMES`.
        rtol: relative tolerance of the CG solves (linear_solver "cg" only).
        linear_solver: one of `LINEAR_SOLVERS` (see the module docstring).
    """

    #: how many factorised matrices (distinct step sizes) are kept.
    cache_size = 2

    def __init__(
        self,
        dt: float,
        scheme: str = "imex-ars222",
        rtol: float = 1e-12,
        linear_solver: str = "cholesky",
    ):
        require(dt > 0 and math.isfinite(dt), "time.dt", dt, "dt > 0")
        allowed = f"one of {', '.join(IMEX_SCHEMES)}"
        require(scheme in IMEX_SCHEMES, "time.scheme", scheme, allowed)
        require(0 < rtol < 1, "rtol", rtol, "0 < rtol < 1")
        require(
            linear_solver in LINEAR_SOLVERS,
            "solver.linear_solver",
            linear_solver,
            f"one of {LINEAR_SOLVERS}",
        )
        self.dt, self.scheme, self.rtol = float(dt), scheme, float(rtol)
        self.linear_solver = linear_solver
        self.tableau = IMEX_SCHEMES[scheme]
        self.gamma = self.tableau.a_imp[-1][-1]
        self._model = None
        self._systems: list[tuple[float, object, object]] = []
        self._ksp = None
        self.linear_iterations = 0
        self.factorisations = 0

    def _setup(self, model, h: float) -> None:
        if self._model is not model:
            self._model, self._systems = model, []
            self._vecs = [model.mass_matrix.createVecLeft() for _ in range(2)]
            lumped = getattr(model, "mass_kind", None) == "lumped"
            self._lumped = model.mass_diagonal if lumped else None
        for system in self._systems:
            if abs(h - system[0]) <= 1e-12 * h:
                self._ksp = system[2]
                return
        S = model.mass_matrix.copy()
        S.axpy(
            self.gamma * h,
            model.stiffness_matrix,
            structure=PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN,
        )
        if self.linear_solver == "cg":
            ksp = _solver(model.comm, S, "gamg", self.rtol, "fem_fhn_imex_")
        else:
            ksp = _factorisation(model.comm, S, self.linear_solver, "fem_fhn_imex_")
        self.factorisations += 1
        self._systems = [(h, S, ksp), *self._systems][: self.cache_size]
        self._ksp = ksp

    def _mass_times(self, model, v: np.ndarray) -> np.ndarray:
        """M v (owned values)."""
        if self._lumped is not None:
            return self._lumped * v
        return self._product(model.mass_matrix, v)

    def _product(self, matrix, v: np.ndarray) -> np.ndarray:
        x, out = self._vecs
        x.array[:] = v
        matrix.mult(x, out)
        return out.array.copy()

    def n_steps(self, t: float, t_target: float) -> int:
        return max(1, math.ceil((t_target - t) / self.dt * (1 - 1e-12)))

    def advance(self, model, t: float, y: np.ndarray, t_target: float):
        """Equal steps from t to t_target; returns (t_target, y, number of steps)."""
        n = self.n_steps(t, t_target)
        h = (t_target - t) / n
        self._setup(model, h)
        for i in range(n):
            y = self.step(model, t + i * h, y, h)
        return t_target, y, n

    def step(self, model, t: float, y: np.ndarray, h: float) -> np.ndarray:
        """One IMEX step of size h (factorises M + γ h A when h is new)."""
        self._setup(model, h)
        tab = self.tableau
        x, b = self._vecs
        My = self._mass_times(model, y[0])
        stages, R, MR, AU = [np.asarray(y, dtype=float)], [], [], []
        for i in range(1, tab.stages):
            previous = stages[i - 1]
            R.append(model.reaction(t + tab.c_exp[i - 1] * h, previous))
            MR.append(self._mass_times(model, R[-1][0]))
            needed = any(row[i - 1] for row in tab.a_imp[i:])
            AU.append(self._product(model.stiffness_matrix, previous[0]) if needed else None)
            rhs = My.copy()
            U = np.array(y, dtype=float)
            for j in range(i):
                if tab.a_exp[i][j]:
                    rhs += (h * tab.a_exp[i][j]) * MR[j]
                    U[1:] += (h * tab.a_exp[i][j]) * R[j][1:]
                if tab.a_imp[i][j]:
                    rhs -= (h * tab.a_imp[i][j]) * AU[j]
            b.array[:] = rhs
            x.array[:] = previous[0]
            _solve(self._ksp, b, x, "IMEX diffusion")
            self.linear_iterations += self._ksp.getIterationNumber()
            U[0] = x.array
            stages.append(U)
        return stages[-1]
