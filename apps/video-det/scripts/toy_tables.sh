#!/usr/bin/env bash
# The toy-scale speed/accuracy table, one seed: trains the per-frame detector, then DFF, FGFA and the unified
# design initialised from it, and evaluates each at the table's inference settings. Eval reports (JSON) go to
# results/toy/seed<SEED>/, checkpoints to runs/toy/seed<SEED>/ (not committed). README's table is written from the
# reports by scripts/table.ts. Run from apps/video-det after `pnpm build`:
#
#   nice -n 5 scripts/toy_tables.sh 0 && nice -n 5 scripts/toy_tables.sh 1 && npx tsx scripts/table.ts
set -euo pipefail
SEED=${1:?usage: toy_tables.sh SEED}
RUNS=runs/toy/seed$SEED
RESULTS=results/toy/seed$SEED
# 24 training and 6 validation videos of 20 frames, 128 px, motion blur 0.5 (fast shapes smear).
DATA=(--size 128 --train-count 24 --val-count 6 --video-frames 20 --motion-blur 0.5 --data-seed 0 --cache runs/data)
TRAIN=(--seed "$SEED" --checkpoint-every 50 --no-eval)
mkdir -p "$RESULTS"
video_det() { node dist/cli.js "$@"; }
evaluate() { # design, report name, inference settings
  video_det eval --checkpoint "$RUNS/$1/checkpoint.safetensors" --report "$RESULTS/$2.json" ${3:+--infer "$3"} "${DATA[@]}"
}
video_det train --design per-frame --steps 300 --out "$RUNS/per-frame" "${TRAIN[@]}" "${DATA[@]}"
evaluate per-frame per-frame
for design in dff fgfa unified; do
  video_det train --design $design --steps 150 --warmup 10 --init "$RUNS/per-frame/checkpoint.safetensors" \
    --out "$RUNS/$design" "${TRAIN[@]}" "${DATA[@]}"
done
for k in 2 5 10; do evaluate dff "dff-k$k" "keyInterval=$k"; done
for r in 2 9; do evaluate fgfa "fgfa-r$r" "radius=$r"; done
evaluate unified unified-k10 "keyInterval=10"
evaluate unified unified-adaptive "adaptive=1"
