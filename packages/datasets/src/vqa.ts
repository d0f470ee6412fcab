import { join } from 'node:path';
import { formatError } from './errors';
import { isRecord } from '@deformjs/validate';
import { arrayField, readJson, RecordReader, requireFile } from './files';
import { decodeImage } from './image';
import type { RgbImage } from './types';

export interface VqaAnswer {
  answer: string;
  answerConfidence: string;
  answerId: number;
}

export interface VqaRecord {
  questionId: number;
  imageId: number;
  question: string;
  imagePath: string;
  /** Present when an annotations file was given (not for test splits). */
  questionType?: string;
  answerType?: string;
  multipleChoiceAnswer?: string;
  /** The 10 human answers. */
  answers?: VqaAnswer[];
}

export interface VqaDataset {
  /** `data_subtype` of the questions file, e.g. train2014; it names the image files. */
  subtype: string;
  records: VqaRecord[];
  image(index: number): Promise<RgbImage>;
}

export interface VqaLoadOptions {
  /** v2_OpenEnded_mscoco_<subtype>_questions.json */
  questionsFile: string;
  /** v2_mscoco_<subtype>_annotations.json; omit for test splits. */
  annotationsFile?: string;
  /** Folder of COCO_<subtype>_%012d.jpg images. */
  imageDir: string;
}

/**
 * Loads VQA v2 questions and, when given, their annotations (joined by question_id, which must match one
 * to one, with the same image_id, and 10 answers each). Image files follow the COCO naming of the questions'
 * data_subtype and must exist.
 */
export function loadVqa({ questionsFile, annotationsFile, imageDir }: VqaLoadOptions): VqaDataset {
  const questionsJson = readJson(questionsFile);
  const subtype =
    isRecord(questionsJson) && typeof questionsJson.data_subtype === 'string' ? questionsJson.data_subtype : '';
  if (!subtype)
    throw formatError(questionsFile, '', 'missing "data_subtype" (e.g. "train2014"), which names the images');
  const byId = new Map<number, VqaRecord>();
  const records = arrayField(questionsJson, 'questions', questionsFile).map((q, i) => {
    const r = new RecordReader(questionsFile, `questions[${i}]`, q);
    const questionId = r.number('question_id', { integer: true });
    const where = new RecordReader(questionsFile, `questions[${i}] (question_id ${questionId})`, q);
    if (byId.has(questionId)) where.fail('duplicate question_id');
    const imageId = where.number('image_id', { integer: true, min: 0 });
    const imagePath = join(imageDir, `COCO_${subtype}_${String(imageId).padStart(12, '0')}.jpg`);
    requireFile(imagePath, questionsFile, `questions[${i}] (question_id ${questionId}, image_id ${imageId})`);
    const record: VqaRecord = { questionId, imageId, question: where.string('question'), imagePath };
    byId.set(questionId, record);
    return record;
  });
  if (annotationsFile) {
    const seen = new Set<number>();
    arrayField(readJson(annotationsFile), 'annotations', annotationsFile).forEach((a, i) => {
      const first = new RecordReader(annotationsFile, `annotations[${i}]`, a);
      const questionId = first.number('question_id', { integer: true });
      const r = new RecordReader(annotationsFile, `annotations[${i}] (question_id ${questionId})`, a);
      const record = byId.get(questionId);
      if (!record) r.fail(`question_id ${questionId} is not in ${questionsFile}`);
      if (seen.has(questionId)) r.fail('duplicate question_id');
      seen.add(questionId);
      const imageId = r.number('image_id', { integer: true });
      if (imageId !== record!.imageId) r.fail(`image_id ${imageId} differs from the question's ${record!.imageId}`);
      const answers = r.raw('answers');
      if (!Array.isArray(answers) || answers.length !== 10)
        r.fail(
          `"answers" must hold 10 answers, got ${Array.isArray(answers) ? answers.length : JSON.stringify(answers)}`,
        );
      record!.answers = (answers as unknown[]).map((ans, k) => {
        const ar = new RecordReader(annotationsFile, `${r.record} answers[${k}]`, ans);
        return {
          answer: ar.string('answer'),
          answerConfidence: ar.string('answer_confidence'),
          answerId: ar.number('answer_id', { integer: true }),
        };
      });
      record!.questionType = r.string('question_type');
      record!.answerType = r.string('answer_type');
      record!.multipleChoiceAnswer = r.string('multiple_choice_answer');
    });
    const missing = records.find((q) => !seen.has(q.questionId));
    if (missing) throw formatError(annotationsFile, '', `no annotation for question_id ${missing.questionId}`);
  }
  return {
    subtype,
    records,
    image: (index) => decodeImage(records[index].imagePath, `question_id ${records[index].questionId}`),
  };
}
