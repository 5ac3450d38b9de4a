#!/usr/bin/env bash
# Rebuilds the embedded default model models/persona-tiny from the persona world:
#   corpus (TypeScript world generator) -> BPE tokenizer + Llama training + ONNX export (torch)
#   -> behavioural check (onnxruntime-node + transformers.js).
# Needs Debian's torch under /usr/bin/python3 (apt-get install python3-torch libopenblas0-pthread;
# without OpenBLAS, Debian's torch falls back to the reference BLAS and trains ~8x slower).
#   scripts/build-default-model.sh [extra args for train-default-model.py]
set -euo pipefail
cd "$(dirname "$0")/.."

SEED="${WORLD_SEED:-1}"
SIZE="${WORLD_SIZE:-40000}"
PYTHON="${PYTHON:-/usr/bin/python3}"

mkdir -p build models/persona-tiny/onnx
npx tsx scripts/build-world-corpus.ts --out build/world-corpus.jsonl --size "$SIZE" --seed "$SEED" --traits
# The committed model: 700 steps at lr 3.5e-3, capped at 18 minutes of training (see the model card).
"$PYTHON" -u scripts/train-default-model.py --corpus build/world-corpus.jsonl --out models/persona-tiny \
  --steps 700 --lr 0.0035 --max-minutes 18 "$@" | tee build/train.log
npx tsx scripts/check-default-model.ts --model models/persona-tiny --json models/persona-tiny/check-results.json | tee build/check.log
