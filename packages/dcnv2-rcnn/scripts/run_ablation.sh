#!/bin/sh
# The DCNv2 ablation of the README through the shared detection trainer (apps/detect), one run at a time (the
# trainer records wall and CPU seconds; on a shared machine it/s follows the load, CPU seconds per step much less),
# seed by seed so that every variant has a run before any has three. Resumable: a run whose metrics.json holds its final evaluation is skipped, an interrupted one
# continues from its checkpoint. After each run, scripts/sampling_analysis.ts times inference and measures where
# the deformable convs sample. Then: npx tsx scripts/ablation_report.ts
# Usage (in packages/dcnv2-rcnn, after pnpm build at the root): sh scripts/run_ablation.sh [seeds...]
OUT=runs/ablation
CLI=../../apps/detect/dist/cli.js
DATA="--size 64 --train-count 100 --val-count 80 --cache runs/data"
TRAIN="--batch 2 --epochs 4 --lr-drop 3 --lr 2e-3 --warmup 50 --draw 0 --workers 1"
mkdir -p $OUT
for seed in ${*:-0 1 2}; do
  for variant in plain dcnv1-c3c5 dcnv2-c3c5 dcnv2-mdpool dcnv2-mdpool-mimic; do
    run=$OUT/$variant-s$seed
    if ! grep -q '"final"' $run/metrics.json 2>/dev/null; then
      echo "$(date -u +%T) train $run (load $(cut -d' ' -f1-3 /proc/loadavg))"
      node $CLI train --model faster-rcnn --variant $variant --seed $seed $DATA $TRAIN --out $run >$run.log 2>&1 ||
        { echo "$run failed: see $run.log"; continue; }
    fi
    if [ ! -f $run/analysis.json ]; then
      echo "$(date -u +%T) analyse $run"
      npx tsx scripts/sampling_analysis.ts --run $run $DATA >>$run.log 2>&1 || echo "analysis of $run failed: see $run.log"
    fi
  done
done
echo "$(date -u +%T) done"
