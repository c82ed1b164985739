#!/usr/bin/env bash
# One command sets up everything: .venv/ at the repo root with all runtime and
# test dependencies (bpy 5.0.1 included) and the package installed editable;
# .venv-bpy42/ with the same stack on Blender 4.2 LTS (bpy 4.2.23), so the
# add-on tests run on both Blender lines.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

make_venv() {  # make_venv DIR BPY_VERSION
    [ -x "$1/bin/python" ] || "$PY" -m venv "$1"
    "$1/bin/python" -m pip install -q --upgrade pip
    sed "s/^bpy==.*/bpy==$2/" requirements.txt > "$1/requirements.txt"
    "$1/bin/python" -m pip install -q -r "$1/requirements.txt"
}

make_venv .venv 5.0.1
.venv/bin/python -m pip install -q --no-deps -e .
make_venv .venv-bpy42 4.2.23
echo "setup done: .venv/ (bpy 5.0.1) and .venv-bpy42/ (bpy 4.2.23)"
