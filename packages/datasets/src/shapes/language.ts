import { writeFileAtomic } from '@deformjs/core/node';
import { join } from 'node:path';
import { assertInteger, type Rng } from '@deformjs/core';
import { captionKey } from '../captions';
import {
  generatedImage,
  resolveOptions,
  splitScenes,
  WriteQueue,
  writeImage,
  writeJson,
  type GeneratedImage,
  type GenerateOptions,
} from './common';
import { BACKGROUND_TONES, SHAPE_CLASSES, SHAPE_COLORS } from './raster';
import type { RenderedScene } from './scene';

const NUMBER_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];

function plural(shape: number, n: number): string {
  return n === 1 ? SHAPE_CLASSES[shape] : `${SHAPE_CLASSES[shape]}${SHAPE_CLASSES[shape].endsWith('s') ? 'es' : 's'}`;
}

/** A caption that names every object by colour and shape, grouped, and the background's tone. */
export function describeScene(scene: RenderedScene): string {
  const groups = new Map<string, { shape: number; color: number; n: number }>();
  for (const o of scene.objects) {
    const key = `${o.color}/${o.shape}`;
    const g = groups.get(key) ?? { shape: o.shape, color: o.color, n: 0 };
    g.n++;
    groups.set(key, g);
  }
  const parts = [...groups.values()].map(
    (g) =>
      `${g.n === 1 ? (/^[aeiou]/.test(SHAPE_COLORS[g.color].name) ? 'an' : 'a') : NUMBER_WORDS[g.n]} ${SHAPE_COLORS[g.color].name} ${plural(g.shape, g.n)}`,
  );
  const list = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return `${list} on a ${BACKGROUND_TONES[scene.tone].name} background`;
}

export interface VqaQuestion {
  question: string;
  answer: string;
  questionType: string;
  answerType: 'yes/no' | 'number' | 'other';
  /** Plausible wrong answers a careless annotator might give. */
  distractors: string[];
  /** Indices of the scene's objects the answer is about (none for an absent shape). */
  evidence: number[];
}

/**
 * Questions whose answers follow from the scene: counts of a shape, presence of a shape, the colour of a
 * shape that appears once, the shape of the only object of a colour.
 */
export function sceneQuestions(rng: Rng, scene: RenderedScene, count: number): VqaQuestion[] {
  const objects = scene.objects;
  const shapeCount = SHAPE_CLASSES.map((_, s) => objects.filter((o) => o.shape === s).length);
  const colorCount = SHAPE_COLORS.map((_, c) => objects.filter((o) => o.color === c).length);
  const candidates: VqaQuestion[] = [];
  const indices = (keep: (o: (typeof objects)[number]) => boolean) => objects.flatMap((o, k) => (keep(o) ? [k] : []));
  SHAPE_CLASSES.forEach((name, s) => {
    const n = shapeCount[s];
    const evidence = indices((o) => o.shape === s);
    candidates.push({
      question: `How many ${plural(s, 2)} are there?`,
      answer: String(n),
      questionType: 'how many',
      answerType: 'number',
      distractors: [String(n + 1), String(Math.max(0, n - 1))],
      evidence,
    });
    candidates.push({
      question: `Is there a ${name}?`,
      answer: n > 0 ? 'yes' : 'no',
      questionType: 'is there a',
      answerType: 'yes/no',
      distractors: [n > 0 ? 'no' : 'yes'],
      evidence,
    });
    if (n === 1) {
      const color = objects.find((o) => o.shape === s)!.color;
      candidates.push({
        question: `What color is the ${name}?`,
        answer: SHAPE_COLORS[color].name,
        questionType: 'what color is the',
        answerType: 'other',
        distractors: SHAPE_COLORS.filter((_, c) => c !== color).map((c) => c.name),
        evidence,
      });
    }
  });
  SHAPE_COLORS.forEach((color, c) => {
    if (colorCount[c] !== 1) return;
    const shape = objects.find((o) => o.color === c)!.shape;
    candidates.push({
      question: `What shape is the ${color.name} object?`,
      answer: SHAPE_CLASSES[shape],
      questionType: 'what',
      answerType: 'other',
      distractors: SHAPE_CLASSES.filter((_, s) => s !== shape) as unknown as string[],
      evidence: indices((o) => o.color === c),
    });
  });
  return rng.shuffle(candidates).slice(0, count);
}

