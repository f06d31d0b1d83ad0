"""Region labels from parcellations with a label table: FreeSurfer annotations (`*.annot`) and
GIfTI label files (`*.label.gii`), written by nibabel here. Matched to the connectome's region
names when it has them, else in the order of the file's label table; a run with an annotation
equals the run with the same labels as integers; unlabelled vertices and labels that name no
region are refused with one line before anything is written.

Two hemispheres: one label file per surface file of the mesh (lh and rh annotations naming their
regions alike, matched to a connectome that names them per hemisphere) equals the run with the
concatenated integer labels; a file of the wrong length, a list of the wrong length and names
that match no region are refused."""

import hashlib
import tomllib
import zipfile
from pathlib import Path

import nibabel
import numpy as np
import pytest
from mpi4py import MPI

from fem_fhn.checkpoint import inputs
from fem_fhn.cli import EXIT_BAD_INPUT, main
from fem_fhn.config import load_config, parse_config
from fem_fhn.connectome import read_labels, read_tvb_zip
from fem_fhn.connectome.output import read_series
from fem_fhn.meshes import sphere_brain_path
from fem_fhn.params import ParameterError
from fem_fhn.runner import run
from fem_fhn.surface import icosphere

#: the made-up brain's 8 regions, in the connectome's order
NAMES = read_tvb_zip(sphere_brain_path("connectivity.zip")).names
#: its region per vertex (2 562 vertices)
REGIONS = np.loadtxt(sphere_brain_path("region_mapping.txt"), dtype=np.int64)


def write_annot(path, regions, table_names):
    """A FreeSurfer annotation whose label table lists `table_names` in that order, each vertex
    labelled with the entry of its region's name (−1: no entry, written as the value 0)."""
    position = {name: j for j, name in enumerate(table_names)}
    entries = np.array([position[NAMES[k]] if k >= 0 else -1 for k in regions])
    ctab = np.array([[10 * (j + 1), 20, 30, 0, 0] for j in range(len(table_names))])
    nibabel.freesurfer.write_annot(str(path), entries, ctab, list(table_names), fill_ctab=True)


def write_label_gii(path, keys, table):
    """A GIfTI label file: `keys` per vertex and the label table [(key, name), ...]."""
    from nibabel.gifti import GiftiDataArray, GiftiImage, GiftiLabel, GiftiLabelTable

    labels = GiftiLabelTable()
    for key, name in table:
        label = GiftiLabel(key=key)
        label.label = name
        labels.labels.append(label)
    array = GiftiDataArray(
        np.asarray(keys, dtype=np.int32), intent="NIFTI_INTENT_LABEL", datatype="NIFTI_TYPE_INT32"
    )
    nibabel.save(GiftiImage(labeltable=labels, darrays=[array]), str(path))


def _one_line(err, start: str) -> str:
    message = str(err.value)
    assert "\n" not in message and message.startswith(start), message
    return message


def test_annotation_maps_by_name_or_in_table_order(tmp_path):
    """Reversed table: by name the regions come back; without names entry j is region j."""
    table = NAMES[::-1]
    write_annot(tmp_path / "lh.test.annot", REGIONS, table)
    by_name = read_labels(tmp_path / "lh.test.annot", 8, names=NAMES)
    assert by_name.dtype == np.int64 and np.array_equal(by_name, REGIONS)
    in_order = read_labels(tmp_path / "lh.test.annot", 8)
    assert np.array_equal(in_order, 7 - REGIONS)
    with pytest.raises(ParameterError) as err:  # a table longer than the regions, no names
        read_labels(tmp_path / "lh.test.annot", 6)
    assert "outside the regions" in _one_line(err, "connectome.labels = ")


