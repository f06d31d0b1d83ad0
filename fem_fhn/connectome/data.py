"""Connectome data: weights, tract lengths and region names; region labels per vertex; sensor
projection matrices. Readers validate what they read and refuse bad input with one line
`<key> = <value> is not allowed: <why>; allowed: <what>`.

Formats:

- a TVB connectivity zip (`connectivity_76.zip` of the `tvb-data` package): `weights.txt`,
  `tract_lengths.txt` and `centres.txt` (one line "name x y z" per region), at the top of the
  archive or in one folder, each optionally compressed as `.txt.bz2`;
- plain matrices: `.npy`, or `.csv`/`.txt` with one row per line (numbers separated by commas
  or spaces);
- region labels: one integer region index per mesh vertex in input node order (`.npy`, `.txt`,
  `.csv`), or a parcellation with a label table: a FreeSurfer annotation (`lh.aparc.annot`, any
  `*.annot`, read by nibabel) or a GIfTI label file (`*.label.gii`, its NIFTI_INTENT_LABEL
  array and label table). A parcellation's labels become region indices by name when the
  connectome names its regions (a TVB zip with `centres.txt`): each label used by a vertex must
  be the name of a region (exactly, case included) or, for a file of one hemisphere, that name
  with one of the hemisphere's prefixes (`HEMISPHERE_PREFIXES`, tried in order after the name
  itself); the others are refused, listed. The hemisphere is read from the file name
  (`hemisphere`: FreeSurfer's `lh.`/`rh.`, BIDS' `hemi-L`/`hemi-R`, HCP's `.L.`/`.R.`), so
  FreeSurfer's `lh.aparc.annot` and `rh.aparc.annot`, which both name "precentral", match the
  regions "l_precentral" and "r_precentral" of tvb-data's connectivity_68, or
  "ctx-lh-precentral" and "ctx-rh-precentral". Without region names (plain matrices) entry j of
  the label table, in the file's order, is region j. A vertex whose value is in no entry of the
  table is unlabelled (nibabel's −1 of FreeSurfer annotations); a file with unlabelled vertices
  is refused, with their number;
- several label files (one per surface file of a mesh merged from several, e.g. both
  hemispheres) are concatenated in their order, as the surfaces' vertices are; each must hold
  one label per vertex of its surface. Integer files hold region indices of the whole
  connectome; without region names the regions of a parcellation's table are numbered after
  those of the tables of the parcellations before it in the list;
- projections: a sensors × vertices matrix (`.npy`, or `.mat` with one 2D numeric array).
"""

from __future__ import annotations

import bz2
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np

from fem_fhn.mesh import load_numbers
from fem_fhn.params import ParameterError

MATRIX_FILES = "a .npy file, or a .csv/.txt file with one matrix row per line"
LABEL_FILES = (
    "one integer region index per vertex (.npy/.txt/.csv), a FreeSurfer .annot or a GIfTI "
    ".label.gii"
)
#: the parcellation formats with a label table (`read_parcellation`)
PARCELLATION_SUFFIXES = (".annot", ".label.gii", ".label.gii.gz")
#: the prefixes a connectome's region names put before a parcellation's label name for each
#: hemisphere, tried in this order after the name itself (`match_names`)
HEMISPHERE_PREFIXES = {
    "lh": ("ctx-lh-", "ctx_lh_", "lh-", "lh_", "lh.", "l_", "L_", "l", "L"),
    "rh": ("ctx-rh-", "ctx_rh_", "rh-", "rh_", "rh.", "r_", "R_", "r", "R"),
}
PROJECTION_FILES = "a .npy file or a .mat file holding one 2D array (sensors x vertices)"


def refuse(key: str, value, why: str, allowed: str) -> ParameterError:
    """The one-line error `key = value is not allowed: why; allowed: allowed`."""
    return ParameterError(f"{key} = {value!r} is not allowed: {why}; allowed: {allowed}")