/** 10 human-like answers: mostly right, a few careless ones, never outvoting the right answer. */
function humanAnswers(rng: Rng, q: VqaQuestion): { answer: string; answer_confidence: string; answer_id: number }[] {
  const wrong = q.distractors.filter((d) => d !== q.answer);
  return Array.from({ length: 10 }, (_, k) => {
    const careless = k >= 7 && wrong.length > 0 && rng.next() < 0.3;
    const answer = careless ? wrong[rng.int(wrong.length)] : q.answer;
    return { answer, answer_confidence: careless ? 'maybe' : 'yes', answer_id: k + 1 };
  });
}

export interface LanguageGenerateOptions extends GenerateOptions {
  /** Questions per image (VQA); default 4. */
  questionsPerImage?: number;
  /** Length of the stand-in RoI features written beside every image's boxes; default 64. */
  featureDim?: number;
}

/**
 * A stand-in RoI feature: one-hot shape and colour, box geometry relative to the image, the region's mean
 * colour, plus small noise; the rest of `featureDim` is noise. What a detector's pooled feature would make
 * separable, in a form cheap to compute.
 */
function roiFeature(
  rng: Rng,
  scene: RenderedScene,
  object: RenderedScene['objects'][number],
  featureDim: number,
): Float32Array {
  const f = new Float32Array(featureDim);
  for (let i = 0; i < featureDim; i++) f[i] = rng.normal(0, 0.05);
  f[object.shape] += 1;
  f[SHAPE_CLASSES.length + object.color] += 1;
  const [x0, y0, x1, y1] = object.box;
  const base = SHAPE_CLASSES.length + SHAPE_COLORS.length;
  const geometry = [
    (x0 + x1) / 2 / scene.width,
    (y0 + y1) / 2 / scene.height,
    (x1 - x0) / scene.width,
    (y1 - y0) / scene.height,
  ];
  geometry.forEach((g, i) => (f[base + i] += g));
  const mean = [0, 0, 0];
  for (let p = 0; p < scene.owner.length; p++) {
    if (scene.owner[p] !== object.index) continue;
    for (let c = 0; c < 3; c++) mean[c] += scene.image[3 * p + c];
  }
  mean.forEach((m, c) => (f[base + 4 + c] += m / object.area / 255));
  return f;
}

/** Writes `<featureDir>/<key>.{json,bin}`: the scene's boxes, shape classes and stand-in RoI features. */
function writeRegions(featureDir: string, key: string, rng: Rng, scene: RenderedScene, featureDim: number): void {
  const features = new Float32Array(scene.objects.length * featureDim);
  scene.objects.forEach((o, k) => features.set(roiFeature(rng, scene, o, featureDim), k * featureDim));
  writeJson(join(featureDir, `${key}.json`), {
    image_w: scene.width,
    image_h: scene.height,
    num_boxes: scene.objects.length,
    feature_dim: featureDim,
    boxes: scene.objects.map((o) => o.box),
    classes: scene.objects.map((o) => o.shape),
  });
  const bytes = new Uint8Array(features.length * 4);
  const view = new DataView(bytes.buffer);
  features.forEach((v, j) => view.setFloat32(4 * j, v, true));
  writeFileAtomic(join(featureDir, `${key}.bin`), bytes);
}

function resolveFeatureDim(op: string, options: LanguageGenerateOptions): number {
  const { featureDim = 64 } = options;
  assertInteger(op, 'featureDim', featureDim, SHAPE_CLASSES.length + SHAPE_COLORS.length + 7);
  return featureDim;
}

export interface VqaDatasetFiles {
  root: string;
  train: { questionsFile: string; annotationsFile: string; imageDir: string; featureDir: string };
  val: { questionsFile: string; annotationsFile: string; imageDir: string; featureDir: string };
  images: GeneratedImage[];
}

