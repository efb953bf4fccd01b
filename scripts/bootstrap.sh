#!/usr/bin/env bash
# Idempotent set-up of .venv: torch's CPU wheel first (a bare `torch` would pull a multi-GB CUDA build),
# then the project with all extras, then a Jupyter kernel named "workbench" inside the venv.
# Re-runs are no-ops unless pyproject.toml, this script or the torch version changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WORKBENCH_VENV:-$here/.venv}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
PY="${PYTHON:-python3}"

want="$(cat "$here/pyproject.toml" "$here/scripts/bootstrap.sh" | sha256sum | cut -c1-16)-torch$TORCH_VERSION"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.workbench-stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "[bootstrap] setting up $VENV (torch $TORCH_VERSION CPU, then the project) ..." >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pipq() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@" 2> >(grep -v "^WARNING: Location" >&2); }
pipq --upgrade pip
pipq "torch==$TORCH_VERSION"
pipq -e "$here[dev]"
"$VENV/bin/python" -m ipykernel install --sys-prefix --name workbench --display-name "Python (workbench)" >/dev/null
echo "$want" > "$VENV/.workbench-stamp"
echo "[bootstrap] done" >&2
