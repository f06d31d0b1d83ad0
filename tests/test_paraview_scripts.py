"""The ParaView scripts' plain-Python parts: which file of a run they open, where they find their
helper, and the picture statistics `make test-paraview` checks (ParaView itself is not needed)."""

import sys
from pathlib import Path

import numpy as np
import pytest

PARAVIEW_DIR = Path(__file__).parents[1] / "demos" / "paraview"
SCRIPTS = sorted(PARAVIEW_DIR.glob("demo_*.py"))
sys.path.insert(0, str(PARAVIEW_DIR))
import check_scripts as cs  # noqa: E402
import fem_fhn_paraview as fp  # noqa: E402

FILES = ("fields.bp", "vtk/fields.pvd", "fields.xdmf")


def make_run(folder: Path, present: tuple[str, ...]) -> Path:
    for name in present:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("")
    return folder


@pytest.mark.parametrize(
    ("present", "have_vtx", "expected"),
    [
        (FILES, True, ("fields.bp", "ADIOS2VTXReader")),
        (FILES, False, ("vtk/fields.pvd", "PVDReader")),
        (("fields.bp", "fields.xdmf"), False, ("fields.xdmf", "Xdmf3ReaderT")),
        (("vtk/fields.pvd", "fields.xdmf"), True, ("vtk/fields.pvd", "PVDReader")),
        (("fields.xdmf",), True, ("fields.xdmf", "Xdmf3ReaderT")),
    ],
)
def test_choose_source(tmp_path, present, have_vtx, expected):
    path, reader = fp.choose_source(make_run(tmp_path, present), have_vtx)
    assert (path, reader) == (tmp_path / expected[0], expected[1])


def test_choose_source_refuses_what_it_cannot_open(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ADIOS2VTXReader"):
        fp.choose_source(make_run(tmp_path, ("fields.bp",)), have_vtx=False)
    with pytest.raises(FileNotFoundError, match="run the demo first"):
        fp.choose_source(tmp_path / "missing", have_vtx=True)


def test_run_folder():
    assert fp.run_folder(["s.py", "a/b"], "out/x", {}) == Path("a/b")
    assert fp.run_folder(["s.py"], "out/x", {}) == Path("out/x")
    assert fp.run_folder([""], "out/x", {}) == Path("out/x")  # the GUI's sys.argv
    assert fp.run_folder([], "out/x", {"RUN_FOLDER": "/r"}) == Path("/r")
    assert fp.run_folder(["s.py", "a/b"], "out/x", {"RUN_FOLDER": "/r"}) == Path("/r")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_settings(script):
    run, picture, clipped = cs.script_settings(script)
    assert run.startswith(f"out/{script.stem}")
    assert picture and "/" not in picture
    text = script.read_text()
    assert "fp.open_run(folder)" in text and "Reader(" not in text  # opening is the helper's
    # the picture check compares with the half y >= 0 exactly when the script draws the clip
    assert clipped == ("fp.show_clip_and_front(" in text)
    assert clipped != ("fp.show_surface_and_front(" in text)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("code_name", ["script", "<string>"])
def test_script_finds_helper_without_file(script, code_name, tmp_path, monkeypatch):
    """As in the GUI's Python shell: no __file__. The code's own file name finds the helper;
    without one (pasted lines) the working directory must be the repository."""
    head = script.read_text().split("folder = fp.run_folder")[0]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(PARAVIEW_DIR)])
    monkeypatch.delitem(sys.modules, "fem_fhn_paraview")
    monkeypatch.chdir(tmp_path if code_name == "script" else PARAVIEW_DIR.parents[1])
    namespace = {"__name__": "__main__"}
    exec(compile(head, str(script) if code_name == "script" else code_name, "exec"), namespace)
    assert Path(namespace["fp"].__file__) == PARAVIEW_DIR / "fem_fhn_paraview.py"


TABLE = cs.colour_map_table()
V_LO, V_HI = fp.V_RANGE


def value_colours(v: np.ndarray) -> np.ndarray:
    """The colour-map colour of each V (nearest table entry)."""
    k = np.round((v - V_LO) / (V_HI - V_LO) * (len(TABLE) - 1)).astype(int)
    return TABLE[k]


def test_read_values_of_shaded_colours():
    """Table colours scaled by a shading factor 0.3..1 are read back as their own V."""
    v = np.linspace(V_LO, V_HI, len(TABLE))
    rng = np.random.default_rng(1)
    shade = rng.uniform(0.3, 1.0, size=(len(v), 1))
    values, mapped = cs.read_values(TABLE * shade, TABLE, fp.V_RANGE)
    assert mapped.all()
    np.testing.assert_allclose(values, v, atol=1e-12)
    grey = np.array([[0.3, 0.3, 0.3], [0.02, 0.0, 0.03], [0.85, 0.2, 0.1]])  # outline, dark, front
    assert not cs.read_values(grey, TABLE, fp.V_RANGE)[1].any()


def picture(v_low: float, v_high: float) -> np.ndarray:
    """A white 300 x 400 image: a shaded band of V from v_low to v_high, a front-coloured blob,
    a grey line and the whole colour map in the scalar bar's box."""
    image = np.ones((300, 400, 3))
    v = np.linspace(v_low, v_high, 200)
    shade = np.linspace(0.5, 1.0, 100)[:, None, None]
    image[100:200, 50:250] = value_colours(v)[None, :, :] * shade
    image[120:140, 260:300] = fp.FRONT_COLOUR
    image[250, 20:300] = 0.3
    x0, y0, x1, y1 = fp.SCALAR_BAR_BOX
    rows = slice(int(300 * (1 - y1)) + 1, int(300 * (1 - y0)) - 1)
    bar = value_colours(np.linspace(V_HI, V_LO, rows.stop - rows.start))
    image[rows, int(400 * x0) + 1 : int(400 * x0) + 10] = bar[:, None, :]
    return image


def test_picture_stats_read_the_range_shown():
    stats = cs.picture_stats(picture(-0.7, 1.0), TABLE)
    step = (V_HI - V_LO) / (len(TABLE) - 1)
    assert stats.v_low == pytest.approx(-0.7, abs=step)
    assert stats.v_high == pytest.approx(1.0, abs=step)  # the scalar bar's 1.2 is left out
    assert stats.domain == pytest.approx((100 * 200 + 20 * 40 + 280) / (300 * 400 - 270 * 56))
    assert stats.mapped == pytest.approx(100 * 200 / (100 * 200 + 20 * 40 + 280))
    assert stats.colours > 1000
    assert cs.failures(stats, (-0.69, 0.98)) == []
    assert [f.split(" V")[0] for f in cs.failures(stats, (-1.1, 1.0))] == ["lowest"]
    assert [f.split(" V")[0] for f in cs.failures(stats, (-0.7, 0.5))] == ["highest"]


def test_blank_and_flat_pictures_fail():
    blank = cs.picture_stats(picture(0.0, 0.0) * 0 + 1.0, TABLE)
    assert blank.domain == 0.0 and np.isnan(blank.v_low)
    assert len(cs.failures(blank, (-0.7, 1.0))) == 5
    flat = picture(-0.5, -0.5)
    flat[:, :300] = np.where(np.all(flat[:, :300] < 0.98, axis=-1)[..., None], TABLE[100], 1.0)
    found = cs.failures(cs.picture_stats(flat, TABLE), (-0.7, 1.0))
    assert any("colours in the domain" in f for f in found)
    assert any(f.startswith("highest") for f in found)
