#!/usr/bin/env bash
# Train the built-in demo model from scratch on one GPU: the recipe of resources/demo-model
# (stage 9: the corpus with grammar-drawn song structures, a weight average, seed 2, chosen from
# seeds 0-3 on the held-out eval; see benchmarks/results/demo-stage9-2026-11-26/). Pass --seed N
# for another run of the recipe.
# One seeded run: compose the 12,000-song corpus (cached in $OUT/corpus.safetensors), build the
# reference bank ($OUT/bank.safetensors), train STEPS steps (default 14,000; batches of 16 songs,
# whole songs up to 76.8 s, length-bucketed fixed shapes), write the checkpoint to $OUT/demo-model
# and the log to $OUT/train.log. Extra options go to train.py (later ones win).
# Resumable: the training state is saved beside the checkpoint every 1,000 steps; running the same
# command again goes on from the last save. With TIME_LIMIT=S (seconds), training stops after S
# seconds in this invocation, saves, and the script exits with status 75: run it again to go on
# (for machines that limit how long one command may run).
# Prints this invocation's wall time at the end; train.log keeps every invocation's lines.
# Usage: OUT=/some/dir [STEPS=N] [TIME_LIMIT=S] bash benchmarks/train_demo_gpu.sh [extra train.py options]
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/demo-train}
STEPS=${STEPS:-14000}
TIME_LIMIT=${TIME_LIMIT:-0}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
start=$(date +%s)
$PY -m heartmula_core.demo.train --out "$OUT/demo-model" --steps "$STEPS" --batch 16 --lr 1e-3 --warmup 200 \
  --max-frames 960 --intro-weight 8 --key-weight 50 --boundary-weight 8 \
  --section-weight 1 --ahead-weight 1 --reference-chance 0.8 --strip-chance 0.8 \
  --corpus "$OUT/corpus.safetensors" --bank "$OUT/bank.safetensors" --save-every 1000 --ema 0.999 --structures grammar --seed 2 \
  --resume --time-limit "$TIME_LIMIT" "$@" 2>&1 | tee -a "$OUT/train.log"
status=${PIPESTATUS[0]}
echo "wall time of this invocation: $(( $(date +%s) - start )) s (corpus, reference bank, training, checkpoint); exit status $status" | tee -a "$OUT/train.log"
if [ "$status" -eq 75 ]; then
  echo "stopped by TIME_LIMIT; run the same command again to go on" | tee -a "$OUT/train.log"
elif [ "$status" -eq 0 ]; then
  ls -la "$OUT/demo-model" "$OUT/demo-model"/*
fi
exit "$status"
