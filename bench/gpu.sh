#!/usr/bin/env bash
# GPU figures in one command (training step, RAFT, oclr-infer): a thin wrapper of bench/gpu.py.
#   bench/gpu.sh               on a CUDA machine, under 8 minutes
#   bench/gpu.sh --cpu-smoke   the same code paths, tiny, on the CPU, under a minute
# Prints one table, then one JSON object last on stdout; --json FILE also writes it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="$here/../.venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"
exec "$python" "$here/gpu.py" "$@"
