#!/usr/bin/env bash
# Train several demo-model runs at once, one per GPU, each with benchmarks/train_demo_gpu.sh (the
# shipped recipe) plus its own extra options: for comparing recipes or seeds in one GPU-machine lease.
# Run i goes to GPU i and writes $ROOT/NAME (checkpoint, corpus cache, train.log, training state).
# Resumable like train_demo_gpu.sh: with TIME_LIMIT=S each run stops after S seconds of training;
# run the same command again to go on. Exits 75 while any run is unfinished, 0 when all are done,
# 1 if any run failed.
# Usage: ROOT=/some/dir [TIME_LIMIT=S] bash benchmarks/train_demo_parallel.sh NAME "OPTIONS" [NAME "OPTIONS" ...]
# Example: ROOT=/tmp/runs bash benchmarks/train_demo_parallel.sh ema-s0 "--ema 0.999" ema-s1 "--ema 0.999 --seed 1"
set -uo pipefail
ROOT=${ROOT:-/tmp/demo-runs}
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -eq 0 ] || [ $(( $# % 2 )) -ne 0 ]; then
  echo "usage: ROOT=DIR bash $0 NAME \"OPTIONS\" [NAME \"OPTIONS\" ...]" >&2
  exit 2
fi
gpus=$(nvidia-smi --list-gpus 2>/dev/null | wc -l)
runs=$(( $# / 2 ))
if [ "$runs" -gt "$gpus" ]; then
  echo "$runs runs asked for but $gpus GPUs are visible" >&2
  exit 2
fi
mkdir -p "$ROOT"
pids=()
names=()
gpu=0
while [ $# -gt 0 ]; do
  name=$1 options=$2
  shift 2
  mkdir -p "$ROOT/$name"
  # shellcheck disable=SC2086  # OPTIONS is a list of words on purpose
  CUDA_VISIBLE_DEVICES=$gpu OUT="$ROOT/$name" bash "$here/train_demo_gpu.sh" $options \
    >"$ROOT/$name/console.log" 2>&1 &
  pids+=($!)
  names+=("$name")
  echo "run $name on GPU $gpu: $options"
  gpu=$(( gpu + 1 ))
done
worst=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"
  status=$?
  echo "run ${names[$i]}: exit status $status"
  tail -n 3 "$ROOT/${names[$i]}/console.log"
  if [ "$status" -ne 0 ] && [ "$status" -ne 75 ]; then
    worst=1
  elif [ "$status" -eq 75 ] && [ "$worst" -eq 0 ]; then
    worst=75
  fi
done
exit "$worst"