def test_gifti_label_file_maps_by_name_or_in_table_order(tmp_path, rng):
    """Keys that are not 0..n-1 (a table in its own order): entries by key, then by name."""
    keys = [40 + 3 * j for j in range(8)]
    order = rng.permutation(8)  # table entry j holds region order[j]
    table = [(keys[j], NAMES[order[j]]) for j in range(8)]
    entry_of_region = np.argsort(order)
    write_label_gii(
        tmp_path / "lh.test.label.gii", [keys[e] for e in entry_of_region[REGIONS]], table
    )
    assert np.array_equal(read_labels(tmp_path / "lh.test.label.gii", 8, names=NAMES), REGIONS)
    in_order = read_labels(tmp_path / "lh.test.label.gii", 8)
    assert np.array_equal(in_order, entry_of_region[REGIONS])
    write_label_gii(tmp_path / "bad.label.gii", [keys[0], 7, keys[1], 8], table)
    with pytest.raises(ParameterError) as err:
        read_labels(tmp_path / "bad.label.gii", 8)
    assert "2 of 4 vertices are unlabelled" in _one_line(err, "connectome.labels = ")


RUN = """
[mesh]
source = "{cortex}"
[kernel]
type = "gaussian"
width = 10.0
strength = 2.0
[initial]
V = "1.0 if z > 40 else -0.69248"
W = -0.36042
[output]
png = false
gif = false
progress = false
formats = []
[time]
t_end = 0.4
dt = 0.05
n_outputs = 2
scheme = "heun"
[connectome]
zip = "{connectivity}"
labels = "{labels}"
speed = 40.0
G = 1.0
"""


def _write_config(folder, labels: str):
    text = RUN.format(
        cortex=sphere_brain_path("cortex.zip"),
        connectivity=sphere_brain_path("connectivity.zip"),
        labels=labels,
    )
    path = folder / f"{labels}.toml"
    path.write_text(text)
    return path


def test_run_with_an_annotation_equals_the_run_with_integer_labels(tmp_path):
    """The same run twice: labels from region_mapping as .npy, and from an annotation whose
    table is in reversed order (matched by the connectome's names)."""
    np.save(tmp_path / "regions.npy", REGIONS)
    write_annot(tmp_path / "lh.test.annot", REGIONS, NAMES[::-1])
    results = {}
    for labels in ("regions.npy", "lh.test.annot"):
        config = _write_config(tmp_path, labels)
        data = tomllib.loads(config.read_text())
        summary = run(parse_config(data, tmp_path), tmp_path / f"out_{labels}", MPI.COMM_SELF)
        assert summary["status"] == "completed"
        out = tmp_path / f"out_{labels}"
        diagnostics = np.loadtxt(out / "diagnostics.csv", delimiter=",", skiprows=1)
        results[labels] = (*read_series(out / "regions.csv"), diagnostics)
    t, regions, names, diagnostics = results["regions.npy"]
    t_annot, regions_annot, names_annot, diagnostics_annot = results["lh.test.annot"]
    assert names == names_annot == list(NAMES) and np.array_equal(t, t_annot)
    assert np.ptp(regions[0]) > 1 and np.abs(regions[-1] - regions[0]).max() > 0.01  # they move
    assert np.abs(regions_annot - regions).max() <= 1e-14
    assert np.abs(diagnostics_annot - diagnostics).max() <= 1e-14


def _refused(tmp_path, labels, capsys) -> str:
    config = _write_config(tmp_path, labels)
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == EXIT_BAD_INPUT
    assert not out.exists()
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_unlabelled_vertices_are_refused(tmp_path, capsys):
    regions = REGIONS.copy()
    regions[[3, 100, 2000]] = -1
    write_annot(tmp_path / "lh.holes.annot", regions, NAMES)
    err = _refused(tmp_path, "lh.holes.annot", capsys)
    assert "connectome.labels = 'lh.holes.annot' is not allowed" in err
    assert "3 of 2562 vertices are unlabelled" in err


