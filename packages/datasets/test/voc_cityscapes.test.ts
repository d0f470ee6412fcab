import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCityscapes } from '../src/cityscapes';
import { CITYSCAPES_TRAIN_IDS } from '../src/formats/cityscapes';
import { decodeLabelPng, encodeLabelPng, vocPalette } from '../src/formats/png';
import {
  generateCityscapes,
  generateSegmentation,
  markBoundaries,
  SHAPE_SEGMENTATION_CLASSES,
  type CityscapesDatasetFiles,
  type VocDatasetFiles,
} from '../src/shapes/segmentation';
import { loadVoc, VOC_CLASSES } from '../src/voc';
import { tempDir, thrown } from './helpers';

const dir = tempDir('voc');
let voc: VocDatasetFiles;
let city: CityscapesDatasetFiles;

beforeAll(async () => {
  voc = await generateSegmentation({ out: join(dir, 'voc'), seed: 3, count: 10, valCount: 4, size: 96 });
  city = await generateCityscapes({ out: join(dir, 'city'), seed: 4, count: 6, valCount: 2, size: 80 });
});

describe('PASCAL VOC', () => {
  it('gives back the generated boxes (1-based VOC XML to continuous xyxy) and splits', () => {
    for (const [split, task] of [
      ['train', 'segmentation'],
      ['val', 'detection'],
    ] as const) {
      const ds = loadVoc({ root: voc.root, split, task, classes: SHAPE_SEGMENTATION_CLASSES });
      const truth = voc.images.filter((g) => g.split === split);
      expect(ds.records.map((r) => r.id)).toEqual(truth.map((g) => g.id));
      ds.records.forEach((r, i) => {
        expect(Array.from(r.boxes)).toEqual(truth[i].boxes.flat());
        expect(Array.from(r.labels)).toEqual(truth[i].shapes.map((s) => s + 1));
        expect(r.labelMap !== undefined).toBe(task === 'segmentation');
      });
    }
    expect(
      loadVoc({ root: voc.root, split: 'trainval', task: 'segmentation', classes: SHAPE_SEGMENTATION_CLASSES }).records
        .length,
    ).toBe(14);
  });

  it('label maps hold class indices with a 255 void band on boundaries, agreeing with the boxes', async () => {
    const ds = loadVoc({ root: voc.root, split: 'train', task: 'segmentation', classes: SHAPE_SEGMENTATION_CLASSES });
    for (let i = 0; i < ds.records.length; i++) {
      const s = await ds.get(i);
      const seg = s.segmentation!;
      expect(seg.length).toBe(s.width * s.height);
      const values = new Set(seg);
      expect([...values].every((v) => v <= 5 || v === 255)).toBe(true);
      expect(values.has(255)).toBe(true);
      // Every object pixel lies inside a box of its class.
      seg.forEach((v, p) => {
        if (v === 0 || v === 255) return;
        const x = p % s.width;
        const y = Math.floor(p / s.width);
        const inside = Array.from(s.labels).some(
          (l, k) =>
            l === v &&
            x >= s.boxes[4 * k] &&
            x < s.boxes[4 * k + 2] &&
            y >= s.boxes[4 * k + 1] &&
            y < s.boxes[4 * k + 3],
        );
        expect(inside).toBe(true);
      });
    }
  });

  it('markBoundaries draws a band of the asked half-width', () => {
    const labels = new Uint8Array(8 * 3);
    for (let y = 0; y < 3; y++) labels.fill(1, y * 8 + 4, y * 8 + 8);
    expect(Array.from(markBoundaries(labels, 8, 3, 1, 255).subarray(0, 8))).toEqual([0, 0, 0, 255, 255, 1, 1, 1]);
    expect(Array.from(markBoundaries(labels, 8, 3, 2, 255).subarray(0, 8))).toEqual([0, 0, 255, 255, 255, 255, 1, 1]);
  });

  it('errors: bad XML, unknown class, box outside, missing label map, bad label value', async () => {
    const id = voc.images[0].id as string;
    const xmlPath = join(voc.root, 'Annotations', `${id}.xml`);
    const original = readFileSync(xmlPath, 'utf8');
    const load = () =>
      loadVoc({ root: voc.root, split: 'train', task: 'segmentation', classes: SHAPE_SEGMENTATION_CLASSES });
    try {
      writeFileSync(xmlPath, original.replace('</size>', '</sise>'));
      expect((await thrown(load)).message).toMatch(
        new RegExp(`${id}\\.xml: line \\d+, column \\d+: malformed XML: </sise> closes <size>`),
      );
      writeFileSync(xmlPath, original.replace(/<name>\w+<\/name>/, '<name>dragon</name>'));
      expect((await thrown(load)).message).toMatch(new RegExp(`${id}\\.xml: object 0: unknown class name "dragon"`));
      writeFileSync(xmlPath, original.replace(/<xmax>\d+<\/xmax>/, '<xmax>500</xmax>'));
      expect((await thrown(load)).message).toMatch(
        new RegExp(
          `${id}\\.xml: object 0 \\(\\w+\\): box .* lies outside the \\d+x\\d+ image; bndbox xmin \\d+ ymin \\d+ xmax 500`,
        ),
      );
      writeFileSync(xmlPath, original.replace(/<ymin>\d+<\/ymin>/, '<ymin>top</ymin>'));
      expect((await thrown(load)).message).toMatch(/object 0: <bndbox><ymin> must be a number, got "top"/);
    } finally {
      writeFileSync(xmlPath, original);
    }
    expect(() => loadVoc({ root: voc.root, split: 'nosuch', task: 'segmentation' })).toThrow(
      /nosuch\.txt: cannot read the image set list \(ENOENT\)/,
    );
    // A label outside the classes (here a VOC index past the 6 shape classes) is an error, not a silent label.
    const pngPath = join(voc.root, 'SegmentationClass', `${id}.png`);
    const backup = join(dir, 'backup.png');
    copyFileSync(pngPath, backup);
    try {
      const png = decodeLabelPng(readFileSync(pngPath), pngPath);
      png.data[5] = 17;
      writeFileSync(pngPath, encodeLabelPng({ ...png, palette: vocPalette() }));
      const ds = load();
      expect((await thrown(() => ds.get(0))).message).toMatch(
        new RegExp(
          `${id}\\.png: image "${id}": label 17 at pixel \\(x 5, y 0\\) is neither a class in 0\\.\\.5 nor void 255`,
        ),
      );
      // With a class list that includes 17, the same file loads, and the label is kept, not remapped or dropped.
      const wider = await loadVoc({
        root: voc.root,
        split: 'train',
        task: 'segmentation',
        classes: [...SHAPE_SEGMENTATION_CLASSES, ...VOC_CLASSES.slice(6)],
      }).get(0);
      expect(wider.segmentation?.[5]).toBe(17);
    } finally {
      copyFileSync(backup, pngPath);
    }
  });
});

