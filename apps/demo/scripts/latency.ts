// Deformable DETR small (the seeded model: `pnpm start`'s configuration) on the shapes sample: first call and steady
// state per stage, in Node on wasm and in headless Chromium on wasm and webgl (the demo page built by Vite and driven
// as the tests drive it). Writes docs/latency.json and the README's latency table.
// Run after `pnpm build`: cd apps/demo && DEFORMJS_THREADS=1 npx tsx scripts/latency.ts [steady calls, default 12]
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@deformjs/core';
import { writeFileAtomic, writeMarkedSection } from '@deformjs/core/node';
import { decodeImage } from '@deformjs/datasets';
import { loadDemoDetector, medianTimes, seededCheckpoint, STAGES, type StageTimes } from '../src/detection';
import type { DemoState } from '../src/main';
import { openDemo } from '../test/browser';

const calls = Number(process.argv[2] ?? 12);
if (!Number.isInteger(calls) || calls < 3) throw new Error(`steady calls: an integer >= 3, got ${process.argv[2]}`);
const samplePath = fileURLToPath(new URL('../public/shapes-sample.png', import.meta.url));
const outPath = fileURLToPath(new URL('../docs/latency.json', import.meta.url));
const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));

interface Latency {
  first: StageTimes;
  steady: StageTimes;
  calls: number;
}

async function inNode(): Promise<Latency & { threads: string }> {
  await initBackend('wasm');
  const image = await decodeImage(samplePath, 'shapes-sample.png');
  const demo = loadDemoDetector(seededCheckpoint(), 'seeded');
  try {
    const first = demo.detect(image).times;
    const runs = Array.from({ length: calls }, () => demo.detect(image).times);
    return { first, steady: medianTimes(runs), calls, threads: process.env.DEFORMJS_THREADS ?? 'all cores (up to 8)' };
  } finally {
    demo.dispose();
  }
}

async function inChromium(): Promise<{ version: string; crossOriginIsolated: boolean; wasm: Latency; webgl: Latency }> {
  const opened = await openDemo();
  const page = opened.page;
  const state = (): Promise<DemoState> =>
    page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { demo: DemoState }).demo)));
  const settled = async () => {
    await page.waitForFunction(() => !(window as unknown as { demo: DemoState }).demo.busy, undefined, {
      timeout: 600_000,
    });
    const s = await state();
    if (s.error) throw new Error(`the page failed: ${s.error}`);
    return s;
  };
  try {
    await page.waitForFunction(() => 'demo' in window);
    await settled();
    const results: Record<string, Latency> = {};
    for (const backend of ['wasm', 'webgl']) {
      if ((await state()).backend !== backend) {
        await page.selectOption('#backend', backend);
        await settled();
      }
      let first: StageTimes | null = null;
      const runs: StageTimes[] = [];
      while (runs.length < calls) {
        await page.click('#detect');
        const s = await settled();
        first ??= s.times.first;
        runs.push(...s.times.runs);
      }
      results[backend] = { first: first!, steady: medianTimes(runs), calls: runs.length };
    }
    return {
      version: opened.browserVersion,
      crossOriginIsolated: await page.evaluate(() => crossOriginIsolated),
      wasm: results.wasm,
      webgl: results.webgl,
    };
  } finally {
    await opened.close();
  }
}

const loadBefore = loadavg();
const node = await inNode();
const chromium = await inChromium();
const loadAfter = loadavg();
const image = await decodeImage(samplePath, 'shapes-sample.png');
const report = {
  model: "Deformable DETR small, two-stage (pnpm start's configuration), seeded and untrained",
  image: `public/shapes-sample.png, ${image.width}x${image.height}`,
  loadavg: { before: loadBefore, after: loadAfter },
  node: { version: process.version, ...node },
  chromium,
};
writeFileAtomic(outPath, JSON.stringify(report, null, 2) + '\n');

const ms = (t: StageTimes, stage: keyof StageTimes) => t[stage].toFixed(1);
const row = (label: string, l: Latency) =>
  `| ${label} | ${[...STAGES, 'total'].map((s) => `${ms(l.first, s as keyof StageTimes)} / ${ms(l.steady, s as keyof StageTimes)}`).join(' | ')} |`;
const table = [
  `| ms, first call / steady (median of ${calls}) | ${[...STAGES, 'total'].join(' | ')} |`,
  `|---|${[...STAGES, 'total'].map(() => '---').join('|')}|`,
  row(`Node ${process.version}, wasm (threads: ${node.threads})`, node),
  row(
    `Chromium ${chromium.version}, wasm (${chromium.crossOriginIsolated ? 'threads possible' : 'one thread: the page is not cross-origin isolated'})`,
    chromium.wasm,
  ),
  row(`Chromium ${chromium.version}, webgl (SwiftShader, no GPU)`, chromium.webgl),
  '',
  `Load average ${loadBefore.map((v) => v.toFixed(1)).join(' ')} before, ${loadAfter.map((v) => v.toFixed(1)).join(' ')} after (2 shared cores). ${report.image}. From \`docs/latency.json\`.`,
].join('\n');
writeMarkedSection(readmePath, '<!-- latency:start -->', '<!-- latency:end -->', table);
console.log(table);