@dataclass(frozen=True)
class Connectome:
    """Region-to-region coupling data.

    Attributes:
        weights: W, shape (n, n), finite, ≥ 0; W[k, l] weighs region l's input to region k.
        tract_lengths: L, shape (n, n), finite, ≥ 0 (in the mesh's length unit).
        names: one name per region.
    """

    weights: np.ndarray
    tract_lengths: np.ndarray
    names: tuple[str, ...]

    @property
    def n_regions(self) -> int:
        return self.weights.shape[0]

    @property
    def has_names(self) -> bool:
        """Whether the regions are named by the data (not the defaults region0, region1, ...)."""
        return self.names != default_names(self.n_regions)

    def __post_init__(self) -> None:
        check_matrix(self.weights, "connectome.weights", "weights")
        n = self.weights.shape[0]
        check_matrix(self.tract_lengths, "connectome.tract_lengths", "tract lengths")
        if self.tract_lengths.shape != self.weights.shape:
            raise refuse(
                "connectome.tract_lengths",
                f"shape {self.tract_lengths.shape}",
                f"the weights have shape {self.weights.shape}",
                f"a matrix of shape {self.weights.shape}",
            )
        if len(self.names) != n:
            raise refuse(
                "connectome.names",
                f"{len(self.names)} names",
                f"there are {n} regions",
                f"{n} names",
            )


def check_matrix(matrix: np.ndarray, key: str, what: str) -> None:
    """Refuse a matrix that is not square, finite and non-negative."""
    shape = getattr(matrix, "shape", None)
    if matrix.ndim != 2 or shape[0] != shape[1] or shape[0] == 0:
        raise refuse(key, f"shape {shape}", f"the {what} are not a square matrix", MATRIX_FILES)
    bad = ~np.isfinite(matrix)
    if bad.any():
        k, l = np.argwhere(bad)[0]
        raise refuse(key, f"{what}[{k}, {l}] = {matrix[k, l]}", "not finite", "finite numbers")
    if (matrix < 0).any():
        k, l = np.argwhere(matrix < 0)[0]
        raise refuse(key, f"{what}[{k}, {l}] = {matrix[k, l]}", "negative", "numbers >= 0")


def read_matrix(path: Path | str, key: str, value=None) -> np.ndarray:
    """A 2D float matrix from .npy, or from .csv/.txt (one row per line)."""
    path = Path(path)
    shown = str(path) if value is None else value
    if path.suffix == ".npy":
        return load_numbers(path, key, shown, ndim=2)
    if path.suffix not in (".csv", ".txt"):
        raise refuse(key, shown, f"the suffix {path.suffix!r} is not read", MATRIX_FILES)
    if not path.is_file():
        raise refuse(key, shown, f"file {str(path)!r} does not exist", MATRIX_FILES)
    try:
        return parse_matrix(path.read_bytes().decode("utf-8"), key, shown)
    except (OSError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())[:120]
        raise refuse(key, shown, f"the file cannot be read ({reason})", MATRIX_FILES) from None


def parse_matrix(text: str, key: str, shown) -> np.ndarray:
    """Rows of numbers, one per non-empty line, separated by commas or white space."""
    rows = [line.replace(",", " ").split() for line in text.splitlines() if line.strip()]
    lengths = {len(r) for r in rows}
    if not rows or len(lengths) != 1:
        why = "no rows" if not rows else f"rows of different lengths {sorted(lengths)}"
        raise refuse(key, shown, f"the file holds {why}", MATRIX_FILES)
    try:
        matrix = np.array(rows, dtype=float)
    except ValueError as err:
        raise refuse(key, shown, f"not numbers ({err})", MATRIX_FILES) from None
    if not np.all(np.isfinite(matrix)):
        n_bad = int(np.count_nonzero(~np.isfinite(matrix)))
        raise refuse(key, shown, f"it holds {n_bad} non-finite values", "finite numbers")
    return matrix


def _zip_member(archive: zipfile.ZipFile, name: str) -> str | None:
    """The text of `name` (or `name`.bz2) at the top of the archive or in one folder."""
    for member in archive.namelist():
        base = PurePosixPath(member).name
        if base == name:
            return archive.read(member).decode("utf-8")
        if base == name + ".bz2":
            return bz2.decompress(archive.read(member)).decode("utf-8")
    return None


