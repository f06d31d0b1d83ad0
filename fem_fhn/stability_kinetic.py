"""Spectrum of the linearised kinetic operator L_k and its comparison with the macroscopic λ(k).

L_k, the linearisation of the kinetic FitzHugh–Nagumo equation at a homogeneous steady state f*
for the Fourier mode e^{ik·x}, its derivation and its discretisation are in
`fem_fhn.kinetic.linear`; its eigenvalues tend to the roots λ(k) of
λ² − (f' + μ_k − τb) λ + τ (1 − b (f' + μ_k)) = 0 (`fem_fhn.stability.dispersion`) as ε → 0
(exactly, for every ε, when D = 0). This module holds the PETSc/SLEPc code (imported inside
`eigenvalues`).

Eigenvalues. The neutral mass mode (λ = 0, a change of ρ0) is removed by solving for the zero-mass
perturbations: the generalized eigenproblem on (g, s, p), s = δj/(ΔvΔw),

    [[T, c_k ΔvΔw u, ΔvΔw φ], [vᵀ, −1, 0], [1ᵀ, 0, 0]] x = λ diag(1, …, 1, 0, 0) x,   φ = f*/ρ̄,

whose finite eigenvalues are those of L_k on {Σ g = 0} (p = 0 on each eigenvector). SLEPc
(Krylov–Schur, shift-and-invert with a MUMPS LU, target to the right of the macroscopic λ(k))
returns the eigenvalues nearest the target; the rightmost `n_eig` of them are reported with their
relative residuals ‖L_k g − λ g‖/((‖T‖₁ + |λ|)‖g‖) on the physical operator. L_k is non-normal
(transport): residuals, not eigenvector angles, measure the accuracy. The rightmost eigenvalues
can be internal modes of the velocity distribution rather than the macroscopic ones (when τb is
small, see `fem_fhn.kinetic.linear`), so the comparison with λ(k) uses, for each root, the
nearest kinetic eigenvalue (`nearest_eigenvalue`).

    spec = kinetic_spectrum(params, kernel, k, (64, 32), eps=1e-3, diffusion=0.01, V_star=0.7071)
    spec.eigenvalues      # (len(k), n_eig) rightmost kinetic eigenvalues
    spec.matched          # (len(k), 2) kinetic eigenvalues nearest λ_1,2(k)
    spec.errors           # |matched − λ(k)|
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from fem_fhn import stability
from fem_fhn.kinetic.grid import VelocityGrid
from fem_fhn.kinetic.linear import (
    HomogeneousState,
    LinearisedOperator,
    linearised_operator,
    steady_state,
)
from fem_fhn.params import FHNParameters, require

__all__ = [
    "KineticSpectrum",
    "eigenvalues",
    "kinetic_dispersion",
    "kinetic_spectrum",
    "nearest_eigenvalue",
]


def eigenvalues(
    op: LinearisedOperator,
    n_eig: int = 4,
    target: float = 1.0,
    tol: float = 1e-10,
    max_it: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues of L_k nearest the real `target`, by SLEPc.

    Krylov–Schur on the zero-mass generalized problem (`LinearisedOperator.augmented`), shift and
    invert at `target` with a MUMPS LU (SuperLU if PETSc has no MUMPS; both pivot, which the
    zero diagonal of the constraint rows needs), serial (COMM_SELF), n_eig eigenvalues requested.

    Returns:
        (λ, residual): all converged eigenvalues (at least n_eig unless SLEPc failed), complex,
        sorted by real part then imaginary part, descending, and the relative residuals
        ‖L_k g − λ g‖/((‖T‖₁ + |λ|) ‖g‖) of their eigenvectors on the physical operator.
    """
    from fem_fhn._fenics import PETSc  # noqa: I001  (PETSc first: the wheel sets up SLEPc)
    from slepc4py import SLEPc

    require(isinstance(n_eig, int) and n_eig >= 1, "n_eig", n_eig, "an integer >= 1")
    M, B = op.augmented()
    comm = PETSc.COMM_SELF

    def petsc(A: sp.csr_matrix):
        A = A.tocsr()
        A.sort_indices()
        return PETSc.Mat().createAIJ(
            size=A.shape,
            csr=(A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType), A.data),
            comm=comm,
        )

    A_p, B_p = petsc(M), petsc(B)
    solver = SLEPc.EPS().create(comm)
    solver.setOperators(A_p, B_p)
    solver.setProblemType(SLEPc.EPS.ProblemType.GNHEP)
    solver.setType(SLEPc.EPS.Type.KRYLOVSCHUR)
    solver.setDimensions(min(n_eig, op.size - 1), PETSc.DECIDE)
    solver.setTarget(float(target))
    solver.setWhichEigenpairs(SLEPc.EPS.Which.TARGET_MAGNITUDE)
    solver.setTolerances(tol, max_it)
    st = solver.getST()
    st.setType(SLEPc.ST.Type.SINVERT)
    ksp = st.getKSP()
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType("mumps" if PETSc.Sys.hasExternalPackage("mumps") else "superlu")
    solver.solve()
    n_conv = solver.getConverged()
    vr, vi = A_p.createVecs()
    n = op.size
    scale = float(spla.norm(op.T, 1))
    found, res = [], []
    for i in range(n_conv):
        lam = complex(solver.getEigenpair(i, vr, vi))
        g = vr.getArray()[:n] + 1j * vi.getArray()[:n]
        norm = np.linalg.norm(g)
        found.append(lam)
        r = np.linalg.norm(op.matvec(g) - lam * g)
        res.append(r / ((scale + abs(lam)) * norm) if norm > 0 else np.inf)
    for obj in (solver, A_p, B_p, vr, vi):
        obj.destroy()
    lam, residual = np.array(found, dtype=complex), np.array(res, dtype=float)
    order = np.lexsort((-lam.imag, -lam.real))
    return lam[order], residual[order]


