#!/bin/sh
# The DCNv2 ablation as run for the README: every variant in its own process (seeds one after another), niced.
# Usage: sh scripts/run_ablation.sh [steps] [batch] [seeds...]   (default 300 steps, batch 2, seeds 0 1 2)
STEPS=${1:-300}
BATCH=${2:-2}
shift 2 2>/dev/null
SEEDS=${*:-0 1 2}
OUT=runs/ablation
mkdir -p $OUT
for variant in plain dcnv1-c3c5 dcnv2-c3c5 dcnv2-mdpool dcnv2-mdpool-mimic; do
  (for seed in $SEEDS; do
    nice -n 10 npx tsx scripts/ablation.ts --variant $variant --seed $seed --steps $STEPS --batch $BATCH --out $OUT
  done) >$OUT/$variant.log 2>&1 &
done
wait
