"""Connectome coupling with conduction delays on the V equation of the macroscopic model.

Each vertex i belongs to one region k = label(i). The term added to ∂_t V_i is

    C_k(t) = G Σ_l W_kl (V̄_l(t − d_kl) − V̄_k(t)),      d_kl = L_kl / speed,

in the same difference form as L_ρ0 (a uniform state feels no coupling), with V̄ the ρ0-weighted
region mean on the lumped masses m_i:

    V̄_k = Σ_{i∈k} m_i ρ0_i V_i / Σ_{i∈k} m_i ρ0_i.

Regions without ρ0-mass (no vertex, or ρ0 = 0 on all of them) have no mean: their rows and
columns of W are left out.

**Delays** are rounded to whole steps of the fixed time step h: n_kl = round(d_kl / h) (TVB does
the same). A ring buffer holds the region means at the last max n_kl + 1 step times
t_n, t_{n−1}, …; before the initial time the history is the initial region means (constant
extension). Inside the step [t_n, t_n + h] a stage at t = t_n + c h (0 ≤ c ≤ 1) takes

    V̄_l(t − d_kl) ≈ (1 − c) V̄_l(t_{n−n_kl}) + c V̄_l(t_{n−n_kl+1})      (n_kl ≥ 1),

the linear interpolation between two stored step values (exact at c = 0 and c = 1, second order
in h); with n_kl = 0 it takes the stage's own mean V̄_l(t). The instantaneous V̄_k(t) is always
the stage's mean. `advance_history` stores the new step's means once the step is complete.
Adaptive time stepping cannot honour whole-step delays (`check_scheme` refuses it).

**Stiffness**: the term is linear in V. Its instantaneous part −G (Σ_l W_kl) V̄_k(t) (plus
G W_kl V̄_l(t) for the pairs without delay) and its delayed part each change ∂_t V at a rate of at
most |G| max_k Σ_l |W_kl| per unit of V (a region mean is a weighted average), so an explicit
step counts `coupling_rate` = 2 |G| max_k Σ_l |W_kl| on top of the model's own rate (see
`fem_fhn.macro.NonlocalFHN.max_stable_dt`, which time.dt = "auto" takes 0.9 × of).

**Communication**: the region means are the only global quantity, one Allreduce of n_regions
numbers per right-hand side (the denominators Σ m_i ρ0_i are summed once), plus one per
completed step for the history. The history holds global means only, the same on every rank, so
`history_state`/`restore` write and read it independently of the number of ranks.
"""

from __future__ import annotations

import math

import numpy as np
from mpi4py import MPI

from fem_fhn.connectome.data import Connectome, refuse
from fem_fhn.params import ParameterError, require
from fem_fhn.timestepping import schemes_for

#: time schemes that take equal fixed steps (the ones whole-step delays work with)
#: the schemes that honour a delay history for the nonlocal model (from the scheme registry)
DELAY_SCHEMES = schemes_for({"rhs", "history"})
#: the largest delay history (region means of the last max delay + 1 steps) a coupling keeps
MAX_HISTORY_BYTES = 1 << 30


def check_scheme(scheme: str) -> None:
    """Refuse a time scheme that cannot honour whole-step delays (adaptive steps)."""
    if scheme != "auto" and scheme not in DELAY_SCHEMES:
        raise ParameterError(
            f"time.scheme = {scheme!r} is not allowed with [connectome]: conduction delays are "
            f"whole fixed time steps; allowed: one of {', '.join(DELAY_SCHEMES)}"
        )


def coupling_rate(weights: np.ndarray, G: float) -> float:
    """The coupling's largest rate per unit of V, for explicit steps: 2 |G| max_k Σ_l |W_kl|.

    A bound on |∂C_k/∂V| summed over the vertices of every region: |G| Σ_l |W_kl| from the
    instantaneous −G (Σ_l W_kl) V̄_k(t) and as much from Σ_l G W_kl V̄_l (delayed or not), each
    region mean V̄ being a weighted average of V (norm 1).

    Args:
        weights: W, shape (n, n).
        G: global coupling strength.
    """
    rows = np.abs(np.asarray(weights, dtype=float)).sum(axis=1)
    return 2.0 * abs(float(G)) * float(rows.max(initial=0.0))