def nearest_eigenvalue(
    op: LinearisedOperator, z: complex, tol: float = 1e-10, n_start: int = 8, n_max: int = 256
) -> complex:
    """The eigenvalue of L_k nearest the complex number z (NaN if none converged).

    The n eigenvalues nearest the real target Re z are computed (`eigenvalues`); they contain every
    eigenvalue within r = max |λ − Re z| of Re z, so the nearest of them, at distance d from z, is
    the nearest of all once |Im z| + d ≤ r. Otherwise n doubles, up to n_max.
    """
    n = n_start
    while True:
        lam = eigenvalues(op, n, z.real, tol)[0]
        if lam.size == 0:
            return complex(np.nan, np.nan)
        d = np.abs(lam - z)
        best = int(d.argmin())
        if abs(z.imag) + d[best] <= np.abs(lam - z.real).max() or n >= n_max:
            return complex(lam[best])
        n = min(2 * n, n_max)


# --------------------------------------------------------------------------- dispersion


@dataclass(frozen=True)
class KineticSpectrum:
    """Rightmost eigenvalues of the kinetic L_k and the macroscopic λ(k) they approach.

    Attributes:
        k: wavenumbers (m,).
        eigenvalues: (m, n_eig) kinetic eigenvalues, rows sorted by real part descending.
        residuals: (m, n_eig) relative residuals ‖L_k g − λ g‖/((‖T‖₁ + |λ|) ‖g‖).
        n_converged: (m,) converged eigenpairs of the solve that gave `eigenvalues`.
        targets: (m,) the shift-and-invert targets used.
        macro: (m, 2) macroscopic λ_1,2(k) at the equilibrium V_star.
        matched: (m, 2) the kinetic eigenvalue nearest each macroscopic root (`nearest_eigenvalue`;
            the rightmost eigenvalues can be internal modes, see the module docstring).
        state: the homogeneous kinetic steady state.
        V_star: the macroscopic equilibrium.
    """

    k: np.ndarray
    eigenvalues: np.ndarray
    residuals: np.ndarray
    n_converged: np.ndarray
    targets: np.ndarray
    macro: np.ndarray
    matched: np.ndarray
    state: HomogeneousState
    V_star: float

    @property
    def errors(self) -> np.ndarray:
        """(m, 2) distances |λ_kin − λ_macro| of the matched kinetic eigenvalues."""
        return np.abs(self.matched - self.macro)

    @property
    def max_error(self) -> float:
        return float(self.errors.max())

    def as_dict(self) -> dict:
        """JSON-ready summary (complex numbers as [re, im] pairs)."""
        pair = lambda z: [float(z.real), float(z.imag)]  # noqa: E731
        s = self.state
        return {
            "eps": s.eps,
            "diffusion": s.diffusion,
            "rho": s.rho,
            "grid": dataclasses.asdict(s.grid),
            "V_star": s.V,
            "W_star": s.W,
            "V_star_macro": self.V_star,
            "var_v": s.var_v,
            "steady_residual": s.residual,
            "k": self.k.tolist(),
            "eigenvalues": [[pair(z) for z in row] for row in self.eigenvalues],
            "residuals": self.residuals.tolist(),
            "n_converged": self.n_converged.tolist(),
            "macro": [[pair(z) for z in row] for row in self.macro],
            "matched": [[pair(z) for z in row] for row in self.matched],
            "errors": self.errors.tolist(),
            "max_error": self.max_error,
        }


