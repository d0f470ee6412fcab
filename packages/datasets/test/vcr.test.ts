import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateVcr, languageVocabulary, type VcrDatasetFiles } from '../src/shapes/language';
import { SHAPE_CLASSES, SHAPE_COLORS } from '../src/shapes/raster';
import { loadVcr } from '../src/vcr';
import { tempDir, thrown } from './helpers';

const dir = tempDir('vcr');
let vcr: VcrDatasetFiles;

beforeAll(async () => {
  vcr = await generateVcr({ out: join(dir, 'a'), seed: 21, count: 12, valCount: 3, size: 80 });
});

describe('VCR-style 4-way choice on shapes scenes', () => {
  it('is seeded and deterministic: the same seed writes the same questions', async () => {
    const again = await generateVcr({ out: join(dir, 'b'), seed: 21, count: 12, valCount: 3, size: 80 });
    expect(readFileSync(again.train.file, 'utf8')).toBe(readFileSync(vcr.train.file, 'utf8'));
    const other = await generateVcr({ out: join(dir, 'c'), seed: 22, count: 12, valCount: 3, size: 80 });
    expect(readFileSync(other.train.file, 'utf8')).not.toBe(readFileSync(vcr.train.file, 'utf8'));
  });

  it('one right answer among 4 distinct choices, one right rationale naming where its object is', () => {
    const ds = loadVcr(vcr.train);
    expect(ds.records.length).toBeGreaterThan(12);
    const vocabulary = new Set(languageVocabulary());
    const labels = new Set<number>();
    for (const [i, r] of ds.records.entries()) {
      const scene = vcr.images.find((g) => g.id === r.imageKey)!;
      expect(new Set(r.answerChoices).size).toBe(4);
      expect(new Set(r.rationaleChoices).size).toBe(4);
      labels.add(r.answerLabel);
      const answer = r.answerChoices[r.answerLabel];
      const count = r.question.match(/^How many (\w+) are there\?$/);
      const colour = r.question.match(/^What color is the (\w+)\?$/);
      const shape = r.question.match(/^What shape is the (\w+) object\?$/);
      const shapeOf = (plural: string) => SHAPE_CLASSES.findIndex((s) => plural.startsWith(s));
      if (count) expect(Number(answer)).toBe(scene.shapes.filter((s) => s === shapeOf(count[1])).length);
      else if (colour) {
        const k = scene.shapes.indexOf(shapeOf(colour[1]));
        expect(answer).toBe(SHAPE_COLORS[scene.colors[k]].name);
      } else {
        expect(shape).not.toBeNull();
        const k = scene.colors.findIndex((c) => SHAPE_COLORS[c].name === shape![1]);
        expect(answer).toBe(SHAPE_CLASSES[scene.shapes[k]]);
      }
      // The rationale's object is unique by colour and shape, and lies in the quadrant it names.
      const m = r.rationaleChoices[r.rationaleLabel].match(/^the (\w+) (\w+) is at the (top|bottom) (left|right)$/)!;
      const twins = scene.shapes
        .map((s, j) => j)
        .filter((j) => SHAPE_CLASSES[scene.shapes[j]] === m[2] && SHAPE_COLORS[scene.colors[j]].name === m[1]);
      expect(twins).toHaveLength(1);
      const [x0, y0, x1, y1] = scene.boxes[twins[0]];
      expect((y0 + y1) / 2 < scene.height / 2 ? 'top' : 'bottom').toBe(m[3]);
      expect((x0 + x1) / 2 < scene.width / 2 ? 'left' : 'right').toBe(m[4]);
      for (const text of [r.question, ...r.answerChoices, ...r.rationaleChoices])
        for (const word of text
          .toLowerCase()
          .split(/[^a-z0-9]+/)
          .filter(Boolean))
          expect(vocabulary.has(word), word).toBe(true);
      expect(Array.from(ds.regions(i).boxes)).toEqual(scene.boxes.flat());
    }
    expect(labels.size).toBe(4); // the right answer is not always in the same place
  });

  it("wrong answers are the VQA generator's distractors (counts: n + 1, n - 1, then n + 2, n + 3)", () => {
    for (const r of loadVcr(vcr.train).records) {
      const right = r.answerChoices[r.answerLabel];
      const wrong = r.answerChoices.filter((_, c) => c !== r.answerLabel);
      if (r.answerType === 'number') {
        const n = Number(right);
        const allowed = [n + 1, Math.max(0, n - 1), n + 2, n + 3].map(String).filter((a) => a !== right);
        expect(
          wrong.every((a) => allowed.includes(a)),
          `${r.question} ${r.answerChoices}`,
        ).toBe(true);
      } else if (r.question.startsWith('What color')) {
        expect(wrong.every((a) => SHAPE_COLORS.some((c) => c.name === a))).toBe(true);
      } else {
        expect(wrong.every((a) => (SHAPE_CLASSES as readonly string[]).includes(a))).toBe(true);
      }
    }
  });

  it('errors name the file, the line and the field', async () => {
    const lines = readFileSync(vcr.val.file, 'utf8').trim().split('\n');
    const bad = join(dir, 'bad.jsonl');
    const first = JSON.parse(lines[0]);
    writeFileSync(bad, [JSON.stringify({ ...first, answer_label: 4 }), ...lines.slice(1)].join('\n'));
    expect((await thrown(() => loadVcr({ ...vcr.val, file: bad }))).message).toMatch(
      /bad\.jsonl: line 1: "answer_label" must be a choice index in \[0, 3\], got 4/,
    );
    writeFileSync(bad, `${lines[0]}\n${JSON.stringify({ ...first, rationale_choices: ['a', 'b'] })}\n`);
    expect((await thrown(() => loadVcr({ ...vcr.val, file: bad }))).message).toMatch(
      /line 2: "rationale_choices" must be 4 non-empty strings/,
    );
    writeFileSync(bad, `${lines[0]}\n{"annot_id": 1,`);
    expect((await thrown(() => loadVcr({ ...vcr.val, file: bad }))).message).toMatch(/line 2: malformed JSON/);
    writeFileSync(bad, JSON.stringify({ ...first, image_key: '../x' }));
    expect((await thrown(() => loadVcr({ ...vcr.val, file: bad }))).message).toMatch(/image_key.*plain file name/);
  });

  it('sceneVcr leaves out yes/no questions (one possible wrong answer)', () => {
    const ds = loadVcr(vcr.train);
    expect(ds.records.every((r) => !r.question.startsWith('Is there'))).toBe(true);
    expect(new Set(ds.records.map((r) => r.answerType))).toEqual(new Set(['number', 'other']));
  });
});
