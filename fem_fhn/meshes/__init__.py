"""``fem_fhn.meshes`` in a source checkout: the package lives in the top-level ``meshes/`` folder.

A built wheel installs ``meshes/`` itself as ``fem_fhn.meshes`` (``[tool.setuptools.package-dir]``
in ``pyproject.toml``), so this file is not part of it. From a checkout (``PYTHONPATH`` or an
editable install) Python finds this file first: it loads ``meshes/__init__.py`` under the name
``fem_fhn.meshes`` with ``meshes/`` as the package path, so the domain modules
``fem_fhn.meshes.<name>`` and the bundled ``.msh`` files resolve there, as in the wheel.
"""

import importlib.util
import sys
from pathlib import Path

_SOURCE = Path(__file__).resolve().parents[2] / "meshes"
if not (_SOURCE / "__init__.py").is_file():
    raise ImportError(f"fem_fhn.meshes: the domain folder {_SOURCE} is missing from the checkout")
_spec = importlib.util.spec_from_file_location(
    __name__, _SOURCE / "__init__.py", submodule_search_locations=[str(_SOURCE)]
)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules[__name__] = _module
_spec.loader.exec_module(_module)
