// Measures two hostile label PNGs (issue 15 item 10): `node --import tsx scripts/probe_limits.mts <case> [src dir]`,
// from the package folder, under /usr/bin/time -v for peak RSS. Cases: png-bomb (a 64x53 header over 256 MB of
// deflated scanlines), png-huge (a 16000x16000 label map whose annotation says 64x53).
import { deflateSync } from 'node:zlib';
const [, , which, src = new URL('../src', import.meta.url).pathname] = process.argv;
const { decodeLabelPng, pngChunk } = await import(`${new URL('../src', import.meta.url).pathname}/formats/png.ts`);
const { decodeLabelPng: decodeUnderTest } = await import(`${src}/formats/png.ts`);
const { loadSample } = await import(`${src}/sample.ts`);
void decodeLabelPng;

function png(width: number, height: number, idat: Uint8Array): Uint8Array {
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header[8] = 8;
  return Buffer.concat([
    Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}
const scanlines = deflateSync(new Uint8Array(16000 * 16001));
const { writeFileSync, mkdtempSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const sharp = (await import('sharp')).default;
let file: Uint8Array;
let run: () => Promise<unknown>;
if (which === 'png-bomb') {
  file = png(64, 53, scanlines);
  run = async () => decodeUnderTest(file, 'bomb.png').data.length;
} else {
  file = png(16000, 16000, scanlines);
  const dir = mkdtempSync(join(tmpdir(), 'probe-'));
  writeFileSync(join(dir, 'labels.png'), file);
  writeFileSync(
    join(dir, 'image.png'),
    await sharp({ create: { width: 64, height: 53, channels: 3, background: 'red' } })
      .png()
      .toBuffer(),
  );
  const record = {
    id: 'x',
    imagePath: join(dir, 'image.png'),
    width: 64,
    height: 53,
    boxes: new Float32Array(0),
    labels: new Int32Array(0),
    iscrowd: new Uint8Array(0),
    area: new Float32Array(0),
    source: 'a.json',
    labelMap: { path: join(dir, 'labels.png'), encoding: 'indexed', numClasses: 21 },
  };
  run = async () => (await loadSample(record)).segmentation.length;
}
const t0 = performance.now();
let outcome: string;
try {
  outcome = `ok: ${String(await run())}`;
} catch (e) {
  outcome = `error: ${(e as Error).message.slice(0, 140)}`;
}
console.log(
  `${which}\tfile ${file.length} B\t${((performance.now() - t0) / 1000).toFixed(2)} s\trss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB\t${outcome}`,
);
