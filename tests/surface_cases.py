"""Broken versions of a clean triangle surface, one per problem `check_surface` names, with the
words its one-line refusal must contain."""

import numpy as np

from fem_fhn.surface import Surface

#: (kind, words of the refusal)
BAD_SURFACES = [
    ("duplicate vertex", "duplicates"),
    ("zero area", "triangle 7"),
    ("repeated index", "triangle 3"),
    ("non-manifold", "non-manifold"),
    ("orientation", "opposite orientations"),
    ("nan", "vertex 9"),
    ("index out of range", "triangle 4"),
]


def broken(sphere: Surface, kind: str) -> Surface:
    """`sphere` with one problem of the given kind (see BAD_SURFACES)."""
    v, t = sphere.vertices.copy(), sphere.triangles.copy()
    if kind == "duplicate vertex":
        v = np.vstack([v, v[5]])
        t[0, 0] = len(v) - 1 if t[0, 0] == 5 else t[0, 0]
    elif kind == "zero area":
        v[t[7, 2]] = 0.5 * (v[t[7, 0]] + v[t[7, 1]])
    elif kind == "repeated index":
        t[3, 1] = t[3, 0]
    elif kind == "non-manifold":
        a, b = t[0, 0], t[0, 1]
        v = np.vstack([v, [0.0, 0.0, 0.1]])
        t = np.vstack([t, [a, b, len(v) - 1]])
    elif kind == "orientation":
        t[11] = t[11, ::-1]
    elif kind == "nan":
        v[9, 2] = np.nan
    elif kind == "index out of range":
        t[4, 2] = len(v) + 3
    return Surface(v, t)
