#!/usr/bin/env bash
# Do adaptive key frames follow the generator's speed? One seed: trains the per-frame detector and the unified
# design as scripts/toy_tables.sh does (same data, steps and seeds; a finished run is left as it is), then evaluates
# the unified design with adaptive keys at several tau on 18 validation videos (the toy table's 6 and 12 more of the
# same generator: the training videos are the same bytes). Reports (JSON, with key frames by the speed bin of each
# video's fastest track) go to results/keys/seed<SEED>/, checkpoints to runs/keys/seed<SEED>/ (not committed).
# Run from apps/video-det after `pnpm build`:
#
#   nice -n 5 scripts/adaptive_keys.sh 0 && nice -n 5 scripts/adaptive_keys.sh 1 && npx tsx scripts/keys_table.ts
set -euo pipefail
SEED=${1:?usage: adaptive_keys.sh SEED}
RUNS=runs/keys/seed$SEED
RESULTS=results/keys/seed$SEED
DATA=(--size 128 --train-count 24 --video-frames 20 --motion-blur 0.5 --data-seed 0 --cache runs/data)
TRAIN=(--seed "$SEED" --checkpoint-every 50 --no-eval --val-count 6)
mkdir -p "$RESULTS"
video_det() { node dist/cli.js "$@"; }
video_det train --design per-frame --steps 300 --out "$RUNS/per-frame" "${TRAIN[@]}" "${DATA[@]}"
video_det train --design unified --steps 150 --warmup 10 --init "$RUNS/per-frame/checkpoint.safetensors" \
  --out "$RUNS/unified" "${TRAIN[@]}" "${DATA[@]}"
for tau in ${TAUS:-0.8 0.75 0.72 0.7 0.68 0.65 0.6}; do
  video_det eval --checkpoint "$RUNS/unified/checkpoint.safetensors" --report "$RESULTS/tau$tau.json" \
    --infer "adaptive=1,tau=$tau" --val-count 18 "${DATA[@]}"
done
