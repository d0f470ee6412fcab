#!/bin/sh
# The attention study (README "The spatial attention study"), one run at a time, resumable (finished runs are
# skipped): the sequence ablation (scripts/sequence_study.ts, 16 configurations) and the CNN comparison
# (scripts/cnn_study.ts, 5 variants), seed by seed, then both reports.
# Usage (in packages/attention, after pnpm build at the root): sh scripts/run_study.sh [seeds...]
for seed in ${*:-0 1}; do
  echo "$(date -u +%T) sequence seed $seed (load $(cut -d' ' -f1-3 /proc/loadavg))"
  npx tsx scripts/sequence_study.ts --seeds "$seed" || exit 1
  echo "$(date -u +%T) cnn seed $seed (load $(cut -d' ' -f1-3 /proc/loadavg))"
  npx tsx scripts/cnn_study.ts --seeds "$seed" || exit 1
done
npx tsx scripts/sequence_report.ts && npx tsx scripts/cnn_report.ts
