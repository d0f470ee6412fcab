import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@deformjs/core/node';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  generateCaptions,
  generateRefexp,
  generateVcr,
  generateVqa,
  loadConceptualCaptions,
  loadRefexp,
  loadRegions,
  loadVcr,
  loadVqa,
  resizeImage,
  type CaptionRegions,
  type RgbImage,
} from '@deformjs/datasets';

/** An image resized to size x size and normalised, with its regions scaled to match. */
export interface ImageItem {
  image: Float32Array;
  boxes: number[][];
  classes: number[];
  /** The generator's precomputed feature of each box (`REGION_FEATURE_DIM` wide; see `regionFeatureDim`). */
  features: number[][];
}

/**
 * Width of the generator's precomputed region features: one-hot shape and colour, box geometry and mean colour
 * plus noise, standing for a fixed detector's pooled RoI feature (what upstream's runs read from files).
 */
export const REGION_FEATURE_DIM = 64;
export type CaptionItem = ImageItem & { caption: string };
export type VqaItem = ImageItem & {
  questionId: number;
  question: string;
  answers: string[];
  answerType: string;
  questionType: string;
};
export type RefItem = ImageItem & { sentence: string; box: number[] };
export type VcrItem = ImageItem & {
  question: string;
  answerChoices: string[];
  answerLabel: number;
  rationaleChoices: string[];
  rationaleLabel: number;
};

export interface VLData {
  /** What identifies the data (a resumed run must match it): the generators' options and the input side. */
  fingerprint: Omit<DataOptions, 'dir'>;
  imageSize: number;
  captions: { train: CaptionItem[]; val: CaptionItem[] };
  vqa: { train: VqaItem[]; val: VqaItem[]; answers: string[] };
  refexp: { train: RefItem[]; val: RefItem[] };
  vcr: { train: VcrItem[]; val: VcrItem[] };
}

export interface DataOptions {
  /** Where the synthetic sets are generated once per setting (reused when present). */
  dir: string;
  seed: number;
  /** Training images per set (validation: a fifth). */
  count: number;
  /** Longest side of the generated images. */
  size: number;
  /** Side of the square model input. */
  imageSize: number;
}

