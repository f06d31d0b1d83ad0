"""Geodesic distances within a cutoff: great circles on a sphere, straight lines on a plane, and
the compiled march against a plain Dijkstra-queue twin."""

import heapq

import numpy as np
import pytest

from fem_fhn.geodesic import geodesic_neighbours, triangle_update
from fem_fhn.surface import icosphere


@pytest.mark.parametrize("level", [3, 4])
def test_sphere_distances_within_one_percent_of_great_circles(level):
    R, cutoff = 10.0, 5.0
    s = icosphere(level, R)
    D = geodesic_neighbours(s.vertices, s.triangles, cutoff).tocoo()
    cosine = np.einsum("ij,ij->i", s.vertices[D.row], s.vertices[D.col]) / R**2
    exact = R * np.arccos(np.clip(cosine, -1.0, 1.0))
    far = D.row != D.col
    rel = np.abs(D.data[far] - exact[far]) / exact[far]
    assert rel.max() < 0.01, rel.max()
    assert np.abs(D.data - exact).max() < 0.02 * 2.0 ** (3 - level)
    # every vertex within the cutoff is found (and a little beyond it, on the mesh's distance)
    inside = np.arccos(np.clip(s.vertices @ s.vertices.T / R**2, -1, 1)) * R <= 0.99 * cutoff
    assert inside.sum() <= D.nnz and (D.data <= cutoff).all()


def test_plane_distances_are_euclidean_away_from_the_edges():
    n = 41
    x, y = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n), indexing="ij")
    vertices = np.column_stack([x.ravel(), y.ravel()])
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = (
        idx[:-1, :-1].ravel(),
        idx[1:, :-1].ravel(),
        idx[1:, 1:].ravel(),
        idx[:-1, 1:].ravel(),
    )
    triangles = np.vstack([np.c_[a, b, c], np.c_[a, c, d]])
    source = idx[n // 2, n // 2]
    D = geodesic_neighbours(vertices, triangles, 0.3, sources=[source]).tocoo()
    exact = np.linalg.norm(vertices[D.col] - vertices[source], axis=1)
    assert np.abs(D.data - exact).max() < 0.02 * 0.3
    assert D.data[D.col == source][0] == 0.0


def test_triangle_update_is_exact_for_a_point_source_on_a_plane():
    rng = np.random.default_rng(3)
    for _ in range(100):
        a, b = np.r_[0.0, 0.0, 0.0], np.r_[1.0, 0.0, 0.0]
        c = np.r_[rng.uniform(0.2, 0.8), rng.uniform(0.3, 1.0), 0.0]
        s = np.r_[rng.uniform(0.2, 0.8), -rng.uniform(0.5, 3.0), 0.0]
        d = triangle_update(a, b, c, np.linalg.norm(a - s), np.linalg.norm(b - s))
        assert abs(d - np.linalg.norm(c - s)) < 1e-12


def _plain_march(vertices, triangles, cutoff, source):
    """A plain-Python twin of the march: Dijkstra's queue of (distance, vertex) pairs (`heapq`,
    stale pairs skipped), every triangle around a final vertex updated through `triangle_update`
    (or along the edge when its third vertex is not final). Returns the distances and the order
    in which the vertices became final."""
    around = [[] for _ in vertices]
    for t, triangle in enumerate(triangles):
        for v in triangle:
            around[v].append(t)
    dist = {int(source): 0.0}
    final = {}
    queue = [(0.0, int(source))]
    while queue:
        d, v = heapq.heappop(queue)
        if v in final or d > dist[v]:
            continue
        final[v] = len(final)
        for t in around[v]:
            for c in map(int, triangles[t]):
                if c in final:
                    continue
                o = int(sum(triangles[t])) - v - c
                if o in final:
                    dc = triangle_update(vertices[v], vertices[o], vertices[c], d, dist[o])
                else:
                    dc = d + float(np.linalg.norm(vertices[v] - vertices[c]))
                if dc < dist.get(c, np.inf) and dc <= cutoff:
                    dist[c] = dc
                    heapq.heappush(queue, (dc, c))
    return dist, list(final)


def test_march_equals_a_plain_dijkstra_queue_bitwise():
    """The compiled march (precomputed corners, indexed heap) gives every distance of the plain
    twin exactly, on a sphere (many equal distances: ties go by vertex index) and on a jittered
    one; unsorted rows hold the same entries in the order the vertices became final."""
    rng = np.random.default_rng(5)
    for jitter in (0.0, 0.05):
        s = icosphere(2, 10.0)
        vertices = s.vertices * (1.0 + jitter * rng.standard_normal((len(s.vertices), 1)))
        D = geodesic_neighbours(vertices, s.triangles, 6.0)
        unsorted = geodesic_neighbours(vertices, s.triangles, 6.0, sort=False)
        for source in range(len(vertices)):
            span = slice(D.indptr[source], D.indptr[source + 1])
            twin, order = _plain_march(vertices, s.triangles, 6.0, source)
            assert D.indices[span].tolist() == sorted(twin)
            assert D.data[span].tolist() == [twin[v] for v in sorted(twin)]
            assert unsorted.indices[span].tolist() == order
            assert unsorted.data[span].tolist() == [twin[v] for v in order]