def test_labels_that_name_no_region_are_refused(tmp_path, capsys):
    """Two entries of the table renamed (names of FreeSurfer's aparc): listed in table order."""
    table = list(NAMES)
    table[0], table[5] = "precentral", "bankssts"
    ctab = np.array([[10 * (j + 1), 20, 30, 0, 0] for j in range(8)])
    nibabel.freesurfer.write_annot(str(tmp_path / "lh.aparc.annot"), REGIONS, ctab, table)
    err = _refused(tmp_path, "lh.aparc.annot", capsys)
    assert "connectome.labels = 'lh.aparc.annot' is not allowed" in err
    assert "the labels 'precentral', 'bankssts' are not regions of the connectome" in err


# ------------------------------------------------------------ two hemispheres, one file each

#: a hemisphere's parcellation: the same names in lh.*.annot and rh.*.annot
PARTS = ("south", "middle", "north")
#: the connectome's regions, named per hemisphere, in an order of their own
BRAIN = ("ctx-rh-north", "ctx-lh-south", "ctx-lh-north", "ctx-rh-middle", "ctx-rh-south",
         "ctx-lh-middle")  # fmt: skip
SPHERE = icosphere(2, radius=30.0)  # 162 vertices
#: part (index in PARTS) of each vertex of a hemisphere
PART = np.digitize(SPHERE.vertices[:, 2], [-10.0, 10.0])


def write_hemispheres(folder, rng) -> np.ndarray:
    """lh.pial and rh.pial (spheres 100 mm apart), a TVB zip with BRAIN's names and delays, and
    the hemispheres' annotations, each table in its own order; returns the region per vertex
    of the merged mesh (lh then rh)."""
    for hemi, shift in (("lh", -50.0), ("rh", 50.0)):
        vertices = SPHERE.vertices + [shift, 0.0, 0.0]
        nibabel.freesurfer.write_geometry(str(folder / f"{hemi}.pial"), vertices, SPHERE.triangles)
    for hemi, table in (("lh", PARTS), ("rh", PARTS[::-1])):
        entries = np.array([table.index(PARTS[p]) for p in PART])
        ctab = np.array([[40 * (j + 1), 20, 30, 0, 0] for j in range(3)])
        path = folder / f"{hemi}.aparc.annot"
        nibabel.freesurfer.write_annot(str(path), entries, ctab, list(table), fill_ctab=True)
    n = len(BRAIN)
    weights, lengths = rng.random((n, n)), 2.0 + 10.0 * rng.random((n, n))  # delays 1-6 steps
    with zipfile.ZipFile(folder / "brain.zip", "w") as z:
        for name, matrix in (("weights.txt", weights), ("tract_lengths.txt", lengths)):
            z.writestr(name, "\n".join(" ".join(repr(float(x)) for x in row) for row in matrix))
        z.writestr("centres.txt", "".join(f"{name} 0.0 0.0 0.0\n" for name in BRAIN))
    return np.concatenate(
        [[BRAIN.index(f"ctx-{hemi}-{PARTS[p]}") for p in PART] for hemi in ("lh", "rh")]
    )


TWO = RUN.replace('source = "{cortex}"', 'source = ["lh.pial", "rh.pial"]').replace(
    'V = "1.0 if z > 40 else -0.69248"', 'V = "1.0 if z > 10 and x > 0 else -0.69248"'
)


def _write_two(folder, name: str, labels) -> object:
    """The two-hemisphere config with connectome.labels = `labels` (a file or a list)."""
    text = TWO.replace('labels = "{labels}"', f"labels = {labels!r}".replace("'", '"'))
    path = folder / f"{name}.toml"
    path.write_text(text.format(connectivity="brain.zip"))
    return path


