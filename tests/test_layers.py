"""The package's layers only point down (docs/architecture.md, "Layers").

Every module of refine_core and addon is given a layer; an import from a
module to one of a higher layer fails here, as does a module missing from
the map (a new module must choose its layer).
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own layer and those below.
LAYERS = [
    ("base", ["refine_core.errors", "refine_core.resources", "refine_core.params", "refine_core.rotations",
              "refine_core.rotations_torch", "refine_core.skeleton", "refine_core.atomic"]),
    ("motion", ["refine_core.kinematics", "refine_core.motion", "refine_core.synthetic",
                "refine_core.metrics"]),
    ("formats", ["refine_core.formats", "refine_core.smpl_model"]),
    ("refiners", ["refine_core.filters", "refine_core.windows", "refine_core.refiners", "refine_core.feet"]),
    ("evaluation", ["refine_core.train.data", "refine_core.train.bvh", "refine_core.train.retarget",
                    "refine_core.train.dataset", "refine_core.train.renders", "refine_core.train.noise",
                    "refine_core.train.augment", "refine_core.bench"]),
    ("training", ["refine_core.train.pairs", "refine_core.train.loop", "refine_core.train.tune_classical",
                  "refine_core.train"]),
    ("commands", ["refine_core.worker", "refine_core.batch", "refine_core.cli", "refine_core.__main__", "refine_core"]),
    ("addon", ["addon"]),
    ("extension", ["__init__"]),
]


def layer_of(module: str) -> int:
    """Index of the most specific layer entry that ``module`` is (or is inside)."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} has no layer: add it to tests/test_layers.py and docs/architecture.md"
    return best[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def project_imports(path: Path):
    """(line, imported module) for every import of a project module in ``path``."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] if node.level > 1 else package
                target = ".".join(base + ([node.module] if node.module else []))
                if not target:
                    # ``from .. import x`` at the repository root: the extension package itself.
                    yield node.lineno, "__init__", [a.name for a in node.names]
                    continue
            elif node.module and node.module.split(".")[0] in ("refine_core", "addon"):
                target = node.module
            else:
                continue
            yield node.lineno, target, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("refine_core", "addon"):
                    yield node.lineno, alias.name, []


def sources():
    for top in ("refine_core", "addon"):
        yield from sorted((ROOT / top).rglob("*.py"))


def test_every_import_points_down():
    wrong = []
    for path in sources():
        own = layer_of(module_name(path))
        for line, target, names in project_imports(path):
            # ``from . import x`` may name a submodule: judge the submodule.
            targets = [f"{target}.{n}" if (ROOT / Path(*target.split("."), f"{n}.py")).exists() else target
                       for n in names] or [target]
            for t in targets:
                if layer_of(t) > own:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {t} "
                                 f"({LAYERS[layer_of(t)][0]} above {LAYERS[own][0]})")
    assert not wrong, "\n".join(wrong)


def test_model_modules_do_not_import_their_package():
    """A learned method's module reaches shared code through refiners.common, never the registry."""
    for path in sorted((ROOT / "refine_core" / "refiners").glob("*.py")):
        if path.name == "__init__.py":
            continue
        for line, target, _ in project_imports(path):
            assert target != "refine_core.refiners", f"{path.name}:{line} imports the registry package"


def test_the_map_would_catch_an_upward_import(tmp_path):
    """The check itself: rotations (base) importing the CLI is flagged."""
    assert layer_of("refine_core.rotations") < layer_of("refine_core.cli")
    assert layer_of("refine_core.train.noise") < layer_of("refine_core.train.loop")  # evaluation below training
    assert layer_of("addon.batch") < layer_of("__init__")