function prepare(rgb: RgbImage, regions: CaptionRegions, size: number): ImageItem {
  const resized = resizeImage(rgb.data, rgb.width, rgb.height, 3, size, size);
  const image = new Float32Array(size * size * 3);
  for (let p = 0; p < size * size; p++)
    for (let c = 0; c < 3; c++) image[3 * p + c] = (resized[3 * p + c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
  const [sx, sy] = [size / rgb.width, size / rgb.height];
  const boxes: number[][] = [];
  const features: number[][] = [];
  const D = regions.featureDim;
  if (D !== REGION_FEATURE_DIM)
    throw new Error(`region features are ${D} wide, expected ${REGION_FEATURE_DIM} (regenerate the data)`);
  for (let i = 0; i < regions.boxes.length; i += 4) {
    const b = regions.boxes;
    boxes.push([b[i] * sx, b[i + 1] * sy, b[i + 2] * sx, b[i + 3] * sy]);
    features.push(Array.from(regions.features.subarray((i / 4) * D, (i / 4 + 1) * D)));
  }
  return { image, boxes, classes: Array.from(regions.classes ?? []), features };
}

/** Decodes each image once however many records share it. */
function imageCache(size: number) {
  const cache = new Map<string, ImageItem>();
  return async (key: string, decode: () => Promise<RgbImage>, regions: () => CaptionRegions) => {
    if (!cache.has(key)) cache.set(key, prepare(await decode(), regions(), size));
    return cache.get(key)!;
  };
}

async function ensure(dir: string, generate: () => Promise<unknown>): Promise<void> {
  const done = join(dir, 'done.json');
  if (existsSync(done)) return;
  mkdirSync(dir, { recursive: true });
  await generate();
  writeFileAtomic(done, '{}\n');
}

/** Generates (once) and loads the captions, VQA and referring-expression sets into memory. */
export async function loadData(o: DataOptions): Promise<VLData> {
  const common = {
    seed: o.seed,
    count: o.count,
    valCount: Math.max(2, Math.round(o.count / 5)),
    size: o.size,
    featureDim: REGION_FEATURE_DIM,
  };
  // One folder per generator setting, so other options never reuse data generated for these.
  const root = join(o.dir, `shapes-seed${o.seed}-count${o.count}-size${o.size}`);
  const dirs = {
    captions: join(root, 'captions'),
    vqa: join(root, 'vqa'),
    refexp: join(root, 'refexp'),
    vcr: join(root, 'vcr'),
  };
  await ensure(dirs.captions, () => generateCaptions({ ...common, out: dirs.captions }));
  await ensure(dirs.vqa, () => generateVqa({ ...common, seed: o.seed + 1, out: dirs.vqa }));
  await ensure(dirs.refexp, () => generateRefexp({ ...common, seed: o.seed + 2, out: dirs.refexp }));
  await ensure(dirs.vcr, () => generateVcr({ ...common, seed: o.seed + 3, out: dirs.vcr }));
  const { dir: _dir, ...fingerprint } = o;
  const data = {
    fingerprint,
    imageSize: o.imageSize,
    captions: { train: [], val: [] },
    vqa: { train: [], val: [], answers: [] },
    refexp: { train: [], val: [] },
    vcr: { train: [], val: [] },
  } as VLData;
  for (const split of ['train', 'val'] as const) {
    const cached = imageCache(o.imageSize);
    const captions = loadConceptualCaptions({
      tsvFile: join(dirs.captions, `${split}.tsv`),
      featureDir: join(dirs.captions, 'features'),
      imageDir: join(dirs.captions, 'images'),
    });
    for (const [i, r] of captions.records.entries()) {
      const item = await cached(
        r.key,
        () => captions.image(i),
        () => captions.regions(i),
      );
      data.captions[split].push({ ...item, caption: r.caption });
    }
    const subtype = split === 'train' ? 'train2014' : 'val2014';
    const vqaFeatures = join(dirs.vqa, 'features');
    const vqa = loadVqa({
      questionsFile: join(dirs.vqa, `v2_OpenEnded_mscoco_${subtype}_questions.json`),
      annotationsFile: join(dirs.vqa, `v2_mscoco_${subtype}_annotations.json`),
      imageDir: join(dirs.vqa, subtype),
    });
    for (const [i, r] of vqa.records.entries()) {
      const item = await cached(
        String(r.imageId),
        () => vqa.image(i),
        () => loadRegions(vqaFeatures, String(r.imageId)),
      );
      data.vqa[split].push({
        ...item,
        questionId: r.questionId,
        question: r.question,
        answers: r.answers!.map((a) => a.answer),
        answerType: r.answerType!,
        questionType: r.questionType!,
      });
    }
    const refexp = loadRefexp({
      refsFile: join(dirs.refexp, `refs_${split}.json`),
      featureDir: join(dirs.refexp, 'features'),
      imageDir: join(dirs.refexp, 'images'),
    });
    for (const [i, r] of refexp.records.entries()) {
      const item = await cached(
        r.imageKey,
        () => refexp.image(i),
        () => refexp.regions(i),
      );
      data.refexp[split].push({ ...item, sentence: r.sentence, box: scaleBox(r.box, refexp.regions(i), o.imageSize) });
    }
    const vcr = loadVcr({
      file: join(dirs.vcr, `${split}.jsonl`),
      featureDir: join(dirs.vcr, 'features'),
      imageDir: join(dirs.vcr, 'images'),
    });
    for (const [i, r] of vcr.records.entries()) {
      // The refexp images have the same kind of keys: keep the two sets apart in the cache.
      const item = await cached(
        `vcr/${r.imageKey}`,
        () => vcr.image(i),
        () => vcr.regions(i),
      );
      const { question, answerChoices, answerLabel, rationaleChoices, rationaleLabel } = r;
      data.vcr[split].push({ ...item, question, answerChoices, answerLabel, rationaleChoices, rationaleLabel });
    }
  }
  // The answer vocabulary: every training answer given by at least one annotator (upstream: the top 3129).
  data.vqa.answers = [...new Set(data.vqa.train.flatMap((q) => q.answers))].sort();
  return data;
}

function scaleBox(box: readonly number[], regions: CaptionRegions, size: number): number[] {
  const [sx, sy] = [size / regions.width, size / regions.height];
  return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy];
}
