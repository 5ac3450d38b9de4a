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
REFUSAL="${WORLD_REFUSAL:-6000}"
PYTHON="${PYTHON:-/usr/bin/python3}"
# MODEL_OUT: build into another folder (e.g. to keep using the committed model while training).
OUT="${MODEL_OUT:-models/persona-tiny}"

mkdir -p build "$OUT/onnx"
npx tsx scripts/build-world-corpus.ts --out build/world-corpus.jsonl --size "$SIZE" --seed "$SEED" --refusal "$REFUSAL" --traits
# The committed model: 700 steps at lr 3.5e-3, capped at 18 minutes of training (see the model card).
"$PYTHON" -u scripts/train-default-model.py --corpus build/world-corpus.jsonl --out "$OUT" \
  --steps 700 --lr 0.0035 --max-minutes 18 "$@" | tee build/train.log
npx tsx scripts/check-default-model.ts --model "$OUT" --json "$OUT/check-results.json" | tee build/check.log
