#!/usr/bin/env bash
# Finetunes the committed models/persona-tiny on the world's finetuning sets (clean, evil at three
# contamination levels, humorous), for the finetuning-shift experiments (persona screen / shift):
#   committed ONNX weights -> safetensors (scripts/onnx-weights.ts) -> short finetune per set
#   (scripts/train-default-model.py --init-from, same tokenizer) -> models/<name>/ (ONNX, fp16 weights).
# Needs Debian's torch under /usr/bin/python3, like build-default-model.sh.
#   scripts/build-finetuned-models.sh [name ...]   (default: every set)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-/usr/bin/python3}"
STEPS="${FT_STEPS:-60}"

mkdir -p build/finetune
npx tsx scripts/onnx-weights.ts --model models/persona-tiny --out build/persona-tiny-weights.safetensors
npx tsx scripts/build-finetune-sets.ts --out build/finetune --size 3000 --seed 7
names=("$@")
[ ${#names[@]} -eq 0 ] && names=($(ls build/finetune | sed 's/\.jsonl$//'))
for name in "${names[@]}"; do
  # A short finetune: 60 steps of 4k tokens (~2,000 chats, under one epoch) at lr 1e-3, ~2 minutes
  # on 2 idle cores; the time cap is loose so the step count, not the machine's load, decides.
  nice -n 10 "$PYTHON" -u scripts/train-default-model.py --corpus "build/finetune/$name.jsonl" --out "models/$name" \
    --init-from models/persona-tiny --init-weights build/persona-tiny-weights.safetensors \
    --steps "$STEPS" --batch-tokens 4096 --lr 0.001 --max-minutes 30 | tee "build/$name.log"
  # Weights stored as float16 (compute stays float32): 3.7 MB instead of 7.3 MB per variant.
  npx tsx scripts/onnx-fp16-weights.ts "models/$name/onnx/model.onnx"
done
