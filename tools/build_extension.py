"""Build the Blender extension zips, one per platform, with the wheels bundled.

    .venv/bin/python tools/build_extension.py [--platforms linux-x64 ...] [--no-wheels] [--out dist]

For each platform: ``pip download --only-binary=:all: --platform ...
--python-version 3.11`` fills ``wheels/`` with the runtime stack pinned in
requirements.txt (torch CPU, scipy, smplx, roma, matplotlib, joblib and
what they need; numpy is left out: Blender ships its own). Then the package
files (git's tracked and untracked-but-not-ignored files) are hard-linked
into ``build/stage/`` with a copy of blender_manifest.toml that lists the
platforms and wheels, and Blender's extension tool builds one zip per
platform (``build --split-platforms``) into ``--out`` and validates each.
The checked-in manifest is never edited: it stays valid for development
without wheels (docs/install.md).

``--no-wheels`` builds without any wheel (a development package that uses
the environment's own torch); the tests use it to stay fast and offline.
"""
import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WHEELS = REPO / "wheels"
STAGE = REPO / "build" / "stage"
MANIFEST = "blender_manifest.toml"
PYTHON_VERSION = "3.11"  # Blender 4.2 .. 5.x
# Runtime packages bundled (versions come from requirements.txt). numpy is
# resolved against so the others fit Blender's numpy, but not shipped.
RUNTIME = ("torch", "scipy", "smplx", "roma", "matplotlib", "joblib", "numpy")
NOT_SHIPPED = ("numpy",)
# pip --platform tags per Blender platform: pip does not widen these itself,
# so older manylinux/macOS tags are listed for the packages built on them.
PIP_PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "macos-arm64": ["macosx_14_0_arm64", "macosx_13_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64"],
    "windows-x64": ["win_amd64"],
}
# PyPI's Linux torch is a CUDA build (GBs of nvidia wheels): Linux takes the
# CPU build (local version "+cpu") from PyTorch's CPU index.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pins(path=REPO / "requirements.txt") -> dict:
    """{name: "name==version"} for the RUNTIME packages pinned in requirements.txt."""
    found = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)", line)
        if m and m.group(1).lower() in RUNTIME:
            found[m.group(1).lower()] = f"{m.group(1)}=={m.group(2)}"
    missing = set(RUNTIME) - set(found)
    if missing:
        sys.exit(f"error: {path}: no pinned version for {', '.join(sorted(missing))}")
    return found


def extension_tool() -> Path:
    """blender_ext.py of the bpy module in this Python (Blender's own
    ``blender --command extension`` runs the same tool)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None:
        sys.exit("error: bpy is not installed in this Python; run setup.sh and use .venv/bin/python")
    root = Path(spec.submodule_search_locations[0])
    tools = sorted(root.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not tools:
        sys.exit(f"error: {root}: Blender's extension tool (bl_pkg/cli/blender_ext.py) not found")
    return tools[-1]


# Marker environments of the targets: pip evaluates environment markers for
# the machine it runs on even with --platform, so torch's Linux-only CUDA
# requirements would leak into the macOS and Windows downloads.
TARGET_ENV = {
    "linux-x64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64", "os_name": "posix"},
    "windows-x64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"},
}
# Downloaded without pip's dependency resolution; their requirements are
# evaluated for the target and downloaded in the second pass.
NO_DEPS = ("torch", "smplx", "roma")  # the packages that require torch


def _requirements(wheel: Path, platform: str) -> list:
    """Requires-Dist of ``wheel`` whose markers hold on ``platform`` (no extras)."""
    from email.parser import Parser

    from packaging.requirements import Requirement

    env = dict(TARGET_ENV[platform], python_version=PYTHON_VERSION, python_full_version=PYTHON_VERSION + ".0",
               implementation_name="cpython", platform_python_implementation="CPython", extra="")
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        headers = Parser().parsestr(zf.read(meta).decode("utf-8"))
    reqs = [Requirement(r) for r in headers.get_all("Requires-Dist") or []]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(env)]


def _pip_download(platform: str, dest: Path, specs: list, no_deps=False, index=""):
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", PYTHON_VERSION,
           "--implementation", "cp", "--dest", str(dest), "--find-links", str(WHEELS)]
    for tag in PIP_PLATFORMS[platform]:
        cmd += ["--platform", tag]
    cmd += ["--no-deps"] if no_deps else []
    cmd += ["--extra-index-url", index] if index else []
    print(f"[{platform}] pip download {' '.join(specs)}", flush=True)
    subprocess.run(cmd + specs, check=True)


def _name(wheel_name: str) -> str:
    return wheel_name.split("-")[0].lower().replace("_", "-")


def download(platform: str, torch_index: str) -> list:
    """pip-download the runtime wheels for ``platform`` into wheels/; returns
    the shipped wheel file names. Wheels already in wheels/ are reused."""
    req = pins()
    if platform == "linux-x64":
        req["torch"] += "+cpu"
    fresh = REPO / "build" / "wheels" / platform
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    WHEELS.mkdir(exist_ok=True)
    # Pass 1: torch (Linux: from the CPU index) and the packages needing it, without dependencies.
    _pip_download(platform, fresh, [req["torch"]], no_deps=True,
                  index=torch_index if platform == "linux-x64" else "")
    _pip_download(platform, fresh, [req[name] for name in NO_DEPS if name != "torch"], no_deps=True)
    deps = []
    for whl in fresh.glob("*.whl"):
        deps += [str(r) for r in _requirements(whl, platform) if r.name.lower() not in RUNTIME]
    # Pass 2: everything else with pip's resolver, numpy pinned to Blender's.
    rest = [spec for name, spec in req.items() if name not in NO_DEPS]
    _pip_download(platform, fresh, rest + sorted(set(deps)))
    _check_complete(fresh, platform)
    names = []
    for whl in sorted(fresh.glob("*.whl")):
        os.replace(whl, WHEELS / whl.name)
        if _name(whl.name) not in NOT_SHIPPED:
            names.append(whl.name)
    return names


def _check_complete(folder: Path, platform: str):
    """Every requirement of every downloaded wheel (markers evaluated for
    ``platform``) is among the downloads; exit naming what is missing."""
    have = {_name(w.name) for w in folder.glob("*.whl")}
    missing = set()
    for whl in folder.glob("*.whl"):
        for r in _requirements(whl, platform):
            if r.name.lower().replace("_", "-") not in have:
                missing.add(f"{r.name} (for {_name(whl.name)})")
    if missing:
        sys.exit(f"error: [{platform}] wheels missing for: {', '.join(sorted(missing))}")


def package_files() -> list:
    """Files of the working tree git would track (tracked + untracked, not
    ignored); the manifest's paths_exclude_pattern then filters them."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, check=True, capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p and (REPO / p).is_file()]


