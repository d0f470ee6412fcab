import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCoco } from '../src/coco';
import { DatasetFormatError } from '../src/errors';
import { generateDetection, SHAPE_CATEGORIES, type DetectionDatasetFiles } from '../src/shapes/detection';
import { tempDir, thrown } from './helpers';

/** The annotation JSON as the error tests corrupt it: any field may be given any value. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type EditableJson = any;

const dir = tempDir('coco');
let files: DetectionDatasetFiles;

beforeAll(async () => {
  files = await generateDetection({
    out: join(dir, 'shapes'),
    seed: 7,
    count: 24,
    valCount: 6,
    size: 96,
    crowdProbability: 0.4,
  });
});

describe('COCO loader on the shapes detection set', () => {
  it('gives back exactly the generated annotations', () => {
    for (const split of ['train', 'val'] as const) {
      const ds = loadCoco(files[split]);
      const truth = files.images.filter((g) => g.split === split);
      expect(ds.records.map((r) => r.id)).toEqual(truth.map((g) => g.id));
      expect(ds.classes).toEqual(SHAPE_CATEGORIES.map((c) => c.name));
      expect(ds.dropped).toEqual([]);
      ds.records.forEach((r, i) => {
        const g = truth[i];
        expect([r.width, r.height]).toEqual([g.width, g.height]);
        expect(Array.from(r.boxes)).toEqual(g.boxes.flat());
        expect(Array.from(r.labels)).toEqual(g.shapes);
        expect(Array.from(r.iscrowd)).toEqual(g.iscrowd);
      });
    }
    const all = files.images.filter((g) => g.split === 'train');
    expect(all.some((g) => g.iscrowd.includes(1))).toBe(true);
  });

  it('decodes polygon, compressed and uncompressed RLE masks consistent with box and area', async () => {
    const ds = loadCoco(files.train);
    const kinds = new Set<string>();
    for (let i = 0; i < ds.records.length; i++) {
      const record = ds.records[i];
      record.segmentations!.forEach((s) =>
        kinds.add(Array.isArray(s) ? 'polygon' : typeof s.counts === 'string' ? 'rle' : 'counts'),
      );
      const sample = await ds.get(i, { masks: true });
      expect(sample.image.length).toBe(record.width * record.height * 3);
      const plane = record.width * record.height;
      for (let k = 0; k < record.labels.length; k++) {
        const mask = sample.masks!.subarray(k * plane, (k + 1) * plane);
        let area = 0;
        const box = [Infinity, Infinity, -Infinity, -Infinity];
        mask.forEach((v, p) => {
          if (!v) return;
          area++;
          const x = p % record.width;
          const y = Math.floor(p / record.width);
          box[0] = Math.min(box[0], x);
          box[1] = Math.min(box[1], y);
          box[2] = Math.max(box[2], x + 1);
          box[3] = Math.max(box[3], y + 1);
        });
        expect(area).toBe(record.area[k]);
        expect(box).toEqual(Array.from(record.boxes.subarray(4 * k, 4 * k + 4)));
      }
    }
    expect([...kinds].sort()).toEqual(['counts', 'polygon', 'rle']);
  });

  it("drops crowd regions when asked (DETR's training set)", () => {
    const kept = loadCoco(files.train);
    const dropped = loadCoco({ ...files.train, crowd: 'drop' });
    const crowds = kept.records.reduce((n, r) => n + r.iscrowd.reduce((a, b) => a + b, 0), 0);
    expect(crowds).toBeGreaterThan(0);
    expect(dropped.records.every((r) => r.iscrowd.every((c) => c === 0))).toBe(true);
    expect(dropped.records.reduce((n, r) => n + r.labels.length, 0)).toBe(
      kept.records.reduce((n, r) => n + r.labels.length, 0) - crowds,
    );
    expect(
      dropped.records.every((r, i) => r.segmentations!.length === r.labels.length && r.id === kept.records[i].id),
    ).toBe(true);
  });

  it('is deterministic for a seed', async () => {
    const again = await generateDetection({
      out: join(dir, 'again'),
      seed: 7,
      count: 24,
      valCount: 6,
      size: 96,
      crowdProbability: 0.4,
    });
    expect(readFileSync(again.train.annotationFile, 'utf8')).toBe(readFileSync(files.train.annotationFile, 'utf8'));
    expect(
      readFileSync(join(again.train.imageDir, '000000000003.jpg')).equals(
        readFileSync(join(files.train.imageDir, '000000000003.jpg')),
      ),
    ).toBe(true);
  });

  it('a larger count appends training images: the first ones and the validation split stay the same', async () => {
    // apps/detect pretrains its backbone on more images of the start's training split, never on its validation.
    const more = await generateDetection({
      out: join(dir, 'more'),
      seed: 7,
      count: 30,
      valCount: 6,
      size: 96,
      crowdProbability: 0.4,
    });
    const json = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as EditableJson;
    const [first, larger] = [json(files.train.annotationFile), json(more.train.annotationFile)];
    expect(larger.images.slice(0, 24)).toEqual(first.images);
    expect(larger.annotations.filter((a: { image_id: number }) => a.image_id <= 24)).toEqual(first.annotations);
    expect(readFileSync(more.val.annotationFile, 'utf8')).toBe(readFileSync(files.val.annotationFile, 'utf8'));
    expect(
      readFileSync(join(more.train.imageDir, '000000000024.jpg')).equals(
        readFileSync(join(files.train.imageDir, '000000000024.jpg')),
      ),
    ).toBe(true);
  });
});

describe('COCO loader errors name the file and the record', () => {
  const broken = (name: string, edit: (json: EditableJson) => void): { annotationFile: string; imageDir: string } => {
    const json = JSON.parse(readFileSync(files.val.annotationFile, 'utf8'));
    edit(json);
    const annotationFile = join(dir, `${name}.json`);
    writeFileSync(annotationFile, JSON.stringify(json));
    return { annotationFile, imageDir: files.val.imageDir };
  };

  it('truncated JSON', async () => {
    const annotationFile = join(dir, 'truncated.json');
    writeFileSync(annotationFile, readFileSync(files.val.annotationFile, 'utf8').slice(0, 500));
    const error = await thrown(() => loadCoco({ annotationFile, imageDir: files.val.imageDir }));
    expect(error).toBeInstanceOf(DatasetFormatError);
    expect(error.message).toMatch(/truncated\.json: JSON: malformed or truncated JSON/);
  });

  it('missing image file', async () => {
    const imageDir = join(dir, 'partial-images');
    mkdirSync(imageDir, { recursive: true });
    const json = JSON.parse(readFileSync(files.val.annotationFile, 'utf8'));
    for (const img of json.images.slice(1))
      copyFileSync(join(files.val.imageDir, img.file_name), join(imageDir, img.file_name));
    const error = await thrown(() => loadCoco({ annotationFile: files.val.annotationFile, imageDir }));
    expect(error.message).toContain(
      `instances_val.json: images[0] (id 1), file_name "000000000001.jpg": referenced file not found: ${join(imageDir, '000000000001.jpg')}`,
    );
  });

  it('box outside the image', async () => {
    const spec = broken('outside', (j) => {
      const image = j.images.find((img: EditableJson) => img.id === j.annotations[2].image_id);
      j.annotations[2].bbox = [image.width - 3, 1, 10, 5];
    });
    const error = await thrown(() => loadCoco(spec));
    expect(error.message).toMatch(
      /outside\.json: annotations\[2\] \(id 3\): box .* lies outside the \d+x\d+ image \(bbox \[x, y, w, h\]/,
    );
  });

  it('unknown category and unknown image', async () => {
    expect(
      (await thrown(() => loadCoco(broken('category', (j) => (j.annotations[0].category_id = 42))))).message,
    ).toMatch(/category\.json: annotations\[0\] \(id 1\): unknown category_id 42 \(categories: 1, 2, 3, 4, 5\)/);
    expect((await thrown(() => loadCoco(broken('image', (j) => (j.annotations[1].image_id = 999))))).message).toMatch(
      /image\.json: annotations\[1\] \(id 2\): image_id 999 is not in "images"/,
    );
  });

  it('malformed fields, duplicate ids and bad masks', async () => {
    const cases: [string, (j: EditableJson) => void, RegExp][] = [
      [
        'nobbox',
        (j) => (j.annotations[0].bbox = [1, 2, 3]),
        /annotations\[0\] \(id 1\): "bbox" must be 4 finite numbers/,
      ],
      ['negative', (j) => (j.annotations[0].bbox = [5, 5, -2, 3]), /annotations\[0\] \(id 1\): box .* negative width/],
      ['dupimage', (j) => (j.images[1].id = j.images[0].id), /images\[1\] \(id 1\): duplicate image id/],
      [
        'dupann',
        (j) => (j.annotations[1].id = j.annotations[0].id),
        /annotations\[1\] \(id 1\): duplicate annotation id/,
      ],
      ['width', (j) => (j.images[0].width = 'wide'), /images\[0\] \(id 1\): "width" must be a finite number/],
      [
        'rle',
        (j) => (j.annotations[0].segmentation = { size: [3, 3], counts: [9] }),
        /annotations\[0\] \(id 1\) segmentation: RLE size \[3, 3\] differs/,
      ],
      ['noimages', (j) => delete j.images, /noimages\.json: expected an array "images", got nothing/],
      [
        'polygon',
        (j) => (j.annotations[0].segmentation = [[1, 2, 3]]),
        /annotations\[0\] \(id 1\): segmentation polygon 0 must be a list of at least 2 finite x, y pairs/,
      ],
    ];
    for (const [name, edit, message] of cases)
      expect((await thrown(() => loadCoco(broken(name, edit)))).message).toMatch(message);
  });

  it('a zero-size box is dropped and reported, not loaded', () => {
    const ds = loadCoco(broken('empty', (j) => (j.annotations[0].bbox = [3, 3, 0, 4])));
    expect(ds.dropped).toEqual([{ annotationId: 1, imageId: 1, reason: 'empty box [3, 3, 0, 4]' }]);
    const full = loadCoco(files.val);
    expect(ds.records[0].labels.length).toBe(full.records[0].labels.length - 1);
  });

  it('an image whose pixels disagree with its annotation fails on decode', async () => {
    const imageDir = join(dir, 'swapped');
    mkdirSync(imageDir, { recursive: true });
    const json = JSON.parse(readFileSync(files.val.annotationFile, 'utf8'));
    for (const img of json.images) copyFileSync(join(files.val.imageDir, img.file_name), join(imageDir, img.file_name));
    const other = json.images.find(
      (img: EditableJson) => img.width !== json.images[0].width || img.height !== json.images[0].height,
    );
    copyFileSync(join(files.val.imageDir, other.file_name), join(imageDir, json.images[0].file_name));
    const ds = loadCoco({ annotationFile: files.val.annotationFile, imageDir });
    expect((await thrown(() => ds.get(0))).message).toMatch(
      /000000000001\.jpg: image 1: decoded size \d+x\d+ differs from the annotated/,
    );
    writeFileSync(
      join(imageDir, json.images[1].file_name),
      readFileSync(join(files.val.imageDir, json.images[1].file_name)).subarray(0, 300),
    );
    expect((await thrown(() => ds.get(1))).message).toMatch(/000000000002\.jpg: image 2: cannot decode the image/);
    rmSync(join(imageDir, json.images[2].file_name));
    expect((await thrown(() => ds.get(2))).message).toMatch(
      /000000000003\.jpg: image 3: cannot read the image \(ENOENT\)/,
    );
  });
});
