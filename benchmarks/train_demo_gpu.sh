#!/usr/bin/env bash
# Train the built-in demo model from scratch on one GPU: the recipe of resources/demo-model.
# One seeded run (about 9 min on an H200, most of it training): compose the 12,000-song corpus, build the reference bank, train STEPS steps
# (default 14,000; batches of 16 songs, whole songs up to 76.8 s, length-bucketed fixed shapes), write the
# checkpoint to $OUT/demo-model and the log to $OUT/train.log. Extra options go to train.py
# (later ones win). Prints the total wall time at the end.
# Usage: OUT=/some/dir bash benchmarks/train_demo_gpu.sh [extra train.py options]
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/demo-train}
STEPS=${STEPS:-14000}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
start=$(date +%s)
$PY -m heartmula_core.demo.train --out "$OUT/demo-model" --steps "$STEPS" --batch 16 --lr 1e-3 --warmup 200 \
  --max-frames 960 --intro-weight 8 --key-weight 50 --boundary-weight 8 \
  --section-weight 1 --ahead-weight 1 --reference-chance 0.8 --strip-chance 0.8 \
  --bank "$OUT/bank.safetensors" --save-every 1000 --seed 0 "$@" 2>&1 | tee "$OUT/train.log"
echo "total wall time: $(( $(date +%s) - start )) s (corpus, reference bank, training, checkpoint)" | tee -a "$OUT/train.log"
ls -la "$OUT/demo-model" "$OUT/demo-model"/*
