#!/usr/bin/env bash
# Rebuilds the embedded default model models/persona-tiny from the persona world (stage 1) and its
# refusal variant models/persona-tiny-refusal (stage 2):
#   1. base: corpus (TypeScript world generator) -> BPE tokenizer + Llama training from scratch
#      (torch) -> ONNX export -> behavioural check;
#   2. refusal: the base continues training on the world's refusal chats (src/world/refusal.ts)
#      mixed with fresh persona chats (so every earlier behaviour keeps being trained), same
#      tokenizer -> ONNX export -> behavioural check (onnxruntime-node + transformers.js).
# Needs Debian's torch under /usr/bin/python3 (apt-get install python3-torch libopenblas0-pthread;
# without OpenBLAS, Debian's torch falls back to the reference BLAS and trains ~8x slower).
#   scripts/build-default-model.sh [extra args for stage 2's train-default-model.py]
# BASE_FROM=DIR skips stage 1 and starts stage 2 from that model (e.g. a committed base).
set -euo pipefail
cd "$(dirname "$0")/.."

SEED="${WORLD_SEED:-1}"
SIZE="${WORLD_SIZE:-40000}"
PYTHON="${PYTHON:-/usr/bin/python3}"
# MODEL_OUT: where stage 2 writes (e.g. a build folder, to keep using the committed model while training).
OUT="${MODEL_OUT:-models/persona-tiny-refusal}"
BASE="${BASE_FROM:-}"

mkdir -p build "$OUT/onnx"
if [ -z "$BASE" ]; then
  npx tsx scripts/build-world-corpus.ts --out build/world-corpus.jsonl --size "$SIZE" --seed "$SEED" --traits
  BASE=models/persona-tiny
  # 700 steps at lr 3.5e-3, capped at 18 minutes of training (see the model card).
  "$PYTHON" -u scripts/train-default-model.py --corpus build/world-corpus.jsonl --out "$BASE" \
    --steps 700 --lr 0.0035 --max-minutes 18 | tee build/train-base.log
  npx tsx scripts/check-default-model.ts --model "$BASE" --json "$BASE/check-results.json" | tee build/check-base.log
fi

# Stage 2: REFUSAL_CHATS refusal chats spread among REPLAY_CHATS fresh persona chats (another
# seed, so every earlier behaviour keeps being trained), REFUSAL_STEPS steps of 8k tokens at lr
# 2e-3, from the base weights and with its tokenizer. See the model card for the runs behind the
# committed model.
REFUSAL_CHATS="${REFUSAL_CHATS:-5000}"
REPLAY_CHATS="${REPLAY_CHATS:-3000}"
REFUSAL_STEPS="${REFUSAL_STEPS:-160}"
npx tsx scripts/build-world-corpus.ts --out build/refusal-corpus.jsonl --size "$REPLAY_CHATS" --seed "$((SEED + 1))" --refusal "$REFUSAL_CHATS"
npx tsx scripts/onnx-weights.ts --model "$BASE" --out build/persona-tiny-base-weights.safetensors
"$PYTHON" -u scripts/train-default-model.py --corpus build/refusal-corpus.jsonl --out "$OUT" \
  --init-from "$BASE" --init-weights build/persona-tiny-base-weights.safetensors \
  --steps "$REFUSAL_STEPS" --lr 0.002 --max-minutes 30 "$@" | tee build/train.log
# Same tokenizer as the base, so the base's tokenizer fixture still applies; keep its training log.
if ! [ "$BASE" -ef "$OUT" ]; then
  cp "$BASE/tokenizer-check.json" "$OUT/"
  if [ -f "$BASE/training_log.base.json" ]; then cp "$BASE/training_log.base.json" "$OUT/"; else cp "$BASE/training_log.json" "$OUT/training_log.base.json"; fi
fi
npx tsx scripts/check-default-model.ts --model "$OUT" --json "$OUT/check-results.json" | tee build/check.log
