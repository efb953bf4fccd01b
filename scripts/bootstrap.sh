#!/usr/bin/env bash
# Idempotent set-up of .venv: torch first, pinned (TORCH_VERSION, default 2.13.0), then the project with all
# extras, then a Jupyter kernel named "workbench" inside the venv. Re-runs are no-ops unless pyproject.toml,
# this script or the torch version changed.
# Which torch build you get is pip's choice for your platform: on Linux, PyPI's wheel is the CUDA build
# (several GB). For the CPU build set WORKBENCH_TORCH_INDEX=https://download.pytorch.org/whl/cpu (or point it
# at any index/mirror holding the wheel); machines with a local CPU wheel configured for pip need nothing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WORKBENCH_VENV:-$here/.venv}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
PY="${PYTHON:-python3}"

want="$(cat "$here/pyproject.toml" "$here/scripts/bootstrap.sh" | sha256sum | cut -c1-16)-torch$TORCH_VERSION${WORKBENCH_TORCH_INDEX:+-idx}"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.workbench-stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "[bootstrap] setting up $VENV (torch $TORCH_VERSION CPU, then the project) ..." >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pipq() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
pipq --upgrade pip
if [ -n "${WORKBENCH_TORCH_INDEX:-}" ]; then
  pipq --index-url "$WORKBENCH_TORCH_INDEX" "torch==$TORCH_VERSION"
else
  pipq "torch==$TORCH_VERSION"
fi
# the distribution was named `workbench` before it became `ot-rematch-workbench`: drop a stale install of it
if "$VENV/bin/python" -m pip show workbench >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip uninstall -y -q workbench
fi
pipq -e "$here[dev]"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name workbench --display-name "Python (workbench)" >/dev/null
echo "$want" > "$VENV/.workbench-stamp"
echo "[bootstrap] done" >&2
