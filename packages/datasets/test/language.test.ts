import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConceptualCaptions, loadRegions } from '../src/captions';
import { loadRefexp } from '../src/refexp';
import {
  generateCaptions,
  generateRefexp,
  generateVqa,
  languageVocabulary,
  type CaptionsDatasetFiles,
  type RefexpDatasetFiles,
  type VqaDatasetFiles,
} from '../src/shapes/language';
import { SHAPE_CLASSES, SHAPE_COLORS } from '../src/shapes/raster';
import { loadVqa } from '../src/vqa';
import { tempDir, thrown } from './helpers';

const dir = tempDir('lang');
let vqa: VqaDatasetFiles;
let captions: CaptionsDatasetFiles;
let refexp: RefexpDatasetFiles;

beforeAll(async () => {
  vqa = await generateVqa({ out: join(dir, 'vqa'), seed: 11, count: 12, valCount: 3, size: 80 });
  captions = await generateCaptions({
    out: join(dir, 'cc'),
    seed: 12,
    count: 8,
    valCount: 2,
    size: 80,
    featureDim: 32,
  });
  refexp = await generateRefexp({ out: join(dir, 'ref'), seed: 13, count: 10, valCount: 2, size: 80 });
});

describe('VQA v2', () => {
  it('joins questions and annotations; answers follow from the scene', async () => {
    const ds = loadVqa(vqa.train);
    expect(ds.subtype).toBe('train2014');
    expect(ds.records.length).toBe(12 * 4);
    const types = new Set<string>();
    for (const r of ds.records) {
      const scene = vqa.images.find((g) => g.id === r.imageId)!;
      expect(r.answers!.length).toBe(10);
      const votes = r.answers!.filter((a) => a.answer === r.multipleChoiceAnswer).length;
      expect(votes).toBeGreaterThanOrEqual(7);
      types.add(r.questionType!);
      let m: RegExpMatchArray | null;
      if ((m = r.question.match(/^How many (\w+) are there\?$/))) {
        const plural = (name: string) => (name.endsWith('s') ? `${name}es` : `${name}s`);
        expect(SHAPE_CLASSES.map(plural)).toContain(m[1]);
        expect(Number(r.multipleChoiceAnswer)).toBe(
          scene.shapes.filter((s) => plural(SHAPE_CLASSES[s]) === m![1]).length,
        );
        expect(r.answerType).toBe('number');
      } else if ((m = r.question.match(/^Is there a (\w+)\?$/))) {
        expect(r.multipleChoiceAnswer).toBe(scene.shapes.some((s) => SHAPE_CLASSES[s] === m![1]) ? 'yes' : 'no');
      } else if ((m = r.question.match(/^What color is the (\w+)\?$/))) {
        const k = scene.shapes.findIndex((s) => SHAPE_CLASSES[s] === m![1]);
        expect(r.multipleChoiceAnswer).toBe(SHAPE_COLORS[scene.colors[k]].name);
      } else if ((m = r.question.match(/^What shape is the (\w+) object\?$/))) {
        const k = scene.colors.findIndex((c) => SHAPE_COLORS[c].name === m![1]);
        expect(r.multipleChoiceAnswer).toBe(SHAPE_CLASSES[scene.shapes[k]]);
      } else throw new Error(`unexpected question ${r.question}`);
    }
    expect(types.size).toBeGreaterThanOrEqual(3);
    const image = await ds.image(0);
    expect(image.data.length).toBe(image.width * image.height * 3);
    expect(
      loadVqa({ questionsFile: vqa.val.questionsFile, imageDir: vqa.val.imageDir }).records[0].answers,
    ).toBeUndefined();
  });

  it('errors name the file and the question', async () => {
    const json = JSON.parse(readFileSync(vqa.val.annotationsFile, 'utf8'));
    json.annotations[1].question_id = 123;
    const bad = join(dir, 'bad_annotations.json');
    writeFileSync(bad, JSON.stringify(json));
    expect((await thrown(() => loadVqa({ ...vqa.val, annotationsFile: bad }))).message).toMatch(
      /bad_annotations\.json: annotations\[1\] \(question_id 123\): question_id 123 is not in .*questions\.json/,
    );
    json.annotations[1] = { ...JSON.parse(readFileSync(vqa.val.annotationsFile, 'utf8')).annotations[1], answers: [] };
    writeFileSync(bad, JSON.stringify(json));
    expect((await thrown(() => loadVqa({ ...vqa.val, annotationsFile: bad }))).message).toMatch(
      /annotations\[1\] \(question_id \d+\): "answers" must hold 10 answers, got 0/,
    );
    const questions = join(dir, 'q.json');
    writeFileSync(questions, readFileSync(vqa.val.questionsFile, 'utf8').slice(0, 100));
    expect((await thrown(() => loadVqa({ ...vqa.val, questionsFile: questions }))).message).toMatch(
      /q\.json: JSON: malformed or truncated/,
    );
    expect((await thrown(() => loadVqa({ ...vqa.val, imageDir: dir }))).message).toMatch(
      /questions\[0\] \(question_id \d+, image_id \d+\): referenced file not found: .*COCO_val2014_0+\d+\.jpg/,
    );
  });
});