def _link(src: Path, dst: Path):
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system: copy
        shutil.copy2(src, dst)


def built_manifest(text: str, platforms: list, wheels: list) -> str:
    """The checked-in manifest with ``platforms`` and ``wheels`` set."""
    listed = ", ".join(f'"{p}"' for p in platforms)
    wheel_lines = "".join(f'    "./wheels/{w}",\n' for w in wheels)
    text, n = re.subn(r"(?m)^platforms\s*=.*$", f"platforms = [{listed}]\nwheels = [\n{wheel_lines}]", text)
    if n != 1:
        raise SystemExit(f"error: {MANIFEST}: expected one top-level 'platforms = [...]' line")
    return text


def stage(platforms: list, wheels: list) -> Path:
    """build/stage/: the package files and wheels, hard-linked, with the
    built manifest (a written copy, never a link to the checked-in one)."""
    shutil.rmtree(STAGE, ignore_errors=True)
    for rel in package_files():
        if rel != MANIFEST:
            _link(REPO / rel, STAGE / rel)
    for name in wheels:
        _link(WHEELS / name, STAGE / "wheels" / name)
    text = built_manifest((REPO / MANIFEST).read_text(), platforms, wheels)
    (STAGE / MANIFEST).write_text(text)
    return STAGE


def run_tool(tool: Path, *args) -> str:
    """Run the extension tool; exit with its output on failure."""
    proc = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise SystemExit(f"error: blender_ext.py {args[0]} failed:\n{output}")
    return output


def build(platforms: list, out: Path, with_wheels: bool = True, torch_index: str = TORCH_CPU_INDEX) -> list:
    """Download, stage, build and validate; returns the zip paths."""
    tool = extension_tool()
    print(run_tool(tool, "validate", str(REPO)))  # the checked-in manifest
    wheels = []
    if with_wheels:
        for platform in platforms:
            wheels += [w for w in download(platform, torch_index) if w not in wheels]
    source = stage(platforms, wheels)
    out.mkdir(parents=True, exist_ok=True)
    for platform in platforms:  # a stale zip must not pass for this build's
        zip_path = out / zip_name(source, platform)
        zip_path.unlink(missing_ok=True)
    print(run_tool(tool, "build", "--source-dir", str(source), "--output-dir", str(out), "--split-platforms"))
    zips = [out / zip_name(source, p) for p in platforms]
    for z in zips:
        print(run_tool(tool, "validate", str(z)))
        print(f"{z.name}: {z.stat().st_size / 1e6:.1f} MB")
    return zips


def zip_name(source: Path, platform: str) -> str:
    """The tool's file name: <id>-<version>-<platform with _>.zip."""
    text = (source / MANIFEST).read_text()
    ident = re.search(r'(?m)^id\s*=\s*"([^"]+)"', text).group(1)
    version = re.search(r'(?m)^version\s*=\s*"([^"]+)"', text).group(1)
    return f"{ident}-{version}-{platform.replace('-', '_')}.zip"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platforms", nargs="+", choices=list(PIP_PLATFORMS), default=list(PIP_PLATFORMS))
    parser.add_argument("--no-wheels", action="store_true",
                        help="development package without wheels (uses the environment's torch)")
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (default: dist/)")
    parser.add_argument("--torch-index", default=TORCH_CPU_INDEX,
                        help="index with the Linux CPU torch build ('' to use only pip's configured indexes)")
    args = parser.parse_args(argv)
    build(args.platforms, args.out.resolve(), with_wheels=not args.no_wheels, torch_index=args.torch_index)


if __name__ == "__main__":
    main()
