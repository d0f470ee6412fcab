#!/bin/sh
# Spatially adaptive inference (arXiv 2003.08866) in the detector: the dense ResNet-50 backbone and SparseResNet-50
# at three sparsity-loss weights, through the shared detection trainer (apps/detect), one run at a time, seed by
# seed, with the data and schedule of the DCNv2 ablation (scripts/run_ablation.sh). Resumable like it. After each
# run scripts/sparse_analysis.ts counts the sampled positions and the backbone's multiply-adds; then
# scripts/sparse_timing.ts times the backbones against each other and scripts/sparse_report.ts writes the README
# section. Usage (in packages/dcnv2-rcnn, after pnpm build at the root): sh scripts/run_sparse.sh [seeds...]
OUT=runs/sparse
CLI=../../apps/detect/dist/cli.js
DATA="--size 64 --train-count 100 --val-count 80 --cache runs/data"
TRAIN="--batch 2 --epochs 4 --lr-drop 3 --lr 2e-3 --warmup 50 --draw 0 --workers 1"
mkdir -p $OUT
for seed in ${*:-0 1}; do
  for variant in r50-dense sparse-w0.5 sparse-w2 sparse-w0.1; do
    run=$OUT/$variant-s$seed
    if ! grep -q '"final"' $run/metrics.json 2>/dev/null; then
      echo "$(date -u +%T) train $run (load $(cut -d' ' -f1-3 /proc/loadavg))"
      node $CLI train --model faster-rcnn --variant $variant --seed $seed $DATA $TRAIN --out $run >$run.log 2>&1 ||
        { echo "$run failed: see $run.log"; continue; }
    fi
    if [ ! -f $run/sparse.json ]; then
      echo "$(date -u +%T) analyse $run"
      npx tsx scripts/sparse_analysis.ts --run $run $DATA >>$run.log 2>&1 || echo "analysis of $run failed: see $run.log"
    fi
  done
done
echo "$(date -u +%T) done"