class RegionMeans:
    """ρ0-weighted region means V̄_k = Σ_{i∈k} m_i ρ0_i V_i / Σ_{i∈k} m_i ρ0_i over all ranks.

    Args:
        labels: owned vertices' region indices in [0, n_regions).
        masses: owned lumped masses m_i.
        rho0: owned ρ0 values.
        n_regions: number of regions.
        comm: communicator.

    Attributes:
        mass: Σ_{i∈k} m_i ρ0_i per region (global, summed once).
        present: regions with positive ρ0-mass (the others have mean 0).
    """

    def __init__(self, labels, masses, rho0, n_regions: int, comm: MPI.Comm):
        self.labels = np.asarray(labels, dtype=np.int64)
        self.weight = np.asarray(masses, dtype=float) * np.asarray(rho0, dtype=float)
        self.n_regions, self.comm = int(n_regions), comm
        self.mass = self._sum(self.weight)
        self.present = self.mass > 0
        self._inv_mass = np.where(self.present, 1.0 / np.where(self.present, self.mass, 1.0), 0.0)

    def _sum(self, values: np.ndarray) -> np.ndarray:
        local = np.bincount(self.labels, weights=values, minlength=self.n_regions)
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=MPI.SUM)
        return total

    def __call__(self, V: np.ndarray) -> np.ndarray:
        """V̄ per region (one Allreduce of n_regions numbers)."""
        return self._sum(self.weight * V) * self._inv_mass


