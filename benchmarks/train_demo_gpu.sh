#!/usr/bin/env bash
# Train the built-in demo model on one GPU inside a fixed wall-clock budget (how
# resources/demo-model was made). A 60-step calibration run measures steps/s on this card, then
# the real run gets as many steps as fit in TRAIN_SECONDS (default 360); STEPS=N skips the
# calibration. Output: $OUT/demo-model.
# Usage: OUT=/some/dir bash benchmarks/train_demo_gpu.sh [extra train.py options]
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/demo-train}
TRAIN_SECONDS=${TRAIN_SECONDS:-360}
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
if [ -z "${STEPS:-}" ]; then
  $PY -m heartmula_core.demo.train --out /tmp/demo-calibrate --steps 60 --songs 300 "$@" 2>&1 | tee /tmp/calibrate.log
  RATE=$(grep -o '[0-9.]* steps/s' /tmp/calibrate.log | tail -1 | cut -d' ' -f1)
  STEPS=$($PY -c "print(max(100, int(float('$RATE') * $TRAIN_SECONDS / 50) * 50))")
  echo "calibration: $RATE steps/s -> $STEPS steps for ${TRAIN_SECONDS}s"
fi
$PY -m heartmula_core.demo.train --out "$OUT/demo-model" --steps "$STEPS" "$@" 2>&1 | tee "$OUT/train.log"
ls -la "$OUT/demo-model" "$OUT/demo-model"/*