def read_tvb_zip(path: Path | str, key: str = "connectome.zip", value=None) -> Connectome:
    """A TVB connectivity zip: weights.txt, tract_lengths.txt and (optional) centres.txt."""
    path = Path(path)
    shown = str(path) if value is None else value
    allowed = "a TVB connectivity zip with weights.txt and tract_lengths.txt"
    if not path.is_file():
        raise refuse(key, shown, f"file {str(path)!r} does not exist", allowed)
    try:
        with zipfile.ZipFile(path) as archive:
            texts = {n: _zip_member(archive, n) for n in ("weights.txt", "tract_lengths.txt")}
            centres = _zip_member(archive, "centres.txt")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, ValueError) as err:
        reason = " ".join(str(err).split())[:120]
        raise refuse(key, shown, f"the archive cannot be read ({reason})", allowed) from None
    missing = [n for n, text in texts.items() if text is None]
    if missing:
        raise refuse(key, shown, f"the archive has no {' and no '.join(missing)}", allowed)
    weights = parse_matrix(texts["weights.txt"], key, f"{shown}:weights.txt")
    lengths = parse_matrix(texts["tract_lengths.txt"], key, f"{shown}:tract_lengths.txt")
    names = default_names(weights.shape[0])
    if centres is not None:
        lines = [line.split() for line in centres.splitlines() if line.strip()]
        names = tuple(line[0] for line in lines)
    return Connectome(weights, lengths, names)


def default_names(n: int) -> tuple[str, ...]:
    """region0, region1, ..."""
    return tuple(f"region{k}" for k in range(n))


def read_connectome(
    weights: Path | str, tract_lengths: Path | str | None = None, names=None
) -> Connectome:
    """A connectome from plain matrices (no tract lengths: all zero, no delays)."""
    W = read_matrix(weights, "connectome.weights")
    check_matrix(W, "connectome.weights", "weights")
    L = (
        np.zeros_like(W)
        if tract_lengths is None
        else read_matrix(tract_lengths, "connectome.tract_lengths")
    )
    return Connectome(W, L, tuple(names) if names is not None else default_names(W.shape[0]))


def read_labels(
    path: Path | str | list | tuple,
    n_regions: int,
    key: str = "connectome.labels",
    names: tuple[str, ...] | None = None,
    value=None,
    counts: list[int] | None = None,
) -> np.ndarray:
    """Region index per vertex (input node order), integers in [0, n_regions).

    Args:
        path: the labels file, or a list of them concatenated in order (see the module docstring
            for the formats and how names are matched).
        n_regions: the number of regions.
        key, value: the config key and value an error names (value: default the path; for a
            list, a list whose entries name the files).
        names: the connectome's region names, to match a parcellation's labels by name (None:
            entry j of its label table is region j, after the tables of the files before it).
        counts: the number of vertices each file must label (None: not checked here).
    """
    single = not isinstance(path, list | tuple)
    paths = [Path(path)] if single else [Path(p) for p in path]
    if value is None:
        value = str(paths[0]) if single else [str(p) for p in paths]
    shown = [value] if single else list(value)
    parts, unmatched, offset = [], [], 0
    for i, p in enumerate(paths):
        if p.name.endswith(PARCELLATION_SUFFIXES):
            table, table_names = read_parcellation(p, key, shown[i])
            if names is None:
                values, offset = table + offset, offset + len(table_names)
            else:
                values, missing = match_names(table, table_names, names, hemisphere(p))
                if missing:
                    unmatched.append((shown[i], missing))
        else:
            values = load_numbers(p, key, shown[i])
        if counts is not None and values.size != counts[i]:
            why = (
                f"{shown[i]!r} has {values.size} labels, its surface file (mesh.source[{i}]) "
                f"has {counts[i]} vertices"
            )
            raise refuse(key, value, why, "one label per vertex of each surface file")
        parts.append(values)
    if unmatched:
        raise unmatched_error(unmatched, names, key, value)
    return check_labels(np.concatenate(parts), n_regions, key)


