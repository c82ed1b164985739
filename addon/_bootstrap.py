"""Load the repository root as the add-on package, by path (no bpy here).

Tests and the batch script cannot rely on the checkout folder's name being a
valid package name, nor on the extension being installed; they load the
root ``__init__.py`` under a fixed package name, so that ``addon`` imports
the core relatively (``from ..refine_core import ...``) exactly as it does
inside the installed extension (``bl_ext.user_default.motion_refine``).
"""
import importlib.util
import sys
from pathlib import Path

PACKAGE_NAME = "motion_refine"
REPO_ROOT = Path(__file__).resolve().parent.parent


def load_package(root=REPO_ROOT, name: str = PACKAGE_NAME):
    """Import ``root/__init__.py`` as package ``name`` (once) and return it."""
    if name in sys.modules:
        return sys.modules[name]
    root = Path(root)
    spec = importlib.util.spec_from_file_location(
        name, root / "__init__.py", submodule_search_locations=[str(root)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
