#!/bin/sh
# The README's comparison, for the seeds given (sh scripts/run_compare.sh 0 1 2, from apps/vl-bert after a build):
# per seed one pre-training (colour and shape words masked with probability 0.5, other words 0.15), then VQA,
# grounding and VCR fine-tuned from it and from scratch with equal steps, each on the first 200 training items of
# its set (the low-data regime), then the table from the run records.
set -e
ROOT=${ROOT:-runs/content-mask}
DATA=${DATA:-runs/data}
COMMON="--data $DATA --region-features --visual-scale-init 1 --checkpoint-every 500"
FINETUNE="--steps 200 --batch 8 --lr 1e-3 --warmup 20 --finetune-items 200"
for s in "$@"; do
  node dist/cli.js pretrain $COMMON --seed "$s" --steps 3000 --content-mask 0.5 --batch 16 --lr 2e-3 --warmup 100 --out "$ROOT/seed$s/pretrain"
  init="$ROOT/seed$s/pretrain/checkpoint.safetensors"
  for task in vqa grounding vcr; do
    node dist/cli.js finetune --task $task $COMMON $FINETUNE --seed "$s" --init "$init" --out "$ROOT/seed$s/$task-pretrained"
    node dist/cli.js finetune --task $task $COMMON $FINETUNE --seed "$s" --out "$ROOT/seed$s/$task-scratch"
  done
done
node dist/cli.js report --runs "$ROOT"
