#!/bin/sh
# The README's two studies through the shared detection trainer (apps/detect), one run at a time (the trainer
# records wall and CPU seconds; on a shared machine it/s follows the load, CPU seconds per step much less), seed by
# seed so that every variant has a run before any has the next seed. Both use 100 shapes images of 64 px and one
# schedule.
#   ablation: the DCNv2 ablation; after each run scripts/sampling_analysis.ts times inference and measures where the
#             deformable convs sample. Then: npx tsx scripts/ablation_report.ts
#   sparse:   spatially adaptive inference (arXiv 2003.08866): the dense ResNet-50 backbone and SparseResNet-50 at
#             three sparsity-loss weights; after each run scripts/sparse_analysis.ts counts the sampled positions and
#             the backbone's multiply-adds. Then: npx tsx scripts/sparse_timing.ts && npx tsx scripts/sparse_report.ts
# Resumable: a run whose metrics.json holds its final evaluation is skipped, an interrupted one continues from its
# checkpoint, an analysis already written is kept.
# Usage (in packages/dcnv2-rcnn, after pnpm build at the root): sh scripts/run_study.sh ablation|sparse [seeds...]
study=$1
[ $# -gt 0 ] && shift
case $study in
ablation)
  variants="plain dcnv1-c3c5 dcnv2-c3c5 dcnv2-mdpool dcnv2-mdpool-mimic" seeds=${*:-0 1 2}
  analysis=sampling_analysis analysed=analysis.json
  ;;
sparse)
  variants="r50-dense sparse-w0.5 sparse-w2 sparse-w0.1" seeds=${*:-0 1}
  analysis=sparse_analysis analysed=sparse.json
  ;;
*)
  echo "usage: sh scripts/run_study.sh ablation|sparse [seeds...] (got '$study')" >&2
  exit 2
  ;;
esac
OUT=runs/$study
CLI=../../apps/detect/dist/cli.js
DATA="--size 64 --train-count 100 --val-count 80 --cache runs/data"
TRAIN="--batch 2 --epochs 4 --lr-drop 3 --lr 2e-3 --warmup 50 --draw 0 --workers 1"
mkdir -p $OUT
for seed in $seeds; do
  for variant in $variants; do
    run=$OUT/$variant-s$seed
    if ! grep -q '"final"' $run/metrics.json 2>/dev/null; then
      echo "$(date -u +%T) train $run (load $(cut -d' ' -f1-3 /proc/loadavg))"
      node $CLI train --model faster-rcnn --variant $variant --seed $seed $DATA $TRAIN --out $run >$run.log 2>&1 ||
        { echo "$run failed: see $run.log"; continue; }
    fi
    if [ ! -f $run/$analysed ]; then
      echo "$(date -u +%T) analyse $run"
      npx tsx scripts/$analysis.ts --run $run $DATA >>$run.log 2>&1 || echo "analysis of $run failed: see $run.log"
    fi
  done
done
echo "$(date -u +%T) done"
