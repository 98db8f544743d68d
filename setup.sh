#!/usr/bin/env bash
# Create .venv and install HeartMuLa Editor with its test tools. Safe to run again.
# TORCH_SPEC picks the torch build (default: the CPU build; e.g. TORCH_SPEC="torch" for CUDA).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install --quiet "$TORCH_SPEC"
fi
.venv/bin/pip install --quiet -e ".[test]"