def kinetic_spectrum(
    params: FHNParameters,
    kernel,
    k,
    grid: VelocityGrid | tuple[int, int],
    eps: float,
    rho: float = 1.0,
    diffusion: float = 0.0,
    n_eig: int = 4,
    V_star: float | None = None,
    *,
    target_shift: float = 1.0,
    tol: float = 1e-10,
    n_match: int = 8,
) -> KineticSpectrum:
    """Steady state, L_k and its rightmost eigenvalues for every k (module docstring).

    The target of each solve is max Re λ_macro(k) + target_shift; if an eigenvalue is found to
    the right of target − target_shift/4 the target moves right of it and the solve is repeated
    (at most 3 times), so the reported eigenvalues are the rightmost of the spectrum near the
    macroscopic ones. For the comparison, the kinetic eigenvalue nearest each macroscopic root is
    `matched` (`nearest_eigenvalue`).

    Args:
        params, kernel, rho, V_star: as in `fem_fhn.stability.dispersion`.
        k: wavenumbers |k| ≥ 0.
        grid: a `VelocityGrid`, or (n_v, n_w) for the centred box of
            `fem_fhn.kinetic.linear.local_grid`.
        eps: relaxation parameter ε > 0.
        diffusion: velocity diffusion D ≥ 0.
        n_eig: eigenvalues per k.
        target_shift: distance of the shift-and-invert target right of the macroscopic λ.
        tol: SLEPc tolerance.
        n_match: eigenvalues first computed near each Re λ_macro(k) for
            `KineticSpectrum.matched` (`nearest_eigenvalue`).
    """
    k = stability._k_array(k)
    V0, _ = stability.homogeneous_state(params, V_star)
    state = steady_state(params, kernel, grid, eps, rho, diffusion, V0)
    macro = stability.dispersion(params, kernel, k, rho, V0)
    m = k.size
    lam = np.full((m, n_eig), np.nan + 0j)
    res = np.full((m, n_eig), np.nan)
    n_conv = np.zeros(m, dtype=int)
    targets = np.zeros(m)
    matched = np.full((m, 2), np.nan + 0j)
    for i, kk in enumerate(k):
        op = linearised_operator(state, kernel, float(kk))
        target = float(macro[i].real.max()) + target_shift
        for _ in range(3):
            found, found_res = eigenvalues(op, n_eig + 2, target, tol)
            if found.size == 0 or found[0].real <= target - 0.25 * target_shift:
                break
            target = found[0].real + target_shift
        targets[i] = target
        n_conv[i] = found.size
        lam[i, : min(n_eig, found.size)] = found[:n_eig]
        res[i, : min(n_eig, found.size)] = found_res[:n_eig]
        for r, root in enumerate(macro[i]):
            if r == 1 and root.imag != 0 and root == np.conj(macro[i, 0]):
                matched[i, 1] = np.conj(matched[i, 0])  # L_k is real: conjugate pairs
            else:
                matched[i, r] = nearest_eigenvalue(op, complex(root), tol, n_match)
    return KineticSpectrum(k, lam, res, n_conv, targets, macro, matched, state, V0)


def kinetic_dispersion(*args, **kwargs) -> np.ndarray:
    """Rightmost kinetic eigenvalues per k, shape (len(k), n_eig), complex.

    Takes the arguments of `kinetic_spectrum` and returns its `eigenvalues`.
    """
    return kinetic_spectrum(*args, **kwargs).eigenvalues
