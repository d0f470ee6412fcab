import { join } from 'node:path';
import { loadRegions, type CaptionRegions } from './captions';
import { formatError } from './errors';
import { readText, RecordReader, requireFile } from './files';
import { decodeImage } from './image';
import type { RgbImage } from './types';

export interface VcrRecord {
  annotId: string;
  imageKey: string;
  question: string;
  answerType: string;
  /** 4 answers, `answerLabel` the right one; 4 rationales of the right answer, `rationaleLabel` the right one. */
  answerChoices: string[];
  answerLabel: number;
  rationaleChoices: string[];
  rationaleLabel: number;
  imagePath: string;
}

export interface VcrDataset {
  records: VcrRecord[];
  /** The image's regions (boxes, classes, features). */
  regions(index: number): CaptionRegions;
  image(index: number): Promise<RgbImage>;
}

export interface VcrLoadOptions {
  /** <split>.jsonl as `generateVcr` writes it (one JSON object a line). */
  file: string;
  featureDir: string;
  imageDir: string;
}

function choices(r: RecordReader, key: string): string[] {
  const value = r.raw(key);
  if (!Array.isArray(value) || value.length !== 4 || value.some((v) => typeof v !== 'string' || v === ''))
    r.fail(`"${key}" must be 4 non-empty strings, got ${JSON.stringify(value)?.slice(0, 120)}`);
  return value as string[];
}

/** Loads a VCR-style 4-way choice set; every record's image and region files must exist (checked up front). */
export function loadVcr({ file, featureDir, imageDir }: VcrLoadOptions): VcrDataset {
  const records: VcrRecord[] = [];
  readText(file, 'VCR JSONL')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `line ${i + 1}`;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw formatError(file, where, `malformed JSON (${(error as Error).message})`);
      }
      const r = new RecordReader(file, where, value);
      const imageKey = r.string('image_key');
      if (!/^[A-Za-z0-9_-]+$/.test(imageKey))
        r.fail(`"image_key" must be a plain file name, got ${JSON.stringify(imageKey)}`);
      const imagePath = join(imageDir, `${imageKey}.jpg`);
      requireFile(imagePath, file, where);
      requireFile(join(featureDir, `${imageKey}.json`), file, `${where} regions`);
      const label = (key: string) => {
        const v = r.number(key, { integer: true, min: 0 });
        if (v > 3) r.fail(`"${key}" must be a choice index in [0, 3], got ${v}`);
        return v;
      };
      records.push({
        annotId: String(r.id('annot_id')),
        imageKey,
        question: r.string('question'),
        answerType: r.string('answer_type'),
        answerChoices: choices(r, 'answer_choices'),
        answerLabel: label('answer_label'),
        rationaleChoices: choices(r, 'rationale_choices'),
        rationaleLabel: label('rationale_label'),
        imagePath,
      });
    });
  return {
    records,
    regions: (index) => loadRegions(featureDir, records[index].imageKey),
    image: (index) => decodeImage(records[index].imagePath, `annot_id ${records[index].annotId}`),
  };
}
