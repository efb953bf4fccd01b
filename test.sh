#!/usr/bin/env bash
# Run the whole test suite (unit, notebooks, app, browser, multi-process) in the project's .venv.
# Extra arguments go to pytest, e.g. ./test.sh -k ot -x
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
scripts/bootstrap.sh
export WORKBENCH_DATA_MIRROR="${WORKBENCH_DATA_MIRROR:-$here/../shared/data}"
export TQDM_DISABLE="${TQDM_DISABLE:-1}"
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$code"
