"""The kinetic model, `fem-fhn compare` and `fem-fhn limit-study` on a surface file (an icosphere
of 162 vertices written as OBJ): mass kept to round-off, the network's distance to the mean field
falling like n^{-1/2} with r(n) from the surface's area, and the hydrodynamic-limit rates."""

import json
import math

import h5py
import meshio
import numpy as np
import pytest

from fem_fhn.cli import EXIT_BAD_INPUT, main
from fem_fhn.surface import icosphere

SPHERE = icosphere(2)

COMMON = """
[mesh]
source = "sphere.obj"
[rho0]
value = "1 + 0.3*z"
[kernel]
type = "gaussian"
width = 0.5
distance = "{distance}"
[initial]
V = "-0.5 + 1.5/(1 + exp(-z/0.3))"
W = "-0.2 + 0.05*x"
[output]
formats = ["xdmf"]
png = false
gif = false
progress = false
"""

KINETIC = """
[solver]
model = "kinetic"
[kinetic]
eps = {eps}
n_v = {n_v}
n_w = {n_w}
sigma_v = 0.4
sigma_w = 0.2
transport_scheme = "ssprk2"
[time]
t_end = {t_end}
dt = "auto"
n_outputs = {n_outputs}
"""

COMPARE = """
[kinetic]
eps = 0.05
n_v = 16
n_w = 8
sigma_v = 0.2
sigma_w = 0.1
[network]
eps = 0.05
neighbours = 20
[time]
t_end = 0.2
dt = 0.005
scheme = "imex-ars222"
n_outputs = 2
"""


@pytest.fixture
def folder(tmp_path):
    meshio.write_points_cells(
        str(tmp_path / "sphere.obj"), SPHERE.vertices, [("triangle", SPHERE.triangles)]
    )
    return tmp_path


def write(folder, name: str, tail: str, distance: str = "euclidean", **fields):
    path = folder / f"{name}.toml"
    path.write_text(COMMON.format(distance=distance) + tail.format(**fields))
    return str(path)


def area() -> float:
    x = SPHERE.vertices[SPHERE.triangles]
    return float(np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1).sum() / 2)


def test_kinetic_run_on_a_sphere_keeps_the_mass(folder):
    """`fem-fhn run` with the kinetic model on a coarse (16 × 8) velocity grid: ρ = ∫∫ f at every
    node and output time equals ρ0 = 1 + 0.3 z to round-off, with x, y, z in the field file."""
    config = write(folder, "kinetic", KINETIC, eps=1e-3, n_v=16, n_w=8, t_end=0.2, n_outputs=2)
    out = folder / "kinetic"
    assert main(["run", config, "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "kinetic_fhn" and summary["kinetic"]["grid"]["v"][2] == 16
    with h5py.File(out / "fields.h5") as f:
        geometry = f["Mesh/mesh/geometry"][...]
        rho = [f["Function/rho"][t][...].ravel() for t in f["Function/rho"]]
        V = [f["Function/V"][t][...].ravel() for t in f["Function/V"]]
    assert geometry.shape == (len(SPHERE.vertices), 3)
    assert len(rho) == 3 and np.ptp(V[-1]) > 1.0
    for values in rho:
        np.testing.assert_allclose(values, 1 + 0.3 * geometry[:, 2], rtol=0, atol=1e-14)


def test_compare_on_a_sphere(folder):
    """Network (n = 300, 1 000, 3 000) against the kinetic and nonlocal models on the sphere:
    r(n) = (20 |S| / (π n))^{1/2} from the polyhedron's area, distances falling like n^{-1/2}
    (measured slope −0.51)."""
    config = write(folder, "compare", COMPARE)
    out = folder / "compare"
    ns = [300, 1000, 3000]
    assert main(["compare", config, "--n", *map(str, ns), "--out", str(out)]) == 0
    result = json.loads((out / "compare.json").read_text())
    expected = [math.sqrt(20 * area() / (math.pi * n)) for n in ns]
    assert result["radius"] == pytest.approx(expected, rel=1e-12)
    for name in ("macro", "kinetic"):
        sup = np.array(result["sup"][name])
        assert np.all(np.diff(sup) < 0), (name, sup)
        assert -0.8 < result["slope"][name] < -0.3
    assert result["kinetic_vs_macro_sup"] < 0.2 * min(result["sup"]["macro"])
    assert (out / "compare.png").stat().st_size > 10_000


def test_compare_refuses_geodesic_kernels(folder, capsys):
    config = write(folder, "geodesic", COMPARE, distance="geodesic")
    out = folder / "geodesic"
    assert main(["compare", config, "--n", "100", "--out", str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "kernel.distance = 'geodesic' is not allowed with fem-fhn compare" in err
    assert "\n" not in err and not out.exists()


def test_limit_study_on_a_sphere(folder):
    """Kinetic → nonlocal on the sphere (d = 2): sup_t H falls much faster than the theorem's
    ε^{1/8} (measured ε^0.83) and clears 10 × the velocity-grid floor at every ε."""
    config = write(folder, "limit", KINETIC, eps=0.1, n_v=16, n_w=8, t_end=0.2, n_outputs=2)
    out = folder / "limit"
    assert main(["limit-study", config, "--eps", "0.4", "0.2", "0.1", "--out", str(out)]) == 0
    result = json.loads((out / "limit_rate.json").read_text())
    assert result["dim"] == 2 and result["theorem_rate"] == pytest.approx(1 / 8)
    assert result["window"] == [0.4, 0.2, 0.1] and result["rate"] > 0.6
    sup = np.array(result["sup_relative_entropy"])
    assert np.all(np.diff(sup) < 0) and sup.min() > 10 * result["floor"]
    assert result["quantities"]["int_dissipation"]["rate"] > 0.3
    assert result["bounded"]["sup_moment4"]["max_over_min"] < 1.5
