"""Bundled gmsh domains: a registry of named geometries and a mesh generator.

Each domain lives in its own small module (``fem_fhn.meshes.<name>``) exposing
``build(h, **options)``, which adds the geometry to the current gmsh model. :func:`generate`
meshes it with a uniform target size ``h`` and writes a ``.msh`` file (format 4.1, binary,
linear elements) with two physical groups:

* tag ``1`` (``"domain"``): every entity of the top dimension,
* tag ``2`` (``"boundary"``): the whole boundary,

so ``dolfinx.io.gmsh.read_from_msh(path, comm, 0, gdim=dim)`` returns the mesh together with
its cell tags and facet tags. Coarse meshes of all domains are committed next to the modules
(:func:`bundled_path`); :func:`regenerate_bundled` rebuilds them. The modules and meshes live in
the top-level ``meshes/`` folder of the repository, which is installed as ``fem_fhn.meshes``.

Beside the domains, ``sphere_brain/`` holds a small made-up brain in The Virtual Brain's file
formats (an icosphere surface ``cortex.zip``, ``region_mapping.txt`` and ``connectivity.zip``,
written by its ``generate.py``); :func:`sphere_brain_path` finds its files in a checkout and in
an installed wheel alike.

Every domain module also runs as a script, e.g.
``python -m fem_fhn.meshes.folded --h 0.03 --out folded.msh``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "BOUNDARY_TAG",
    "DOMAINS",
    "DOMAIN_TAG",
    "SPHERE_BRAIN_FILES",
    "Domain",
    "bundled_path",
    "default_options",
    "generate",
    "main",
    "names",
    "regenerate_bundled",
    "sphere_brain_path",
]

DOMAIN_TAG = 1
"""Physical group tag of the cells (all entities of the top dimension)."""
BOUNDARY_TAG = 2
"""Physical group tag of the boundary facets."""

_HERE = Path(__file__).resolve().parent
#: the files of the made-up brain in ``sphere_brain/`` (see :func:`sphere_brain_path`)
SPHERE_BRAIN_FILES = ("cortex.zip", "region_mapping.txt", "connectivity.zip", "generate.py")


@dataclass(frozen=True)
class Domain:
    """A named geometry that can be meshed by gmsh.

    Attributes:
        name: Registry key, also the module name ``fem_fhn.meshes.<name>``.
        dim: Topological (and geometric) dimension of the domain.
        description: One-line description of the geometry.
        default_h: Target mesh size of the bundled coarse mesh.
        build: ``build(h, **options)`` adds the geometry to the current gmsh model.
    """

    name: str
    dim: int
    description: str
    default_h: float
    build: Callable[..., None]


def _module_build(name: str) -> Callable[..., None]:
    """Return the ``build`` function of the domain module ``name`` (imported on demand)."""
    return importlib.import_module(f"{__name__}.{name}").build


def _lazy_build(name: str) -> Callable[..., None]:
    """Wrap the domain module's ``build`` so the module is imported only when meshing.

    Importing lazily lets ``python -m fem_fhn.meshes.<name>`` run without the package having
    already imported the module it executes.
    """

    def build(h: float, **options: Any) -> None:
        _module_build(name)(h, **options)

    build.__doc__ = f"Add the ``{name}`` geometry to the current gmsh model."
    return build


_SPECS: tuple[tuple[str, int, str, float], ...] = (
    ("interval", 1, "interval [0, L], L = 10", 0.05),
    ("strip", 2, "long rectangle [0, 20] x [0, 1] for travelling fronts", 0.1),
    ("square", 2, "unit square [0, 1]^2", 0.025),
    ("disc_holes", 2, "unit disc with three circular holes of radius 0.2", 0.05),
    ("folded", 2, "folded cortex-like band between y = A sin(2 pi k x / L) and + T", 0.025),
    ("ball", 3, "unit ball", 0.12),
    ("torus", 3, "solid torus, major radius 1, minor radius 0.35", 0.1),
)

DOMAINS: Mapping[str, Domain] = MappingProxyType(
    {n: Domain(n, d, desc, h, _lazy_build(n)) for n, d, desc, h in _SPECS}
)
"""Read-only registry: domain name → :class:`Domain`."""


def names() -> list[str]:
    """Return the names of the bundled domains, in registry order."""
    return list(DOMAINS)


def _lookup(name: str) -> Domain:
    if name not in DOMAINS:
        raise ValueError(f"unknown domain name={name!r}; allowed: {', '.join(DOMAINS)}")
    return DOMAINS[name]


def default_options(name: str) -> dict[str, Any]:
    """Return the geometry options of domain ``name`` with their default values.

    Args:
        name: A registered domain name.

    Returns:
        Mapping option name → default value (the keyword-only parameters of ``build``).
    """
    _lookup(name)
    params = inspect.signature(_module_build(name)).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _check_h(h: float) -> float:
    value = float(h)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"mesh size h must be a positive finite number, got h={h!r}")
    return value


_MESH_OPTIONS: dict[str, float] = {
    "General.Terminal": 0,
    "General.NumThreads": 1,
    "Mesh.ElementOrder": 1,
    "Mesh.RecombineAll": 0,
    "Mesh.Algorithm": 6,
    "Mesh.Algorithm3D": 1,
    "Mesh.MeshSizeFromPoints": 0,
    "Mesh.MeshSizeFromCurvature": 0,
    "Mesh.MeshSizeExtendFromBoundary": 1,
    "Mesh.MshFileVersion": 4.1,
    "Mesh.Binary": 1,
    "Mesh.SaveAll": 0,
}


def _add_physical_groups(gmsh: Any, dim: int) -> None:
    entities = gmsh.model.getEntities(dim)
    gmsh.model.addPhysicalGroup(dim, [t for _, t in entities], tag=DOMAIN_TAG, name="domain")
    boundary = gmsh.model.getBoundary(entities, combined=True, oriented=False)
    facets = sorted({abs(t) for _, t in boundary})
    gmsh.model.addPhysicalGroup(dim - 1, facets, tag=BOUNDARY_TAG, name="boundary")


def generate(
    name: str, h: float | None = None, out: str | Path | None = None, **options: Any
) -> Path:
    """Mesh a bundled domain with gmsh and write it as a ``.msh`` file.

    Args:
        name: Domain name (see :func:`names`).
        h: Uniform target mesh size; ``None`` uses the domain's coarse ``default_h``.
        out: Output file; defaults to ``<name>.msh`` in the current directory.
        **options: Geometry options of the domain (see :func:`default_options`).

    Returns:
        The path of the written mesh.

    Raises:
        ValueError: Unknown ``name``, an unknown option, or ``h`` not positive and finite.
    """
    domain = _lookup(name)
    size = domain.default_h if h is None else _check_h(h)
    allowed = default_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for domain {name!r}; allowed: {', '.join(allowed)}"
        )
    path = Path(out) if out is not None else Path(f"{name}.msh")
    path.parent.mkdir(parents=True, exist_ok=True)

    import gmsh

    owner = not gmsh.isInitialized()
    if owner:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    settings = {**_MESH_OPTIONS, "Mesh.MeshSizeMin": size, "Mesh.MeshSizeMax": size}
    previous = {key: gmsh.option.getNumber(key) for key in settings}
    caller_model = None if owner else gmsh.model.getCurrent()
    try:
        for key, value in settings.items():
            gmsh.option.setNumber(key, value)
        gmsh.model.add(f"fem_fhn_{name}")
        domain.build(size, **options)
        gmsh.model.occ.synchronize()
        _add_physical_groups(gmsh, domain.dim)
        gmsh.model.mesh.generate(domain.dim)
        gmsh.write(str(path))
    finally:
        if owner:
            gmsh.finalize()
        else:
            gmsh.model.remove()
            gmsh.model.setCurrent(caller_model)
            for key, value in previous.items():
                gmsh.option.setNumber(key, value)
    return path


def bundled_path(name: str) -> Path:
    """Return the committed coarse mesh ``<name>.msh`` next to the domain modules.

    Args:
        name: Domain name (see :func:`names`).

    Raises:
        ValueError: Unknown ``name``.
        FileNotFoundError: The bundled file is missing.
    """
    _lookup(name)
    path = _HERE / f"{name}.msh"
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled mesh {path} is missing; rebuild it with "
            f"`python -m fem_fhn.meshes.{name} --out {path}` or "
            "`python -c 'import fem_fhn.meshes as m; m.regenerate_bundled()'`"
        )
    return path


def sphere_brain_path(name: str = "") -> Path:
    """Return the folder of the made-up brain on a sphere, or one of its files.

    Args:
        name: ``""`` for the folder, or one of :data:`SPHERE_BRAIN_FILES`: ``cortex.zip`` (the
            level-4 icosphere of radius 60 mm, 2 562 vertices), ``region_mapping.txt`` (one of
            8 regions per vertex), ``connectivity.zip`` (weights, tract lengths in mm, centres)
            or ``generate.py`` (the script that writes them).

    Raises:
        ValueError: ``name`` is not one of its files.
        FileNotFoundError: The file is missing.
    """
    if name and name not in SPHERE_BRAIN_FILES:
        raise ValueError(
            f"unknown sphere_brain file name={name!r}; allowed: {', '.join(SPHERE_BRAIN_FILES)}"
        )
    path = _HERE / "sphere_brain" / name if name else _HERE / "sphere_brain"
    if not path.exists():
        raise FileNotFoundError(
            f"bundled file {path} is missing; rewrite it with `python {_HERE / 'sphere_brain'}"
            "/generate.py`"
        )
    return path


def regenerate_bundled(directory: str | Path | None = None) -> dict[str, Path]:
    """Regenerate the coarse mesh of every domain at its ``default_h``.

    Args:
        directory: Where to write ``<name>.msh``; defaults to the package directory.

    Returns:
        Mapping domain name → written path.
    """
    target = _HERE if directory is None else Path(directory)
    return {n: generate(n, out=target / f"{n}.msh") for n in DOMAINS}


def main(name: str, argv: Sequence[str] | None = None) -> Path:
    """Command line of a domain module: ``python -m fem_fhn.meshes.<name> [--h H] [--out F]``.

    Scalar geometry options are exposed as ``--<option> VALUE``.

    Args:
        name: Domain name.
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The path of the written mesh.
    """
    domain = _lookup(name)
    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__}.{name}", description=f"Mesh the {domain.description}."
    )
    parser.add_argument("--h", type=float, help=f"target mesh size (default {domain.default_h})")
    parser.add_argument("--out", type=Path, default=Path(f"{name}.msh"), help="output .msh")
    for key, default in default_options(name).items():
        if isinstance(default, int | float) and not isinstance(default, bool):
            parser.add_argument(f"--{key}", type=type(default), default=default)
    args = vars(parser.parse_args(argv))
    h, out = args.pop("h"), args.pop("out")
    try:
        path = generate(name, h, out, **args)
    except ValueError as err:
        parser.error(str(err))
    print(path)
    return path