/**
 * Writes VQA v2 files about shapes scenes: v2_OpenEnded_mscoco_<subtype>_questions.json,
 * v2_mscoco_<subtype>_annotations.json and images <subtype>/COCO_<subtype>_%012d.jpg for the subtypes
 * train2014 and val2014. Answers (counts, colours, shapes, yes/no) follow from the scene. Each image's regions
 * (boxes, classes, stand-in features; `loadRegions` reads them) are in features/<image_id>.{json,bin}.
 */
export async function generateVqa(options: LanguageGenerateOptions): Promise<VqaDatasetFiles> {
  const { out, seed, count, valCount, size } = resolveOptions('generateVqa', options);
  const { questionsPerImage = 4 } = options;
  const featureDim = resolveFeatureDim('generateVqa', options);
  const featureDir = join(out, 'features');
  const images: GeneratedImage[] = [];
  const queue = new WriteQueue();
  const subtypes = { train: 'train2014', val: 'val2014' } as const;
  const questionsOf = { train: [] as object[], val: [] as object[] };
  const annotationsOf = { train: [] as object[], val: [] as object[] };
  for (const { split, index, rng, scene } of splitScenes(seed, { train: count, val: valCount }, size, 6)) {
    const subtype = subtypes[split];
    const imageId = (split === 'train' ? 0 : 500000) + index + 1;
    images.push(generatedImage(split, imageId, scene));
    sceneQuestions(rng, scene, questionsPerImage).forEach((q, k) => {
      const questionId = imageId * 1000 + k;
      questionsOf[split].push({ image_id: imageId, question: q.question, question_id: questionId });
      annotationsOf[split].push({
        question_id: questionId,
        image_id: imageId,
        question_type: q.questionType,
        answer_type: q.answerType,
        multiple_choice_answer: q.answer,
        answers: humanAnswers(rng, q),
      });
    });
    writeRegions(featureDir, String(imageId), rng, scene, featureDim);
    const image = join(out, subtype, `COCO_${subtype}_${String(imageId).padStart(12, '0')}.jpg`);
    await queue.add(writeImage(image, scene, 'jpeg'));
  }
  const files = {} as Pick<VqaDatasetFiles, 'train' | 'val'>;
  for (const split of ['train', 'val'] as const) {
    const subtype = subtypes[split];
    const [questions, annotations] = [questionsOf[split], annotationsOf[split]];
    const imageDir = join(out, subtype);
    const questionsFile = join(out, `v2_OpenEnded_mscoco_${subtype}_questions.json`);
    const annotationsFile = join(out, `v2_mscoco_${subtype}_annotations.json`);
    const info = { description: 'deformjs shapes world VQA (synthetic)', version: '2.0' };
    writeJson(questionsFile, {
      info,
      task_type: 'Open-Ended',
      data_type: 'mscoco',
      license: {},
      data_subtype: subtype,
      questions,
    });
    writeJson(annotationsFile, { info, license: {}, data_subtype: subtype, data_type: 'mscoco', annotations });
    files[split] = { questionsFile, annotationsFile, imageDir, featureDir };
  }
  await queue.drain();
  return { root: out, ...files, images };
}

export interface CaptionsDatasetFiles {
  root: string;
  train: { tsvFile: string; featureDir: string; imageDir: string };
  val: { tsvFile: string; featureDir: string; imageDir: string };
  images: GeneratedImage[];
}

/**
 * Writes Conceptual Captions style data about shapes scenes: {train,val}.tsv (`caption<TAB>url`, no header),
 * images/<key>.jpg and features/<key>.{json,bin} (boxes of the objects and their RoI features, the format
 * documented on `loadConceptualCaptions`).
 */
