// Writes public/shapes-sample.png, the page's built-in sample and the tests' fixture: the first validation image of
// the synthetic shapes world (seed 0, 128 px, PNG so the browser decodes the same pixels as Node): of the first 8
// validation images, the one with the most shapes.
// Run: cd apps/demo && npx tsx scripts/make_sample.ts
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateDetection } from '@deformjs/datasets';

const out = mkdtempSync(join(tmpdir(), 'demo-sample-'));
try {
  const files = await generateDetection({ out, seed: 0, count: 1, valCount: 8, size: 128, format: 'png' });
  const val = files.images.filter((image) => image.split === 'val');
  const busiest = val.reduce((best, image) => (image.boxes.length > best.boxes.length ? image : best));
  const fileName = `${String(busiest.id).padStart(12, '0')}.png`;
  copyFileSync(
    join(files.val.imageDir, fileName),
    fileURLToPath(new URL('../public/shapes-sample.png', import.meta.url)),
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