class ConnectomeCoupling:
    """G Σ_l W_kl (V̄_l(t − d_kl) − V̄_k(t)) on the vertices of region k (see the module docstring).

    Args:
        connectome: weights, tract lengths and names.
        means: the region means of the owned vertices.
        G: global coupling strength.
        speed: conduction speed (length unit of the tract lengths per time unit; inf: no delays).
        dt: the fixed time step h the integrator takes.
        t0: the initial time.

    Call `start(V0)` before the first step (or `restore` a saved history), `term`/`apply` in the
    right-hand side and `advance_history(t, V)` after every completed step.
    """

    def __init__(
        self,
        connectome: Connectome,
        means: RegionMeans,
        G: float,
        speed: float,
        dt: float,
        t0: float = 0.0,
    ):
        require(speed > 0, "connectome.speed", speed, "a speed > 0 (inf: no delays)")
        require(dt > 0 and math.isfinite(dt), "time.dt", dt, "a fixed step dt > 0")
        require(math.isfinite(G), "connectome.G", G, "a finite number")
        self.connectome, self.means, self.G, self.speed, self.dt = connectome, means, G, speed, dt
        mask = np.outer(means.present, means.present)
        W = np.where(mask, connectome.weights, 0.0)
        delay = connectome.tract_lengths / speed
        self.delay_steps = np.where(mask, np.rint(delay / dt), 0).astype(np.int64)
        self.max_delay = int(self.delay_steps.max(initial=0))
        history_bytes = 8 * (self.max_delay + 1) * connectome.n_regions
        require(
            history_bytes <= MAX_HISTORY_BYTES,
            "connectome.speed",
            speed,
            f"a speed whose longest delay, {self.max_delay} steps of {dt:g}, keeps the history "
            f"under {MAX_HISTORY_BYTES >> 30} GiB (it would take {history_bytes / 2**30:.3g} GiB)",
        )
        delayed = self.delay_steps > 0
        self.W_delayed = np.where(delayed, W, 0.0)
        self.W_now = np.where(delayed, 0.0, W)
        # the delayed pairs with a weight, flat: rows k, columns l, W_kl and n_kl (≥ 1)
        pairs = np.flatnonzero(self.W_delayed)
        self._pair_row, self._pair_column = np.divmod(pairs, connectome.n_regions)
        self._pair_weight = self.W_delayed.ravel()[pairs]
        self._pair_lag = self.delay_steps.ravel()[pairs]
        self.row_sum = W.sum(axis=1)
        self.labels = means.labels
        self.buffer = np.zeros((self.max_delay + 1, connectome.n_regions))
        self.head = 0
        self.t = float(t0)
        self._cached_at = None

    def max_rate(self) -> float:
        """`coupling_rate` of the connectome's weights and G (what an explicit step counts)."""
        return coupling_rate(self.connectome.weights, self.G)

    # ------------------------------------------------------------------ history

    def start(self, V0: np.ndarray, t0: float | None = None) -> None:
        """History = the initial region means at every earlier time (constant extension)."""
        self.buffer[:] = self.means(V0)
        self.head = 0
        self.t = self.t if t0 is None else float(t0)
        self._cached_at = None

    def advance_history(self, t: float, V: np.ndarray) -> None:
        """Store the means of the state V at the end t of a completed step."""
        expected = self.t + self.dt
        if abs(t - expected) > 1e-6 * self.dt:
            raise ParameterError(
                f"time.dt = {self.dt!r} is not allowed here: a step ended at t = {t!r}, not "
                f"t + dt = {expected!r}; allowed: steps of exactly dt (whole-step delays)"
            )
        self.head = (self.head + 1) % (self.max_delay + 1)
        self.buffer[self.head] = self.means(V)
        self.t = float(t)

    def history_state(self) -> dict[str, np.ndarray]:
        """The history, oldest-last from the current step time: means[j] = V̄(t − j h)."""
        lags = np.arange(self.max_delay + 1)
        rows = (self.head - lags) % (self.max_delay + 1)
        return {
            "means": self.buffer[rows].copy(),
            "t": np.array([self.t]),
            "dt": np.array([self.dt]),
            "delay_steps": self.delay_steps.copy(),
        }

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Put back a `history_state` (refused if the delays in steps or dt differ)."""
        key = "--restart"
        allowed = "the same [connectome], time step and mesh as the checkpointed run"
        steps = np.asarray(state.get("delay_steps", np.zeros(0)))
        if steps.shape != self.delay_steps.shape or not np.array_equal(steps, self.delay_steps):
            raise refuse(key, "connectome history", "the delays in time steps differ", allowed)
        dt = float(np.asarray(state["dt"]).ravel()[0])
        if abs(dt - self.dt) > 1e-12 * self.dt:
            why = f"it was recorded with steps of {dt!r}, this run takes {self.dt!r}"
            raise refuse(key, "connectome history", why, allowed)
        means = np.asarray(state["means"], dtype=float)
        if means.shape != self.buffer.shape:
            why = f"its shape {means.shape} is not {self.buffer.shape}"
            raise refuse(key, "connectome history", why, allowed)
        self.head = 0
        self.buffer[(-np.arange(self.max_delay + 1)) % (self.max_delay + 1)] = means
        self.t = float(np.asarray(state["t"]).ravel()[0])
        self._cached_at = None

    # ------------------------------------------------------------------ the term

    def _delayed_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Σ_l W_kl V̄_l(t_n − d_kl) and Σ_l W_kl V̄_l(t_n + h − d_kl) over delayed pairs."""
        if self._cached_at != self.t:
            n, slots = self.buffer.shape[1], self.max_delay + 1
            rows = (self.head - self._pair_lag) % slots  # the slot of t_n − n_kl h
            flat = self.buffer.ravel()
            at_n = flat[rows * n + self._pair_column]
            at_next = flat[((rows + 1) % slots) * n + self._pair_column]  # t_n + h − n_kl h
            weight, row = self._pair_weight, self._pair_row
            self._A = np.bincount(row, weights=weight * at_n, minlength=n)
            self._B = np.bincount(row, weights=weight * at_next, minlength=n)
            self._cached_at = self.t
        return self._A, self._B

    def region_term(self, t: float, V: np.ndarray) -> np.ndarray:
        """C_k at the stage time t in [t_n, t_n + h] for the stage state V (one Allreduce)."""
        now = self.means(V)
        c = min(max((t - self.t) / self.dt, 0.0), 1.0)
        A, B = self._delayed_sums()
        return self.G * ((1.0 - c) * A + c * B + self.W_now @ now - self.row_sum * now)

    def term(self, t: float, V: np.ndarray) -> np.ndarray:
        """The coupling on the owned vertices: C_label(i)."""
        return self.region_term(t, V)[self.labels]

    def apply(self, t: float, V: np.ndarray, dV: np.ndarray) -> None:
        """dV += the coupling on the owned vertices."""
        dV += self.term(t, V)
