#!/usr/bin/env bash
# Train several demo-model variants at once on one GPU (the 8 M-parameter model leaves most of an
# H100 idle), from one composed corpus, and copy each model and log into $OUT.
# Usage: OUT=dir bash benchmarks/train_demo_variants.sh VARIANTS_FILE [options shared by all]
# VARIANTS_FILE: one variant per line, "NAME extra options"; lines starting with # are skipped.
# Each run writes /tmp/variants/NAME (checkpoint root) and $OUT/NAME.log; $OUT/NAME.safetensors
# is its weights file (in 10 MB parts NAME.safetensors.part.* when over 16 MB). SECONDS_PER_RUN (default 480) cuts a run that is too slow (its last
# --save-every checkpoint is kept).
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/variants-out}
PY=${PYTHON:-python3}
VARIANTS=$1; shift
CORPUS=${CORPUS:-/tmp/variants/corpus.safetensors}
mkdir -p /tmp/variants "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
$PY -m heartmula_core.demo.train --out /tmp/variants/compose-only --corpus "$CORPUS" "$@" --steps 0 \
  > "$OUT/compose.log" 2>&1 || { tail -20 "$OUT/compose.log"; exit 1; }
pids=()
while read -r name options; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  # shellcheck disable=SC2086
  timeout "${SECONDS_PER_RUN:-480}" $PY -m heartmula_core.demo.train --out "/tmp/variants/$name" \
    --corpus "$CORPUS" "$@" $options > "$OUT/$name.log" 2>&1 &
  pids+=($!)
done < "$VARIANTS"
for pid in "${pids[@]}"; do wait "$pid" || true; done
for dir in /tmp/variants/*/HeartMuLa-oss-3B; do
  name=$(basename "$(dirname "$dir")")
  [[ "$name" == compose-only ]] && continue
  # files that come back from the device are limited to 16 MiB: larger weights come in parts
  # (join them with: cat NAME.safetensors.part.* > model.safetensors)
  if [ "$(stat -c %s "$dir/model.safetensors")" -gt 16000000 ]; then
    split -b 10000000 "$dir/model.safetensors" "$OUT/$name.safetensors.part."
  else
    cp "$dir/model.safetensors" "$OUT/$name.safetensors"
  fi
  tail -2 "$OUT/$name.log"
done