describe('Conceptual Captions with precomputed regions', () => {
  it('reads captions, boxes and features of every row', async () => {
    const ds = loadConceptualCaptions(captions.train);
    const truth = captions.images.filter((g) => g.split === 'train');
    expect(ds.records.map((r) => r.key)).toEqual(truth.map((g) => g.id));
    ds.records.forEach((r, i) => {
      const g = truth[i];
      const regions = ds.regions(i);
      expect(Array.from(regions.boxes)).toEqual(g.boxes.flat());
      expect(Array.from(regions.classes!)).toEqual(g.shapes);
      expect(regions.featureDim).toBe(32);
      expect(regions.features.length).toBe(g.boxes.length * 32);
      // The caption names each object's colour and shape; the feature one-hots agree with it.
      g.shapes.forEach((s, k) => {
        expect(r.caption).toContain(`${SHAPE_COLORS[g.colors[k]].name} ${SHAPE_CLASSES[s]}`);
        const f = regions.features.subarray(k * 32, (k + 1) * 32);
        const top = Array.from(f.subarray(0, SHAPE_CLASSES.length)).indexOf(
          Math.max(...f.subarray(0, SHAPE_CLASSES.length)),
        );
        expect(top).toBe(s);
      });
    });
    const image = await ds.image(0);
    expect([image.width, image.height]).toEqual([truth[0].width, truth[0].height]);
  });

  it('errors: a row without a tab, a feature file of the wrong size', async () => {
    const tsv = join(dir, 'bad.tsv');
    writeFileSync(tsv, 'a caption without a url\n');
    expect(
      (await thrown(() => loadConceptualCaptions({ tsvFile: tsv, featureDir: captions.train.featureDir }))).message,
    ).toMatch(/bad\.tsv: line 1: expected caption<TAB>url, got 1 field/);
    const ds = loadConceptualCaptions(captions.val);
    const bin = join(captions.val.featureDir, `${ds.records[0].key}.bin`);
    const bytes = readFileSync(bin);
    writeFileSync(bin, bytes.subarray(0, bytes.length - 4));
    expect((await thrown(() => ds.regions(0))).message).toMatch(
      new RegExp(
        `${ds.records[0].key}\\.bin: features of .*: holds ${bytes.length - 4} bytes, expected num_boxes \\d+ x feature_dim 32 x 4`,
      ),
    );
    writeFileSync(bin, bytes);
  });
});

describe('the synthetic sets close the VL-BERT data gaps', () => {
  it('VQA images have regions (boxes and classes of every object) in the captions format', () => {
    for (const g of vqa.images.filter((i) => i.split === 'train')) {
      const regions = loadRegions(vqa.train.featureDir, String(g.id));
      expect(Array.from(regions.boxes)).toEqual(g.boxes.flat());
      expect(Array.from(regions.classes!)).toEqual(g.shapes);
      expect([regions.width, regions.height]).toEqual([g.width, g.height]);
    }
  });

  it('languageVocabulary holds every word of the questions, answers and captions', () => {
    const vocabulary = new Set(languageVocabulary());
    const texts = [
      ...loadVqa(vqa.train).records.flatMap((r) => [r.question, ...r.answers!.map((a) => a.answer)]),
      ...loadConceptualCaptions(captions.train).records.map((r) => r.caption),
    ];
    for (const text of texts)
      for (const word of text
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .filter(Boolean))
        expect(vocabulary.has(word), word).toBe(true);
  });

  it('referring expressions name exactly one object of their scene', async () => {
    const ds = loadRefexp(refexp.train);
    expect(ds.records.length).toBeGreaterThan(10);
    const vocabulary = new Set(languageVocabulary());
    for (const [i, r] of ds.records.entries()) {
      const scene = refexp.images.find((g) => g.id === r.imageKey)!;
      const k = scene.boxes.findIndex((b) => b.every((v, j) => v === r.box[j]));
      expect(k, `${r.sentence} in ${r.imageKey}`).toBeGreaterThanOrEqual(0);
      for (const word of r.sentence.split(' ')) expect(vocabulary.has(word), word).toBe(true);
      const m = r.sentence.match(/^the (?:(leftmost|rightmost) )?(?:(\w+) )?(\w+)$/)!;
      const fits = scene.shapes
        .map((s, j) => j)
        .filter(
          (j) => SHAPE_CLASSES[scene.shapes[j]] === m[3] && (!m[2] || SHAPE_COLORS[scene.colors[j]].name === m[2]),
        );
      expect(fits).toContain(k);
      if (!m[1]) expect(fits).toEqual([k]);
      else {
        const centre = (j: number) => scene.boxes[j][0] + scene.boxes[j][2];
        const sign = m[1] === 'leftmost' ? 1 : -1;
        expect(fits.every((j) => j === k || sign * (centre(j) - centre(k)) > 0)).toBe(true);
      }
      expect(Array.from(ds.regions(i).boxes)).toEqual(scene.boxes.flat());
    }
    const image = await ds.image(0);
    expect(image.data.length).toBe(image.width * image.height * 3);
  });

  it('a referring-expression file with a bad box or key names the ref', async () => {
    const json = JSON.parse(readFileSync(refexp.val.refsFile, 'utf8'));
    json.refs[0].box = [10, 10, 5, 12];
    const bad = join(dir, 'bad_refs.json');
    writeFileSync(bad, JSON.stringify(json));
    expect((await thrown(() => loadRefexp({ ...refexp.val, refsFile: bad }))).message).toMatch(
      /bad_refs\.json: refs\[0\]: box: box \[10, 10, 5, 12\] \(xyxy\) has negative width/,
    );
    json.refs[0].image_key = '../x';
    writeFileSync(bad, JSON.stringify(json));
    expect((await thrown(() => loadRefexp({ ...refexp.val, refsFile: bad }))).message).toMatch(
      /image_key.*plain file name/,
    );
  });
});