export async function generateCaptions(options: LanguageGenerateOptions): Promise<CaptionsDatasetFiles> {
  const { out, seed, count, valCount, size } = resolveOptions('generateCaptions', options);
  const featureDim = resolveFeatureDim('generateCaptions', options);
  const images: GeneratedImage[] = [];
  const queue = new WriteQueue();
  const featureDir = join(out, 'features');
  const imageDir = join(out, 'images');
  const lines = { train: [] as string[], val: [] as string[] };
  for (const { split, index, rng, scene } of splitScenes(seed, { train: count, val: valCount }, size, 6)) {
    const url = `https://shapes.invalid/${split}/${String(index).padStart(7, '0')}.jpg`;
    const key = captionKey(url);
    images.push(generatedImage(split, key, scene));
    lines[split].push(`${describeScene(scene)}\t${url}\n`);
    writeRegions(featureDir, key, rng, scene, featureDim);
    await queue.add(writeImage(join(imageDir, `${key}.jpg`), scene, 'jpeg'));
  }
  const files = {} as Pick<CaptionsDatasetFiles, 'train' | 'val'>;
  for (const split of ['train', 'val'] as const) {
    const tsvFile = join(out, `${split}.tsv`);
    writeFileAtomic(tsvFile, lines[split].join(''));
    files[split] = { tsvFile, featureDir, imageDir };
  }
  await queue.drain();
  return { root: out, ...files, images };
}

/** An object named so that no other object in its scene fits the words. */
export interface ReferringExpression {
  sentence: string;
  /** Index into the scene's objects (and so into the regions' boxes). */
  object: number;
}

/**
 * Referring expressions that pick out one object: "the red circle" when colour and shape are unique, "the
 * circle" when the shape alone is, else "the leftmost/rightmost red circle" among same-looking objects.
 * Crowds are never referents.
 */
export function sceneExpressions(rng: Rng, scene: RenderedScene, count: number): ReferringExpression[] {
  const objects = scene.objects;
  const candidates: ReferringExpression[] = [];
  objects.forEach((o, k) => {
    if (o.iscrowd) return;
    const shape = SHAPE_CLASSES[o.shape];
    const color = SHAPE_COLORS[o.color].name;
    const twins = objects.filter((p) => p.shape === o.shape && p.color === o.color);
    if (objects.filter((p) => p.shape === o.shape).length === 1)
      candidates.push({ sentence: `the ${shape}`, object: k });
    if (twins.length === 1) {
      candidates.push({ sentence: `the ${color} ${shape}`, object: k });
      return;
    }
    const centre = (p: (typeof objects)[number]) => (p.box[0] + p.box[2]) / 2;
    const others = twins.filter((p) => p !== o).map(centre);
    if (twins.some((p) => p.iscrowd)) return;
    if (others.every((x) => centre(o) < x - 4))
      candidates.push({ sentence: `the leftmost ${color} ${shape}`, object: k });
    if (others.every((x) => centre(o) > x + 4))
      candidates.push({ sentence: `the rightmost ${color} ${shape}`, object: k });
  });
  return rng.shuffle(candidates).slice(0, count);
}

export interface RefexpDatasetFiles {
  root: string;
  train: { refsFile: string; featureDir: string; imageDir: string };
  val: { refsFile: string; featureDir: string; imageDir: string };
  images: GeneratedImage[];
}

/**
 * Writes a referring-expression set about shapes scenes (RefCOCO's task): refs_{train,val}.json
 * (`{"refs": [{"ref_id", "image_key", "sentence", "box": [x0, y0, x1, y1]}]}`, the box of the object
 * referred to, in pixels), images/<key>.jpg and the regions features/<key>.{json,bin} (`loadRegions`).
 * `questionsPerImage` sets the expressions per image (default 4, fewer when the scene has fewer).
 */
