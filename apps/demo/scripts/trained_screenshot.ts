// The README's screenshot of a trained model: the demo page built by Vite in headless Chromium, a checkpoint of
// apps/detect's trainer loaded through the page's file input as a user would, detections on the shapes sample (wasm).
// Run after `pnpm build` and `pnpm start` (which trains runs/start):
//   cd apps/demo && npx tsx scripts/trained_screenshot.ts [checkpoint, default ../detect/runs/start/checkpoint.safetensors]
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DemoState } from '../src/main';
import { openDemo } from '../test/browser';

const checkpoint = resolve(process.argv[2] ?? '../detect/runs/start/checkpoint.safetensors');
if (!existsSync(checkpoint))
  throw new Error(`trained_screenshot: checkpoint ${checkpoint} does not exist (train one with pnpm start first)`);
const screenshotPath = fileURLToPath(new URL('../docs/demo-trained.png', import.meta.url));

const opened = await openDemo();
const page = opened.page;
const settled = async (): Promise<DemoState> => {
  await page.waitForFunction(() => !(window as unknown as { demo: DemoState }).demo.busy, undefined, {
    timeout: 600_000,
  });
  const state: DemoState = await page.evaluate(() =>
    JSON.parse(JSON.stringify((window as unknown as { demo: DemoState }).demo)),
  );
  if (state.error) throw new Error(`trained_screenshot: the page failed: ${state.error}`);
  return state;
};
try {
  await page.waitForFunction(() => 'demo' in window);
  await settled();
  await page.setInputFiles('#checkpoint-file', checkpoint);
  const loaded = await settled();
  await page.click('#detect');
  const shown = await settled();
  const views = (await page.locator('#views').boundingBox())!;
  await page.screenshot({ path: screenshotPath, clip: { x: 0, y: 0, width: 820, height: views.y + views.height + 8 } });
  const top = shown.detections!;
  console.log(
    `${loaded.model}: ${top.scores.length} detections, top scores ${top.scores.slice(0, 5).map((s) => s.toFixed(2))}`,
  );
  console.log(`wrote ${screenshotPath}`);
} finally {
  await opened.close();
}