def hemisphere(path: Path | str) -> str | None:
    """The hemisphere ("lh" or "rh") a file name shows: FreeSurfer's `lh.`/`rh.` prefix, BIDS'
    `hemi-L`/`hemi-R`, HCP's `.L.`/`.R.`; None for none."""
    name = Path(path).name
    for hemi, side in (("lh", "L"), ("rh", "R")):
        if name.startswith(f"{hemi}.") or f"hemi-{side}" in name or f".{side}." in name:
            return hemi
    return None


def read_parcellation(path: Path, key: str, shown) -> tuple[np.ndarray, list[str]]:
    """Entry of the label table per vertex and the table's names, in order; a file with a vertex
    in no entry (unlabelled: nibabel's −1 of a FreeSurfer annotation) is refused.

    A FreeSurfer annotation stores a packed colour per vertex and a colour table (nibabel's
    `read_annot` with orig_ids=True); a GIfTI label file a key per vertex and a label table.
    """
    try:
        import nibabel  # the `brain` extra (a missing nibabel is refused like a bad file)

        if path.suffix == ".annot":
            values, ctab, raw = nibabel.freesurfer.read_annot(str(path), orig_ids=True)
            codes = ctab[:, -1]
            table_names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in raw]
        else:
            image = nibabel.load(str(path))
            arrays = image.get_arrays_from_intent("NIFTI_INTENT_LABEL")
            if not arrays:
                raise ValueError("the GIfTI file holds no NIFTI_INTENT_LABEL data array")
            values = arrays[0].data
            labels = image.labeltable.labels
            codes = np.array([label.key for label in labels], dtype=np.int64)
            table_names = [str(label.label) for label in labels]
    except Exception as err:  # nibabel raises a plain Exception for a missing colour table
        reason = " ".join(str(err).split())[:120]
        raise refuse(key, shown, f"the file cannot be read ({reason})", LABEL_FILES) from None
    entry = {}  # value -> its first entry in the table
    for j, code in enumerate(np.asarray(codes, dtype=np.int64).tolist()):
        entry.setdefault(code, j)
    distinct, inverse = np.unique(np.asarray(values, dtype=np.int64).ravel(), return_inverse=True)
    table = np.array([entry.get(v, -1) for v in distinct.tolist()], dtype=np.int64)[inverse]
    unlabelled = int(np.count_nonzero(table < 0))
    if unlabelled:
        why = (
            f"{unlabelled} of {table.size} vertices are unlabelled (-1: their value is in no "
            "entry of the file's label table)"
        )
        raise refuse(key, shown, why, "a label of the table on every vertex")
    return table, table_names


def match_names(
    table: np.ndarray, table_names: list[str], names: tuple[str, ...], hemi: str | None
) -> tuple[np.ndarray, list[str]]:
    """Region index per vertex from its label-table entry, by name: a label is the region of
    its own name, else (a file of hemisphere `hemi`) of the first name in
    HEMISPHERE_PREFIXES[hemi] + label that is a region.

    Returns:
        the regions (−1 on vertices whose label matches none) and the unmatched labels used by
        a vertex, in table order.
    """
    index = {name: k for k, name in enumerate(names)}
    prefixes = ("", *HEMISPHERE_PREFIXES.get(hemi, ()))
    regions = np.array(
        [next((index[p + n] for p in prefixes if p + n in index), -1) for n in table_names],
        dtype=np.int64,
    )
    used = np.unique(table)
    return regions[table], [table_names[j] for j in used if regions[j] < 0]


def unmatched_error(
    unmatched: list[tuple[str, list[str]]], names: tuple[str, ...], key: str, value
) -> ParameterError:
    """The one-line refusal of labels that name no region: [(file, its unmatched labels)]."""
    shown_names = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    listed = [", ".join(map(repr, missing)) for _, missing in unmatched]
    if len(unmatched) == 1 and not isinstance(value, list):
        why = f"the labels {listed[0]} are not regions of the connectome"
    else:
        why = "labels that are not regions of the connectome: " + "; ".join(
            f"{file!r}: {labels}" for (file, _), labels in zip(unmatched, listed, strict=True)
        )
    allowed = (
        f"labels named as the connectome's regions ({shown_names}), or in a file of one "
        f"hemisphere with its prefix (lh: {' '.join(HEMISPHERE_PREFIXES['lh'])}; rh alike)"
    )
    return refuse(key, value, why, allowed)