export async function generateRefexp(options: LanguageGenerateOptions): Promise<RefexpDatasetFiles> {
  const { questionsPerImage = 4 } = options;
  assertInteger('generateRefexp', 'questionsPerImage', questionsPerImage, 1);
  const set = await generateKeyedScenes('generateRefexp', options, (rng, scene, key) =>
    sceneExpressions(rng, scene, questionsPerImage).map((e) => ({
      image_key: key,
      sentence: e.sentence,
      box: scene.objects[e.object].box,
    })),
  );
  const files = {} as Pick<RefexpDatasetFiles, 'train' | 'val'>;
  for (const split of ['train', 'val'] as const) {
    const refsFile = join(set.out, `refs_${split}.json`);
    writeJson(refsFile, {
      info: { description: 'deformjs shapes world referring expressions (synthetic)' },
      refs: set.texts[split].map((ref, ref_id) => ({ ref_id, ...ref })),
    });
    files[split] = { refsFile, featureDir: set.featureDir, imageDir: set.imageDir };
  }
  return { root: set.out, ...files, images: set.images };
}

/**
 * The scenes of a language set keyed by file name (refexp, VCR): per split and image a scene drawn from the
 * image's own generator and keyed `<split>_<i>`, handed to `describe` (which draws its texts from that same
 * generator), then written as images/<key>.jpg with its regions features/<key>.{json,bin}. Returns each
 * split's texts in order.
 */
async function generateKeyedScenes<T>(
  op: string,
  options: LanguageGenerateOptions,
  describe: (rng: Rng, scene: RenderedScene, key: string) => T[],
): Promise<{
  out: string;
  featureDir: string;
  imageDir: string;
  images: GeneratedImage[];
  texts: Record<'train' | 'val', T[]>;
}> {
  const { out, seed, count, valCount, size } = resolveOptions(op, options);
  const featureDim = resolveFeatureDim(op, options);
  const images: GeneratedImage[] = [];
  const queue = new WriteQueue();
  const featureDir = join(out, 'features');
  const imageDir = join(out, 'images');
  const texts: Record<'train' | 'val', T[]> = { train: [], val: [] };
  for (const { split, index, rng, scene } of splitScenes(seed, { train: count, val: valCount }, size, 6)) {
    const key = `${split}_${String(index).padStart(7, '0')}`;
    images.push(generatedImage(split, key, scene));
    texts[split].push(...describe(rng, scene, key));
    writeRegions(featureDir, key, rng, scene, featureDim);
    await queue.add(writeImage(join(imageDir, `${key}.jpg`), scene, 'jpeg'));
  }
  await queue.drain();
  return { out, featureDir, imageDir, images, texts };
}

/** A VCR-style question: 4 answers (one right) and 4 rationales of the right answer (one right). */
export interface VcrQuestion {
  question: string;
  answerType: 'number' | 'other';
  answerChoices: string[];
  answerLabel: number;
  rationaleChoices: string[];
  rationaleLabel: number;
}

const QUADRANTS = ['top left', 'top right', 'bottom left', 'bottom right'];

/**
 * VCR-style 4-way questions from the VQA questions of a scene. Answers: the right one and three of the VQA
 * generator's distractors (counts get n + 2 and n + 3 as further wrong counts; yes/no questions, with one
 * possible wrong answer, are left out). Rationale: where one object the answer is about lies, "the red circle is
 * at the top left", against the three other quadrants; that object's colour and shape are unique in the scene
 * (so every other quadrant is false) and its centre is at least 8% of the image away from both midlines (so its
 * quadrant is clear). Questions without such an object are left out.
 */