describe('Cityscapes', () => {
  it('maps labelIds to trainIds with the official table', async () => {
    expect(CITYSCAPES_TRAIN_IDS[7]).toBe(0);
    expect(CITYSCAPES_TRAIN_IDS[33]).toBe(18);
    expect(CITYSCAPES_TRAIN_IDS[0]).toBe(255);
    expect(CITYSCAPES_TRAIN_IDS[34]).toBe(255);
    expect(Array.from(CITYSCAPES_TRAIN_IDS).filter((t) => t !== 255).length).toBe(19);
    const ds = loadCityscapes({ root: city.root, split: 'train' });
    expect(ds.records.length).toBe(6);
    expect(ds.records.map((r) => r.id).sort()).toEqual(
      city.images
        .filter((g) => g.split === 'train')
        .map((g) => g.id)
        .sort(),
    );
    let sawEgo = false;
    for (let i = 0; i < ds.records.length; i++) {
      const s = await ds.get(i);
      const raw = decodeLabelPng(readFileSync(ds.records[i].labelMap!.path), 'x').data;
      expect(Array.from(s.segmentation!)).toEqual(Array.from(raw, (id) => CITYSCAPES_TRAIN_IDS[id]));
      expect([...new Set(s.segmentation)].every((v) => [0, 6, 7, 11, 13, 18, 255].includes(v))).toBe(true);
      if (raw.includes(1)) sawEgo = true;
      expect(s.image.length).toBe(s.width * s.height * 3);
    }
    expect(sawEgo).toBe(true);
  });

  it('errors: missing label map, missing split', () => {
    expect(() => loadCityscapes({ root: city.root, split: 'test' })).toThrow(
      /leftImg8bit\/test: split folder not found/,
    );
    const label = loadCityscapes({ root: city.root, split: 'val' }).records[0].labelMap!.path;
    renameSync(label, `${label}.moved`);
    try {
      expect(() => loadCityscapes({ root: city.root, split: 'val' })).toThrow(
        /_leftImg8bit\.png: (\w+)\/\1_000000_\d+: referenced file not found: .*_gtFine_labelIds\.png/,
      );
    } finally {
      renameSync(`${label}.moved`, label);
    }
  });
});
