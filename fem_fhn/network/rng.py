"""Counter-based random numbers drawn by global particle id (rank-independent by construction).

Every random number of the network (positions, initial spread, kinetic rejection sampling, noise
increments) is a pure function of (seed, stream, counter, id):

    key = S(S(S(seed) + stream) + counter),        u(id) = ((S(key + γ·(id + 1)) >> 11) + ½) · 2⁻⁵³,

where S is the SplitMix64 finaliser and γ = 0x9E3779B97F4A7C15 (Steele, Lea & Flood, "Fast
splittable pseudorandom number generators", OOPSLA 2014): for a fixed key, u(0), u(1), … is the
SplitMix64 sequence started at `key`. All arithmetic is modulo 2⁶⁴. Uniforms lie in the open
interval (0, 1) (never 0 or 1, so logarithms are safe).

Because nothing depends on which rank evaluates which id, or in what order, the particles, their
initial states and the noise are the same on any number of MPI ranks, and each rank only draws
the numbers of the particles it owns.

Streams used by the package (`STREAMS`): cell choice, in-cell position, initial spread, kinetic
rejection sampling and noise increments; counters number the variates within a stream (or the
time step, for noise).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["STREAMS", "exponentials", "normals", "uniforms"]

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)

#: stream numbers of the random variates the network draws
STREAMS = {"cell": 1, "in_cell": 2, "spread": 3, "kinetic": 4, "noise": 5}


def _mix_int(z: int) -> int:
    """SplitMix64 finaliser on a Python int (modulo 2⁶⁴)."""
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (numpy array arithmetic wraps modulo 2⁶⁴)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _key(seed: int, stream: int, counter: int) -> int:
    return _mix_int(_mix_int(_mix_int(int(seed)) + int(stream)) + int(counter))


def uniforms(seed: int, stream: int, counter: int, ids: np.ndarray) -> np.ndarray:
    """One uniform variate in (0, 1) per id, a pure function of (seed, stream, counter, id).

    Args:
        seed: user seed (any integer; reduced modulo 2⁶⁴).
        stream: which kind of variate (see `STREAMS`).
        counter: index of the variate within the stream (e.g. the time step).
        ids: global particle ids (non-negative integers), any shape.

    Returns:
        float64 array shaped like ids.
    """
    ids = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    key = np.uint64(_key(seed, stream, counter))
    z = _mix(key + np.uint64(_GAMMA) * (ids + np.uint64(1)))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def normals(seed: int, stream: int, counter: int, ids: np.ndarray) -> np.ndarray:
    """Standard normal variates per id (Box–Muller on the uniforms of counters 2c and 2c + 1)."""
    u1 = uniforms(seed, stream, 2 * counter, ids)
    u2 = uniforms(seed, stream, 2 * counter + 1, ids)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)


def exponentials(seed: int, stream: int, counter: int, ids: np.ndarray) -> np.ndarray:
    """Standard exponential variates per id, −log u."""
    return -np.log(uniforms(seed, stream, counter, ids))
