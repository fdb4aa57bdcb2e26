#!/usr/bin/env bash
# The Floquet (and, if present, Lyapunov) sweep benchmarks on one GPU, in under 8 minutes.
#
#   benchmarks/gpu.sh OUT_DIR [PYTHON]
#
# Installs nothing: PYTHON (default: python3 on PATH, or .venv/bin/python) must already have
# satode's `bench` extra and a CUDA jaxlib. Writes OUT_DIR/floquet_sweep.jsonl (one JSON record
# per run), OUT_DIR/floquet_sweep.md (the Markdown table), OUT_DIR/lyapunov.* when
# benchmarks/lyapunov.py exists, and OUT_DIR/device.txt. Each run has its own time limit so the
# whole script stays under 8 minutes; a run that hits its limit is reported and skipped.
set -u
OUT="${1:?usage: benchmarks/gpu.sh OUT_DIR [PYTHON]}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${2:-}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
mkdir -p "$OUT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# One GPU; let JAX take the memory it needs as it goes rather than 75% up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
START=$(date +%s)

"$PY" - > "$OUT/device.txt" 2>&1 <<'PYEOF'
import jax
print("devices:", jax.devices())
print("backend:", jax.default_backend())
PYEOF
cat "$OUT/device.txt"
if ! grep -q "backend: gpu" "$OUT/device.txt"; then
  echo "gpu.sh: no GPU backend found (see $OUT/device.txt); running anyway on what JAX has" >&2
fi

run() {  # run LIMIT_SECONDS ARGS...: one floquet_sweep.py record, bounded in time
  local limit="$1"; shift
  echo "== floquet_sweep.py $* (limit ${limit}s)"
  if ! timeout "$limit" "$PY" "$HERE/floquet_sweep.py" --out "$OUT" "$@" >> "$OUT/floquet_sweep.log" 2>&1; then
    echo "   skipped or failed (see $OUT/floquet_sweep.log)"
  fi
}

# Wide batches suit a GPU: 4096 strands (the CPU default caps at 1024). The scipy loop runs on
# the host, so it times only 64 levels (extrapolated, flagged in the records).
run 100 --levels 1024 --repeats 2 --scipy-levels 64 --jaxcont-levels 1024
run 130 --levels 16384 --repeats 2 --chunk-size 4096 --scipy-levels 64 --jaxcont-levels 2048
run 60 --levels 256 --problem morris-lecar --repeats 2 --scipy-levels 32 --jaxcont-levels 256
run 60 --levels 16384 --repeats 2 --chunk-size 4096 --dtype float32 --peers none
run 40 --levels 100000 --repeats 1 --chunk-size 4096 --peers none

"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[0]).resolve().parent))
out = Path(sys.argv[1])
sys.path.insert(0, str(Path.cwd() / "benchmarks"))
from floquet_sweep import markdown
path = out / "floquet_sweep.jsonl"
records = [json.loads(l) for l in path.read_text().splitlines()] if path.exists() else []
(out / "floquet_sweep.md").write_text(markdown(records) + "\n" if records else "no records\n")
print((out / "floquet_sweep.md").read_text())
PYEOF

if [ -f "$HERE/lyapunov.py" ]; then
  LEFT=$(( 470 - ($(date +%s) - START) ))
  if [ "$LEFT" -gt 30 ]; then
    echo "== lyapunov.py (limit ${LEFT}s)"
    timeout "$LEFT" "$PY" "$HERE/lyapunov.py" --out "$OUT" > "$OUT/lyapunov.md" 2> "$OUT/lyapunov.log" \
      || echo "   lyapunov.py failed or ran out of time (see $OUT/lyapunov.log)"
  else
    echo "== lyapunov.py skipped: no time left"
  fi
else
  echo "== benchmarks/lyapunov.py not present: Lyapunov benchmark skipped"
fi
echo "gpu.sh: done in $(( $(date +%s) - START )) s; tables in $OUT"