export function sceneVcr(rng: Rng, scene: RenderedScene, count: number): VcrQuestion[] {
  const objects = scene.objects;
  const margin = (o: (typeof objects)[number]) =>
    Math.min(
      Math.abs((o.box[0] + o.box[2]) / 2 - scene.width / 2) / scene.width,
      Math.abs((o.box[1] + o.box[3]) / 2 - scene.height / 2) / scene.height,
    );
  const items: VcrQuestion[] = [];
  for (const q of sceneQuestions(rng, scene, objects.length * 4 + SHAPE_CLASSES.length * 2)) {
    if (items.length === count) break;
    if (q.answerType === 'yes/no') continue;
    const n = Number(q.answer);
    const extra = q.answerType === 'number' ? [String(n + 2), String(n + 3)] : [];
    const wrong = [...new Set([...q.distractors, ...extra])].filter((d) => d !== q.answer);
    const candidates = q.evidence
      .map((k) => objects[k])
      .filter(
        (o) =>
          !o.iscrowd &&
          margin(o) >= 0.08 &&
          objects.filter((p) => p.shape === o.shape && p.color === o.color).length === 1,
      );
    if (wrong.length < 3 || candidates.length === 0) continue;
    const o = candidates.reduce((best, c) => (margin(c) > margin(best) ? c : best));
    const quadrant =
      ((o.box[1] + o.box[3]) / 2 < scene.height / 2 ? 0 : 2) + ((o.box[0] + o.box[2]) / 2 < scene.width / 2 ? 0 : 1);
    const answers = rng.shuffle([q.answer, ...rng.shuffle(wrong).slice(0, 3)]);
    const places = rng.shuffle([...QUADRANTS]);
    const subject = `the ${SHAPE_COLORS[o.color].name} ${SHAPE_CLASSES[o.shape]}`;
    items.push({
      question: q.question,
      answerType: q.answerType as VcrQuestion['answerType'],
      answerChoices: answers,
      answerLabel: answers.indexOf(q.answer),
      rationaleChoices: places.map((p) => `${subject} is at the ${p}`),
      rationaleLabel: places.indexOf(QUADRANTS[quadrant]),
    });
  }
  return items;
}

export interface VcrDatasetFiles {
  root: string;
  train: { file: string; featureDir: string; imageDir: string };
  val: { file: string; featureDir: string; imageDir: string };
  images: GeneratedImage[];
}

/**
 * Writes a VCR-style 4-way choice set about shapes scenes: {train,val}.jsonl, one question a line with VCR's
 * field names (`annot_id`, `question`, `answer_choices`, `answer_label`, `rationale_choices`,
 * `rationale_label`; text as plain strings, not VCR's token lists with object references) and `image_key`,
 * `answer_type`; images/<key>.jpg and the regions features/<key>.{json,bin} (`loadRegions`). Built by
 * `sceneVcr` from the VQA generator's questions and distractors; up to `questionsPerImage` (default 4) per image.
 */
export async function generateVcr(options: LanguageGenerateOptions): Promise<VcrDatasetFiles> {
  const { questionsPerImage = 4 } = options;
  assertInteger('generateVcr', 'questionsPerImage', questionsPerImage, 1);
  const set = await generateKeyedScenes('generateVcr', options, (rng, scene, key) =>
    sceneVcr(rng, scene, questionsPerImage).map((q) => ({
      image_key: key,
      question: q.question,
      answer_type: q.answerType,
      answer_choices: q.answerChoices,
      answer_label: q.answerLabel,
      rationale_choices: q.rationaleChoices,
      rationale_label: q.rationaleLabel,
    })),
  );
  const files = {} as Pick<VcrDatasetFiles, 'train' | 'val'>;
  for (const split of ['train', 'val'] as const) {
    const file = join(set.out, `${split}.jsonl`);
    const lines = set.texts[split].map((q, k) => JSON.stringify({ annot_id: `${split}-${k}`, ...q }) + '\n');
    writeFileAtomic(file, lines.join(''));
    files[split] = { file, featureDir: set.featureDir, imageDir: set.imageDir };
  }
  return { root: set.out, ...files, images: set.images };
}

/** Every word the language generators write (captions, questions, answers, referring expressions). */
export function languageVocabulary(): string[] {
  const shapes = SHAPE_CLASSES.flatMap((_, s) => [SHAPE_CLASSES[s], plural(s, 2)]);
  const template = 'a an and on background how many are there is what color shape the object leftmost rightmost yes';
  return [
    ...new Set([
      ...template.split(' '),
      ...NUMBER_WORDS,
      ...NUMBER_WORDS.map((_, n) => String(n)),
      ...shapes,
      ...SHAPE_COLORS.map((c) => c.name),
      ...BACKGROUND_TONES.map((t) => t.name),
      // VCR-style rationales (appended, so the earlier words keep their order).
      ...'at top bottom left right'.split(' '),
    ]),
  ];
}
