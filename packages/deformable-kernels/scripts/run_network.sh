#!/bin/sh
# The Deformable Kernels experiment: every depthwise variant for each seed given (default 0 1), one run at a time,
# the same budget for all (scripts/train_classifier.ts with the flags below), seed by seed so that a partial sweep
# covers every variant; a finished run is not repeated. Then: npx tsx scripts/network_report.ts
# Usage (in packages/deformable-kernels, after pnpm build at the root): sh scripts/run_network.sh 0 1 2
OUT=results/network
mkdir -p $OUT
for seed in ${*:-0 1}; do
  for variant in depthwise dk-local dk-global dcn dk+dcn; do
    [ -f $OUT/$variant-s$seed.json ] && continue
    echo "$(date -u +%T) $variant seed $seed (load $(cut -d' ' -f1-3 /proc/loadavg))"
    npx tsx scripts/train_classifier.ts --variant "$variant" --seed "$seed" --steps 250 --count 600 \
      --data runs/data --out $OUT || echo "$variant seed $seed failed"
  done
done
echo "$(date -u +%T) done"