def check_labels(values: np.ndarray, n_regions: int, key: str = "connectome.labels") -> np.ndarray:
    """The labels as int64, refused unless integers in [0, n_regions)."""
    values = np.asarray(values)
    allowed = f"integer region indices 0 <= label < {n_regions} (the number of regions)"
    whole = np.round(values) == values
    if not whole.all():
        i = int(np.argmin(whole))
        raise refuse(key, f"label[{i}] = {values[i]}", "not an integer", allowed)
    outside = (values < 0) | (values >= n_regions)
    if outside.any():
        i = int(np.argmax(outside))
        raise refuse(key, f"label[{i}] = {int(values[i])}", "outside the regions", allowed)
    return values.astype(np.int64)


class SensorProjection(NamedTuple):
    """The finite rows of a projection file: matrix (kept sensors × vertices), rows (their row
    numbers in the file), n_rows (the file's number of rows)."""

    matrix: np.ndarray
    rows: np.ndarray
    n_rows: int


def read_projection(path: Path | str, key: str = "connectome.projection") -> SensorProjection:
    """A sensors × vertices matrix from .npy or .mat (the one 2D numeric array it holds).

    Sensors whose whole row is non-finite (TVB's EEG and MEG projections have such rows: sensors
    without a projection) are left out; a row with some non-finite values is refused.

    Returns:
        the rows kept, their row numbers and the number of rows in the file.
    """
    path = Path(path)
    shown = str(path)
    if path.suffix not in (".npy", ".mat"):
        raise refuse(key, shown, f"the suffix {path.suffix!r} is not read", PROJECTION_FILES)
    if not path.is_file():
        raise refuse(key, shown, f"file {str(path)!r} does not exist", PROJECTION_FILES)
    try:
        arrays = _projection_arrays(path)
    except (OSError, ValueError, NotImplementedError, EOFError) as err:
        reason = " ".join(str(err).split())[:120]
        raise refuse(key, shown, f"the file cannot be read ({reason})", PROJECTION_FILES) from None
    if len(arrays) != 1:
        why = f"it holds {len(arrays)} 2D numeric arrays"
        raise refuse(key, shown, why, PROJECTION_FILES)
    matrix = np.asarray(arrays[0], dtype=float)
    finite = np.isfinite(matrix)
    kept = np.flatnonzero(finite.all(axis=1))
    partial = np.flatnonzero(finite.any(axis=1) & ~finite.all(axis=1))
    if partial.size or not kept.size:
        why = (
            f"row {partial[0]} has non-finite values"
            if partial.size
            else "no row is finite everywhere"
        )
        allowed = "finite rows (a row that is non-finite everywhere is a sensor left out)"
        raise refuse(key, shown, why, allowed)
    return SensorProjection(matrix[kept], kept, matrix.shape[0])


def _projection_arrays(path: Path) -> list[np.ndarray]:
    if path.suffix == ".npy":
        data = np.load(path, allow_pickle=False)
        ok = data.ndim == 2 and np.issubdtype(data.dtype, np.number)
        return [data] if ok else []
    from scipy.io import loadmat

    return [
        v
        for k, v in loadmat(path).items()
        if not k.startswith("__")
        and isinstance(v, np.ndarray)
        and v.ndim == 2
        and np.issubdtype(v.dtype, np.number)
    ]


def read_sensor_names(path: Path | str, n: int, key: str = "connectome.sensors") -> list[str]:
    """The first word of each non-empty line (TVB sensor files: "name x y z ..."), n of them."""
    path = Path(path)
    allowed = f"a text file with one line per sensor ({n}), its name first"
    if not path.is_file():
        raise refuse(key, str(path), f"file {str(path)!r} does not exist", allowed)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise refuse(key, str(path), f"the file cannot be read ({err})", allowed) from None
    names = [line.split()[0] for line in text.splitlines() if line.strip()]
    if len(names) != n:
        raise refuse(key, str(path), f"it names {len(names)} sensors", allowed)
    return names