def test_label_files_per_hemisphere_match_prefixed_names(tmp_path, rng):
    """The annotations by name (exact, then the hemisphere's prefixes); without names the rh
    table's entries are numbered after the lh table's; connectivity_68's l_/r_ names."""
    regions = write_hemispheres(tmp_path, rng)
    files = [tmp_path / "lh.aparc.annot", tmp_path / "rh.aparc.annot"]
    assert np.array_equal(read_labels(files, 6, names=BRAIN), regions)
    by_table = np.concatenate([PART, 2 - PART + 3])  # rh's table is reversed, after lh's 3
    assert np.array_equal(read_labels(files, 6), by_table)
    tvb68 = tuple(f"{h}_{p}" for h in "rl" for p in PARTS)  # as tvb-data's connectivity_68
    assert np.array_equal(read_labels(files, 6, names=tvb68), np.concatenate([PART + 3, PART]))
    exact = ("middle", "north", "south")  # a name itself first: both hemispheres in one region
    assert np.array_equal(read_labels(files, 3, names=exact), np.tile((PART + 2) % 3, 2))


def test_run_with_two_annotations_equals_the_run_with_integer_labels(tmp_path, rng, capsys):
    """lh.aparc.annot + rh.aparc.annot through the CLI against the concatenated .npy labels."""
    np.save(tmp_path / "regions.npy", write_hemispheres(tmp_path, rng))
    results = {}
    for name, labels in (("npy", "regions.npy"), ("annot", ["lh.aparc.annot", "rh.aparc.annot"])):
        config, out = _write_two(tmp_path, name, labels), tmp_path / f"out_{name}"
        assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0, capsys.readouterr()
        results[name] = read_series(out / "regions.csv")
    t, regions, names = results["npy"]
    t_annot, regions_annot, names_annot = results["annot"]
    assert names == names_annot == list(BRAIN) and np.array_equal(t, t_annot)
    assert np.abs(regions[-1] - regions[0]).max() > 0.01  # the regions move
    assert np.abs(regions_annot - regions).max() <= 1e-14
    hashed = inputs(load_config(config))  # what a checkpoint checks on restart: each file
    for i, hemi in enumerate(("lh", "rh")):
        entry = hashed[f"connectome.labels[{i}]"]
        assert entry["path"] == str(tmp_path / f"{hemi}.aparc.annot")
        assert entry["sha256"] == hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()


def _refused_two(folder, labels, capsys) -> str:
    config, out = _write_two(folder, "bad", labels), folder / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == EXIT_BAD_INPUT
    assert not out.exists()
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("fem-fhn: error: connectome.labels = ["), err
    return err


def test_label_files_that_do_not_fit_the_surfaces_are_refused(tmp_path, rng, capsys):
    """A file of another length than its surface, a list longer or shorter than mesh.source,
    names that match no region in either file (listed per file)."""
    write_hemispheres(tmp_path, rng)
    small = np.digitize(icosphere(1, 30.0).vertices[:, 2], [-10.0, 10.0])  # 42 vertices
    ctab = np.array([[40 * (j + 1), 20, 30, 0, 0] for j in range(3)])
    nibabel.freesurfer.write_annot(str(tmp_path / "rh.small.annot"), small, ctab, list(PARTS))
    err = _refused_two(tmp_path, ["lh.aparc.annot", "rh.small.annot"], capsys)
    assert "'rh.small.annot' has 42 labels, its surface file (mesh.source[1]) has 162" in err
    for labels in (["lh.aparc.annot"], ["lh.aparc.annot", "rh.aparc.annot", "rh.aparc.annot"]):
        err = _refused_two(tmp_path, labels, capsys)
        assert f"{len(labels)} label file(s) for 2 mesh.source file(s)" in err
    for hemi, table in (("lh", ["south", "insula", "north"]), ("rh", ["cuneus", *PARTS[1:]])):
        path = str(tmp_path / f"{hemi}.odd.annot")
        nibabel.freesurfer.write_annot(path, PART, ctab, table)
    err = _refused_two(tmp_path, ["lh.odd.annot", "rh.odd.annot"], capsys)
    assert (
        "not regions of the connectome: 'lh.odd.annot': 'insula'; 'rh.odd.annot': 'cuneus'" in err
    )
