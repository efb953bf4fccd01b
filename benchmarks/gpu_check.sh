#!/usr/bin/env bash
# The GPU readiness check in one command, for a machine with one (or two) NVIDIA GPUs and minutes of time:
#
#   benchmarks/gpu_check.sh            # from the repository root or anywhere
#
# Runs `workbench bench gpu --json` on CUDA under a wall-clock limit (GPU_CHECK_SECONDS, default 450 s, so a
# rerun still fits a 15-minute slot), appends the measured row to benchmarks/BENCHMARKS.md and leaves in
# $OUT (default benchmarks/gpu-results/):
#   environment.txt   python, torch, CUDA, the GPUs (nvidia-smi)
#   bench_gpu.jsonl   one JSON line per finished section (sgr, saf, eval, projection, ddp, summary)
#   stderr.txt        warnings and errors of the run
#   BENCHMARKS.md     a copy with the new row (the repository's own copy is updated too)
# Sections are written as they finish, so a run cut off by the limit still returns what it measured.
#
# Python: $PYTHON, else .venv/bin/python when its torch sees CUDA, else python3. The interpreter needs a
# CUDA build of torch and the project's dependencies (numpy, scipy); the checkout itself is put on
# PYTHONPATH, so nothing is installed and nothing is downloaded.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-$root/benchmarks/gpu-results}"
limit="${GPU_CHECK_SECONDS:-450}"
mkdir -p "$out"

cuda_python() { "$1" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; }
if [ -n "${PYTHON:-}" ]; then
  py="$PYTHON"
elif [ -x .venv/bin/python ] && cuda_python .venv/bin/python; then
  py=.venv/bin/python
else
  py=python3
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "python: $py ($("$py" --version 2>&1))"
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), 'devices', torch.cuda.device_count()); [print(' ', i, torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]" 2>&1
  if command -v nvidia-smi >/dev/null; then nvidia-smi 2>&1; else echo "nvidia-smi: not available"; fi
} > "$out/environment.txt"
cat "$out/environment.txt"

if ! cuda_python "$py"; then
  echo "gpu_check: $py has no CUDA-enabled torch; see $out/environment.txt" >&2
  exit 2
fi

status=0
timeout --signal=TERM --kill-after=20 "$limit" \
  "$py" -m workbench bench gpu --json --device cuda --out "$out/bench_gpu.jsonl" \
  --benchmarks "$root/benchmarks/BENCHMARKS.md" > "$out/stdout.jsonl" 2> "$out/stderr.txt" || status=$?
# --out is written at the end; the streamed stdout holds every finished section when the limit cut the run
[ -s "$out/bench_gpu.jsonl" ] || cp "$out/stdout.jsonl" "$out/bench_gpu.jsonl"
cp "$root/benchmarks/BENCHMARKS.md" "$out/BENCHMARKS.md"
tail -n 20 "$out/stderr.txt" >&2
case "$status" in
  0) echo "gpu_check: done; results in $out" ;;
  124|137) echo "gpu_check: stopped at the ${limit} s limit; finished sections are in $out/bench_gpu.jsonl" >&2 ;;
  *) echo "gpu_check: the bench exited with status $status; see $out/stderr.txt" >&2 ;;
esac
exit "$status"
