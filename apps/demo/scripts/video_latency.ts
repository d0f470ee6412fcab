// The mobile video design (@deformjs/video-det's MobileVOD: MobileNet + Light Flow + flow-guided GRU, random
// weights) in headless Chromium: per-frame, key-frame and non-key-frame latency at the toy widths 4 and 8 on
// 128 px frames, wasm at one thread and webgl (SwiftShader: no GPU here), rounds alternating the cases, medians of
// the times and of the per-round ratios. The cases are the Node bench's (packages/video-det/bench/frame_cases.ts).
// Writes docs/video_latency.json; apps/video-det/scripts/latency_table.ts puts it in that README.
// Run after `pnpm build`: cd apps/demo && nice -n 5 npx tsx scripts/video_latency.ts [wasm rounds, default 9]
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { roundRatios } from '@deformjs/core/bench';
import { writeFileAtomic } from '@deformjs/core/node';
import { openPage } from '../test/browser';
import type { VideoLatencyRequest, VideoLatencyResult } from '../test/pages/video_latency';

const wasmRounds = Number(process.argv[2] ?? 9);
if (!Number.isInteger(wasmRounds) || wasmRounds < 3)
  throw new Error(`wasm rounds: an integer >= 3, got ${process.argv[2]}`);
const outPath = fileURLToPath(new URL('../docs/video_latency.json', import.meta.url));
const WIDTHS = [4, 8];
const SIZE = 128;
const WHOLE_FRAMES = ['per-frame', 'key frame', 'non-key frame'];
const RATIOS: [string, string][] = [
  ['non-key frame', 'key frame'],
  ['non-key frame', 'per-frame'],
  ['key frame', 'per-frame'],
  ['Light Flow + warp', 'features'],
];
const requests: VideoLatencyRequest[] = [
  {
    backend: 'wasm',
    widths: WIDTHS,
    size: SIZE,
    cases: [...WHOLE_FRAMES, 'features', 'Light Flow + warp'],
    warmup: 2,
    rounds: wasmRounds,
  },
  // SwiftShader runs every shader on the CPU and compiles each program on first use: few rounds, whole frames only.
  { backend: 'webgl', widths: WIDTHS, size: SIZE, cases: WHOLE_FRAMES, warmup: 1, rounds: 3 },
];

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const opened = await openPage(new URL('../test/pages/video_latency.ts', import.meta.url).pathname);
const backends: object[] = [];
try {
  await opened.page.waitForFunction(() => 'deformjsVideoLatency' in globalThis);
  for (const request of requests) {
    const loadBefore = loadavg()[0];
    const start = performance.now();
    let result: VideoLatencyResult;
    try {
      result = await opened.page.evaluate(
        (r) =>
          (
            globalThis as unknown as { deformjsVideoLatency: { run(r: unknown): Promise<VideoLatencyResult> } }
          ).deformjsVideoLatency.run(r),
        request,
      );
    } catch (error) {
      backends.push({ backend: request.backend, error: String(error) });
      console.log(`${request.backend}: failed: ${error}`);
      continue;
    }
    const minutes = (performance.now() - start) / 60_000;
    const load = [loadBefore, loadavg()[0]].map((v) => Math.round(v * 100) / 100);
    const msMedian = Object.fromEntries(
      Object.entries(result.times).map(([name, t]) => [name, Math.round(median(t) * 10) / 10]),
    );
    const ratios = WIDTHS.flatMap((w) =>
      RATIOS.filter((pair) => pair.every((c) => request.cases.includes(c))).map(([a, b]) => ({
        numerator: `w${w}: ${a}`,
        denominator: `w${w}: ${b}`,
        ...roundRatios(result.times[`w${w}: ${a}`], result.times[`w${w}: ${b}`]),
      })),
    );
    backends.push({
      ...request,
      ...result,
      minutes: Math.round(minutes * 10) / 10,
      loadAverage1m: load,
      msMedian,
      ratios,
    });
    console.log(request.backend, `threads ${result.threads}`, `load ${load.join(' -> ')}`, msMedian, ratios);
  }
} finally {
  await opened.close();
}
if (opened.errors.length) console.log(`the page logged errors: ${opened.errors.join('\n')}`);
writeFileAtomic(
  outPath,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      model: 'MobileVOD (MobileNet v1 + Light Flow + flow-guided GRU, FPN 8, instance norm), random weights',
      chromium: opened.browserVersion,
      node: process.version,
      cores: availableParallelism(),
      backends,
      pageErrors: opened.errors,
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${outPath}`);
