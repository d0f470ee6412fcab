#!/usr/bin/env bash
# The toy-scale speed/accuracy tables, one seed. Part 1 (default): trains the per-frame detector, then DFF, FGFA and
# the unified design initialised from it, and evaluates each at the table's inference settings. `mobile`: the mobile
# design at two widths on the same data and budget, each from its own per-frame MobileNet detector, evaluated at
# several key intervals with one wasm thread (the mAP-vs-fps table). `tracking`: the per-frame detector as part 1's,
# then tracklet-conditioned detection initialised from it, tracked with conditioned and with plain scores (the same
# association), at the tracker's default thresholds and at lower ones for a weak detector; `tracking-long`: the same
# from a per-frame detector trained 1500 steps and 300 tracking steps (reports tracking-long-*). Eval reports (JSON) go to results/toy/seed<SEED>/,
# checkpoints to runs/toy/seed<SEED>/ (not committed). README's tables are written from the reports by
# scripts/table.ts. Run from apps/video-det after `pnpm build`:
#
#   nice -n 5 scripts/toy_tables.sh 0 && nice -n 5 scripts/toy_tables.sh 1 && npx tsx scripts/table.ts
#   nice -n 5 scripts/toy_tables.sh 0 mobile && nice -n 5 scripts/toy_tables.sh 1 mobile && npx tsx scripts/table.ts
#   nice -n 5 scripts/toy_tables.sh 0 mobile-init && nice -n 5 scripts/toy_tables.sh 1 mobile-init   (after mobile)
#   nice -n 5 scripts/toy_tables.sh 0 mobile-lr && nice -n 5 scripts/toy_tables.sh 1 mobile-lr       (after mobile)
#   nice -n 5 scripts/toy_tables.sh 0 tracking && nice -n 5 scripts/toy_tables.sh 1 tracking && npx tsx scripts/table.ts
#   nice -n 5 scripts/toy_tables.sh 0 tracking-long && nice -n 5 scripts/toy_tables.sh 1 tracking-long
set -euo pipefail
SEED=${1:?usage: toy_tables.sh SEED [part1|mobile|mobile-init|mobile-lr|tracking|tracking-long]}
PART=${2:-part1}
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
case $PART in
part1)
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
  ;;
mobile)
  # MobileNet v1 stem width and Light Flow conv1 width w (4: half, 8: the toy "1.0"); as part 1, the per-frame
  # detector 300 steps from scratch, then the video design 150 steps from it. Timed with one wasm thread. The
  # mobile preset's norm is 'instance'; part 1's per-frame ResNet-18 and DFF are trained again with it too, so
  # the two families compare at the same norm.
  export DEFORMJS_THREADS=1
  for w in 4 8; do
    MODEL=(--width $w --flow-width $w)
    video_det train --preset mobile --steps 300 --out "$RUNS/per-frame-mobile-w$w" "${MODEL[@]}" "${TRAIN[@]}" "${DATA[@]}"
    evaluate "per-frame-mobile-w$w" "per-frame-mobile-w$w"
    video_det train --design mobile --steps 150 --warmup 10 --init "$RUNS/per-frame-mobile-w$w/checkpoint.safetensors" \
      --out "$RUNS/mobile-w$w" "${MODEL[@]}" "${TRAIN[@]}" "${DATA[@]}"
    for k in 1 2 5 10; do evaluate "mobile-w$w" "mobile-w$w-k$k" "keyInterval=$k"; done
  done
  video_det train --design per-frame --norm instance --steps 300 --out "$RUNS/per-frame-instance" "${TRAIN[@]}" "${DATA[@]}"
  evaluate per-frame-instance per-frame-instance
  video_det train --design dff --norm instance --steps 150 --warmup 10 \
    --init "$RUNS/per-frame-instance/checkpoint.safetensors" --out "$RUNS/dff-instance" "${TRAIN[@]}" "${DATA[@]}"
  for k in 2 5 10; do evaluate dff-instance "dff-instance-k$k" "keyInterval=$k"; done
  ;;
mobile-init)
  # The mobile design as initialised from `mobile`'s per-frame MobileNet detectors, before design training (one
  # step at lr 1e-12: the CLI takes at least one step): the GRU starts as the current frame's features, Light Flow
  # untrained. Run after `mobile`.
  export DEFORMJS_THREADS=1
  for w in 4 8; do
    video_det train --design mobile --steps 1 --lr 1e-12 --warmup 1 --lr-drop 1 \
      --init "$RUNS/per-frame-mobile-w$w/checkpoint.safetensors" --out "$RUNS/mobile-init-w$w" --width $w --flow-width $w \
      "${TRAIN[@]}" "${DATA[@]}"
    for k in 1 10; do evaluate "mobile-init-w$w" "mobile-init-w$w-k$k" "keyInterval=$k"; done
  done
  ;;
mobile-lr)
  # The mobile design's 150 steps at a tenth of the learning rate (1e-4), width 4: does the design training's step
  # size take the per-frame detector's accuracy away? Run after `mobile`.
  export DEFORMJS_THREADS=1
  video_det train --design mobile --steps 150 --warmup 10 --lr 1e-4 --init "$RUNS/per-frame-mobile-w4/checkpoint.safetensors" \
    --out "$RUNS/mobile-lr1e-4-w4" --width 4 --flow-width 4 "${TRAIN[@]}" "${DATA[@]}"
  for k in 1 10; do evaluate "mobile-lr1e-4-w4" "mobile-lr1e-4-w4-k$k" "keyInterval=$k"; done
  ;;
tracking | tracking-long)
  # part 1's budget (300 + 150 steps), or 5x the detector's and 2x the tracking steps.
  if [ "$PART" = tracking ]; then STEPS=(300 150); NAME=tracking; else STEPS=(1500 300); NAME=tracking-long; fi
  DETECTOR=per-frame-${STEPS[0]}
  [ "${STEPS[0]}" = 300 ] && DETECTOR=per-frame
  video_det train --design per-frame --steps "${STEPS[0]}" --out "$RUNS/$DETECTOR" "${TRAIN[@]}" "${DATA[@]}"
  video_det train --design tracking --steps "${STEPS[1]}" --warmup 10 --init "$RUNS/$DETECTOR/checkpoint.safetensors" \
    --out "$RUNS/$NAME" "${TRAIN[@]}" "${DATA[@]}"
  for condition in 1 0; do
    evaluate $NAME "$NAME-condition$condition" "condition=$condition"
    evaluate $NAME "$NAME-condition$condition-low" "condition=$condition,birthScore=0.2,outputScore=0.1"
  done
  ;;
*)
  echo "toy_tables.sh: part must be part1, mobile, mobile-init, mobile-lr, tracking or tracking-long, got $PART" >&2
  exit 2
  ;;
esac
