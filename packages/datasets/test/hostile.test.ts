import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCoco } from '../src/coco';
import { decodeLabelPng, pngChunk, vocPalette } from '../src/formats/png';
import { parseXml } from '../src/formats/xml';
import { decodeImage } from '../src/image';
import { loadSample } from '../src/sample';
import { generateDetection, type DetectionDatasetFiles } from '../src/shapes/detection';
import { generateVideo, type VidDatasetFiles } from '../src/shapes/video';
import type { ImageRecord } from '../src/types';
import { loadImagenetVid } from '../src/vid';
import { tempDir, thrown } from './helpers';

/**
 * Files crafted to cost time or memory out of proportion to their size, or to be loaded silently wrong
 * (issue 15, items 9, 10, 14, 15, 16): each is refused with an error naming the file.
 */

const dir = tempDir('hostile');

/** A PNG from its IHDR fields and its IDAT bytes, with correct chunk CRCs. */
function png(width: number, height: number, colorType: number, idat: Uint8Array, palette?: Uint8Array): Uint8Array {
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header[8] = 8;
  header[9] = colorType;
  return Buffer.concat([
    Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', header),
    ...(palette ? [pngChunk('PLTE', palette)] : []),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

function record(imagePath: string, width: number, height: number, extra: Partial<ImageRecord> = {}): ImageRecord {
  return {
    id: 'x',
    imagePath,
    width,
    height,
    boxes: new Float32Array(0),
    labels: new Int32Array(0),
    iscrowd: new Uint8Array(0),
    area: new Float32Array(0),
    source: 'annotations.json',
    ...extra,
  };
}

describe('label PNGs cost what their header declares (item 10)', () => {
  it('stops inflating at the bytes a 64x53 header declares', () => {
    // 30 MB of scanlines deflated to ~30 KB under a 64x53 header (3445 bytes): inflated in full before.
    const bomb = png(64, 53, 0, deflateSync(new Uint8Array(30_000_000)));
    expect(bomb.length).toBeLessThan(100_000);
    expect(() => decodeLabelPng(bomb, 'bomb.png')).toThrow(
      /bomb\.png: PNG: image data inflates past the 3445 bytes its 64x53 header declares/,
    );
  });

  it('checks the header against the annotation before inflating anything', async () => {
    // IDAT data that is not even deflate: a reader that inflated first would report that instead.
    const huge = png(16000, 16000, 3, Uint8Array.from([1, 2, 3]), vocPalette());
    expect(() => decodeLabelPng(huge, 'huge.png', { expected: { width: 64, height: 53 } })).toThrow(
      /huge\.png: PNG: header declares 16000x16000, the annotation 64x53/,
    );
    expect(() => decodeLabelPng(huge, 'huge.png')).not.toThrow(/header declares/);
    expect(() => decodeLabelPng(png(70000, 70000, 0, Uint8Array.from([1])), 'giant.png')).toThrow(
      /giant\.png: PNG: header declares 70000x70000, more than 268435456 pixels/,
    );
    // Through a dataset record: the label map is refused by its header.
    const image = join(dir, 'small.png');
    writeFileSync(
      image,
      await sharp({ create: { width: 64, height: 53, channels: 3, background: 'red' } })
        .png()
        .toBuffer(),
    );
    const labels = join(dir, 'huge-labels.png');
    writeFileSync(labels, huge);
    const r = record(image, 64, 53, { labelMap: { path: labels, encoding: 'indexed', numClasses: 21 } });
    expect((await thrown(() => loadSample(r))).message).toMatch(
      /huge-labels\.png: PNG: header declares 16000x16000, the annotation 64x53/,
    );
  });

  it('reads an image header before decoding its pixels', async () => {
    // A 16000x16000 RGB PNG whose pixel data is cut short: decoding it would fail (or take 768 MB) before
    // the size was compared; the header alone tells it is not the annotated 64x53.
    const huge = join(dir, 'huge.png');
    writeFileSync(huge, png(16000, 16000, 2, deflateSync(new Uint8Array(1000))));
    expect((await thrown(() => loadSample(record(huge, 64, 53)))).message).toMatch(
      /huge\.png: image "x": decoded size 16000x16000 differs from the annotated 64x53 \(in annotations\.json\)/,
    );
  });
});

describe('corrupt images are errors naming the file (item 14)', () => {
  it('refuses a JPEG with garbage in its scan and a PNG with a bad IDAT CRC', async () => {
    const noise = Uint8Array.from({ length: 96 * 64 * 3 }, (_, i) => (i * 7919) % 251);
    const raw = { raw: { width: 96, height: 64, channels: 3 as const } };
    const jpeg = new Uint8Array(await sharp(noise, raw).jpeg({ quality: 90 }).toBuffer());
    let scan = 0;
    while (!(jpeg[scan] === 0xff && jpeg[scan + 1] === 0xda)) scan++;
    // 100 random bytes mid-scan (JPEG has no checksum: damage is caught when the decoder notices it, as here).
    const damaged = jpeg.slice();
    let seed = 1;
    for (let i = scan + 300; i < scan + 400; i++)
      damaged[i] = ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    writeFileSync(join(dir, 'damaged.jpg'), damaged);
    expect((await thrown(() => decodeImage(join(dir, 'damaged.jpg'), 'image 7'))).message).toMatch(
      /damaged\.jpg: image 7: cannot decode the image \(VipsJpeg: Corrupt JPEG data: premature end of data segment\)/,
    );

    const pngBytes = new Uint8Array(await sharp(noise, raw).png().toBuffer());
    let idat = 8;
    const view = new DataView(pngBytes.buffer);
    while (String.fromCharCode(...pngBytes.subarray(idat + 4, idat + 8)) !== 'IDAT') idat += 12 + view.getUint32(idat);
    const crcAt = idat + 8 + view.getUint32(idat);
    pngBytes[crcAt] ^= 0xff;
    writeFileSync(join(dir, 'bad-crc.png'), pngBytes);
    expect((await thrown(() => decodeImage(join(dir, 'bad-crc.png'), 'image 8'))).message).toMatch(
      /bad-crc\.png: image 8: cannot decode the image \(vipspng: libpng read error\)/,
    );
    // The undamaged files still decode.
    writeFileSync(join(dir, 'fine.jpg'), jpeg);
    expect((await decodeImage(join(dir, 'fine.jpg'))).width).toBe(96);
  });
});

describe('annotation files', () => {
  it('refuses XML nested deeper than 1000 elements naming the file, not with a stack overflow (item 9)', () => {
    const deep = '<a>'.repeat(200_000) + '</a>'.repeat(200_000);
    expect(() => parseXml(deep, 'deep.xml')).toThrow(
      /deep\.xml: line 1, column 3001: malformed XML: elements nested deeper than 1000 levels/,
    );
    const fine = '<a>'.repeat(500) + 'x' + '</a>'.repeat(500);
    expect(parseXml(fine, 'fine.xml').name).toBe('a');
  });

  it('skips a DOCTYPE with an internal subset (issue 16 item 7)', () => {
    const xml = `<?xml version="1.0"?>
<!DOCTYPE annotation [
  <!ELEMENT annotation (size)>
  <!ENTITY note "a ] and a > in a string">
  <!-- a comment with ]> inside -->
]>
<annotation><size><width>3</width></size></annotation>`;
    const root = parseXml(xml, 'doctype.xml');
    expect(root.children[0].children[0].text).toBe('3');
    // Entities the subset declares are not expanded (no entity can blow up): a reference is an error.
    expect(() => parseXml(xml.replace('<width>3', '<width>&note;'), 'entity.xml')).toThrow(
      /entity\.xml: .*unknown entity &note;/,
    );
    expect(() => parseXml('<!DOCTYPE a [ <!ENTITY x "y"> <a/>', 'open.xml')).toThrow(
      /open\.xml: line 1, column 1: malformed XML: unterminated DOCTYPE/,
    );
  });
});

describe('dataset layouts', () => {
  let video: VidDatasetFiles;
  let detection: DetectionDatasetFiles;
  beforeAll(async () => {
    video = await generateVideo({ out: join(dir, 'vid'), seed: 3, count: 1, valCount: 1, size: 64, frames: 4 });
    detection = await generateDetection({ out: join(dir, 'det'), seed: 3, count: 2, valCount: 2, size: 64 });
  });

  it('refuses a VID frame image whose annotation is missing (item 15)', async () => {
    const videoDir = join(video.root, 'Annotations', 'VID', 'train');
    const [name] = loadImagenetVid({ root: video.root, split: 'train', classes: video.classes }).videos.map(
      (v) => v.name,
    );
    const xml = join(videoDir, name, '000002.xml');
    renameSync(xml, join(dir, 'moved.xml'));
    try {
      expect(
        (await thrown(() => loadImagenetVid({ root: video.root, split: 'train', classes: video.classes }))).message,
      ).toBe(
        `${xml}: video ${name}: annotation missing for the frame image ${join(video.root, 'Data', 'VID', 'train', name, '000002.JPEG')}`,
      );
    } finally {
      renameSync(join(dir, 'moved.xml'), xml);
    }
  });

  it('refuses COCO file names that leave the image folder (item 16)', async () => {
    const json = JSON.parse(readFileSync(detection.val.annotationFile, 'utf8'));
    // A real file outside imageDir, reachable with ../: loading it would read outside the dataset.
    mkdirSync(join(dir, 'outside'), { recursive: true });
    copyFileSync(join(detection.val.imageDir, json.images[0].file_name), join(dir, 'outside', 'secret.jpg'));
    for (const name of ['../../outside/secret.jpg', join(dir, 'outside', 'secret.jpg')]) {
      json.images[0].file_name = name;
      const annotationFile = join(dir, 'escape.json');
      writeFileSync(annotationFile, JSON.stringify(json));
      const imageDir = detection.val.imageDir;
      expect((await thrown(() => loadCoco({ annotationFile, imageDir }))).message).toBe(
        `${annotationFile}: images[0] (id 1): file name ${JSON.stringify(name)} points outside ${imageDir}`,
      );
    }
  });
});
