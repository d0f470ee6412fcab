#!/bin/bash
# Runs every probe_limits.mts case in its own process under /usr/bin/time -v (peak RSS), 120 s each at most.
# Usage, from packages/weights: bash scripts/run_limits.sh [src dir] (another src dir measures another version).
for c in long4-256k long4-1m stride0 nan-numel nested-100k cycle proto deflated; do
  /usr/bin/time -v timeout 120 node --import tsx scripts/probe_limits.mts $c "$@" 2>/tmp/probe_time.txt | tr '\n' ' '
  grep -E "Maximum resident|Exit status" /tmp/probe_time.txt | sed 's/^\s*//' | tr '\n' ' '
  echo
done
