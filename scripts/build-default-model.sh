#!/usr/bin/env bash
# Rebuilds the embedded default model models/persona-tiny from the persona world:
#   corpus (TypeScript world generator: persona chats with the refusal chats of src/world/refusal.ts
#   spread among them) -> BPE tokenizer + Llama training from scratch (torch) -> ONNX export ->
#   behavioural check (onnxruntime-node + transformers.js).
# Needs Debian's torch under /usr/bin/python3 (apt-get install python3-torch libopenblas0-pthread;
# without OpenBLAS, Debian's torch falls back to the reference BLAS and trains ~8x slower).
#   scripts/build-default-model.sh [extra args for train-default-model.py]
# Then rebuild what is derived from it: scripts/build-finetuned-models.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

SEED="${WORLD_SEED:-1}"
SIZE="${WORLD_SIZE:-40000}"
REFUSAL="${REFUSAL_CHATS:-15000}"
STEPS="${STEPS:-1100}"
PYTHON="${PYTHON:-/usr/bin/python3}"
# MODEL_OUT: where to write (e.g. a build folder, to keep using the committed model while training).
OUT="${MODEL_OUT:-models/persona-tiny}"

mkdir -p build "$OUT/onnx"
npx tsx scripts/build-world-corpus.ts --out build/world-corpus.jsonl --size "$SIZE" --seed "$SEED" --refusal "$REFUSAL" --traits
# STEPS steps at lr 3.5e-3 (about one epoch); the time cap only guards a badly overloaded machine
# (a run stopped by it is recorded as stopped_by_time and is not step-for-step reproducible).
"$PYTHON" -u scripts/train-default-model.py --corpus build/world-corpus.jsonl --out "$OUT" \
  --steps "$STEPS" --lr 0.0035 --max-minutes 90 "$@" | tee build/train.log
npx tsx scripts/check-default-model.ts --model "$OUT" --json "$OUT/check-results.json" | tee build/check.log
