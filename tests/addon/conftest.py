"""bpy test fixtures: a factory-fresh Blender with the add-on registered.

The repository root is loaded as the package ``motion_refine`` by path
(addon/_bootstrap.py), as the batch script does, so the add-on imports the
core relatively exactly as inside the installed extension.
"""
import importlib.util
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_mr_bootstrap", ROOT / "addon" / "_bootstrap.py")
_bootstrap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bootstrap)
PKG = _bootstrap.load_package(ROOT)

from blender_helpers import write_interchange  # noqa: E402


def _fresh_blender():
    """Factory settings, then (re-)register: classes survive a factory reset
    but the add-on's preferences entry does not."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if hasattr(bpy.types.Scene, "motion_refine"):
        PKG.unregister()
    PKG.register()
    PKG.addon.prefs.ensure_addon_entry(bpy.context)


@pytest.fixture
def blender():
    """A fresh scene with the add-on registered; yields the package."""
    _fresh_blender()
    yield PKG
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def motion_file(tmp_path):
    return write_interchange(tmp_path / "walk.npz")
