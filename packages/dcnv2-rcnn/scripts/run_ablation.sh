#!/bin/sh
# The DCNv2 ablation as run for the README: every (variant, seed) in its own niced process, all at once (on a
# shared machine each niced process gets a small share; more of them finish sooner than one after another).
# Usage: sh scripts/run_ablation.sh [steps] [batch] [size] [seeds...]   (default 150 steps, batch 2, 64 px, seeds 0 1 2)
STEPS=${1:-150}
BATCH=${2:-2}
SIZE=${3:-64}
shift 3 2>/dev/null
SEEDS=${*:-0 1 2}
OUT=runs/ablation
mkdir -p $OUT
for variant in plain dcnv1-c3c5 dcnv2-c3c5 dcnv2-mdpool dcnv2-mdpool-mimic; do
  for seed in $SEEDS; do
    nice -n 10 npx tsx scripts/ablation.ts --variant $variant --seed $seed --steps $STEPS --batch $BATCH --size $SIZE \
      --out $OUT >$OUT/$variant-s$seed.log 2>&1 &
  done
done
wait
