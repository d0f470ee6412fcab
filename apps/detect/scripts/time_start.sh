#!/usr/bin/env bash
# Times `pnpm start` end to end (build, shapes data, training, evaluations, drawings) and writes what it
# measured as JSON: wall and CPU seconds of the whole command, the machine's load average before, during
# (sampled every 5 s) and after, the start's AP numbers and training clocks from runs/start/metrics.json,
# the commit, the core count and the date.
#
# In a fresh clone, after `pnpm install --frozen-lockfile`, from the repository root:
#   bash apps/detect/scripts/time_start.sh                # writes apps/detect/docs/start/time-start.json
#   bash apps/detect/scripts/time_start.sh other.json     # or the file given
# It refuses to overwrite an existing result file (move it away first).
set -euo pipefail

root=$(git rev-parse --show-toplevel)
out=${1:-$root/apps/detect/docs/start/time-start.json}
if [ -e "$out" ]; then
  echo "time_start: $out exists; move it away or name another file" >&2
  exit 2
fi
if [ ! -x /usr/bin/time ]; then
  echo "time_start: needs /usr/bin/time (GNU time) for the CPU seconds of the whole command" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'kill "$sampler" 2>/dev/null || true; rm -rf "$work"' EXIT
read -r load_before _ < /proc/loadavg
# The 1-minute load average every 5 s while the start runs.
(while true; do cut -d' ' -f1 /proc/loadavg >> "$work/load"; sleep 5; done) &
sampler=$!

cd "$root"
/usr/bin/time -f '%e %U %S' -o "$work/time" pnpm start 2>&1 | tee "$work/log"
kill "$sampler" 2>/dev/null || true
read -r load_after _ < /proc/loadavg

LOAD_BEFORE=$load_before LOAD_AFTER=$load_after WORK=$work OUT=$out ROOT=$root \
  COMMIT=$(git rev-parse HEAD) CORES=$(nproc) node --input-type=module -e '
import { readFileSync, renameSync, writeFileSync } from "node:fs";
const env = process.env;
const [wall, user, system] = readFileSync(`${env.WORK}/time`, "utf8").trim().split(/\s+/).map(Number);
const samples = readFileSync(`${env.WORK}/load`, "utf8").trim().split("\n").map(Number);
const metrics = JSON.parse(readFileSync(`${env.ROOT}/apps/detect/runs/start/metrics.json`, "utf8"));
const names = ["AP", "AP50", "AP75", "AP_S", "AP_M", "AP_L"];
const result = {
  command: "pnpm start",
  commit: env.COMMIT,
  date: new Date().toISOString(),
  cores: Number(env.CORES),
  wallSeconds: wall,
  cpuSeconds: { user, system, total: +(user + system).toFixed(2) },
  loadAverage1min: {
    before: Number(env.LOAD_BEFORE),
    duringMin: Math.min(...samples),
    duringMean: +(samples.reduce((a, b) => a + b, 0) / samples.length).toFixed(2),
    duringMax: Math.max(...samples),
    after: Number(env.LOAD_AFTER),
  },
  training: {
    steps: metrics.loss.length,
    wallSeconds: +metrics.secondsTraining.toFixed(1),
    cpuSeconds: +metrics.cpuSecondsTraining.toFixed(1),
  },
  final: Object.fromEntries(names.map((n, i) => [n, +metrics.final.stats[i].toFixed(4)])),
};
const text = JSON.stringify(result, null, 1) + "\n";
writeFileSync(`${env.OUT}.partial`, text);
renameSync(`${env.OUT}.partial`, env.OUT);
process.stdout.write(text);
'
echo "time_start: wrote $out"
