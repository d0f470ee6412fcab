import { argumentError, requireArray, requireRecord } from '@deformjs/validate';

/**
 * VQA accuracy as the official evaluation (GT-Vision-Lab/VQA PythonEvaluationTools/vqaEvaluation/vqaEval.py)
 * computes it, and VCR's Q->A, QA->R and Q->AR accuracies.
 */

// The official tables, verbatim.
const CONTRACTIONS: Record<string, string> = {
  aint: "ain't",
  arent: "aren't",
  cant: "can't",
  couldve: "could've",
  couldnt: "couldn't",
  "couldn'tve": "couldn't've",
  "couldnt've": "couldn't've",
  didnt: "didn't",
  doesnt: "doesn't",
  dont: "don't",
  hadnt: "hadn't",
  "hadnt've": "hadn't've",
  "hadn'tve": "hadn't've",
  hasnt: "hasn't",
  havent: "haven't",
  hed: "he'd",
  "hed've": "he'd've",
  "he'dve": "he'd've",
  hes: "he's",
  howd: "how'd",
  howll: "how'll",
  hows: "how's",
  "Id've": "I'd've",
  "I'dve": "I'd've",
  Im: "I'm",
  Ive: "I've",
  isnt: "isn't",
  itd: "it'd",
  "itd've": "it'd've",
  "it'dve": "it'd've",
  itll: "it'll",
  "let's": "let's",
  maam: "ma'am",
  mightnt: "mightn't",
  "mightnt've": "mightn't've",
  "mightn'tve": "mightn't've",
  mightve: "might've",
  mustnt: "mustn't",
  mustve: "must've",
  neednt: "needn't",
  notve: "not've",
  oclock: "o'clock",
  oughtnt: "oughtn't",
  "ow's'at": "'ow's'at",
  "'ows'at": "'ow's'at",
  "'ow'sat": "'ow's'at",
  shant: "shan't",
  "shed've": "she'd've",
  "she'dve": "she'd've",
  "she's": "she's",
  shouldve: "should've",
  shouldnt: "shouldn't",
  "shouldnt've": "shouldn't've",
  "shouldn'tve": "shouldn't've",
  "somebody'd": 'somebodyd',
  "somebodyd've": "somebody'd've",
  "somebody'dve": "somebody'd've",
  somebodyll: "somebody'll",
  somebodys: "somebody's",
  someoned: "someone'd",
  "someoned've": "someone'd've",
  "someone'dve": "someone'd've",
  someonell: "someone'll",
  someones: "someone's",
  somethingd: "something'd",
  "somethingd've": "something'd've",
  "something'dve": "something'd've",
  somethingll: "something'll",
  thats: "that's",
  thered: "there'd",
  "thered've": "there'd've",
  "there'dve": "there'd've",
  therere: "there're",
  theres: "there's",
  theyd: "they'd",
  "theyd've": "they'd've",
  "they'dve": "they'd've",
  theyll: "they'll",
  theyre: "they're",
  theyve: "they've",
  twas: "'twas",
  wasnt: "wasn't",
  "wed've": "we'd've",
  "we'dve": "we'd've",
  weve: "we've",
  werent: "weren't",
  whatll: "what'll",
  whatre: "what're",
  whats: "what's",
  whatve: "what've",
  whens: "when's",
  whered: "where'd",
  wheres: "where's",
  whereve: "where've",
  whod: "who'd",
  "whod've": "who'd've",
  "who'dve": "who'd've",
  wholl: "who'll",
  whos: "who's",
  whove: "who've",
  whyll: "why'll",
  whyre: "why're",
  whys: "why's",
  wont: "won't",
  wouldve: "would've",
  wouldnt: "wouldn't",
  "wouldnt've": "wouldn't've",
  "wouldn'tve": "wouldn't've",
  yall: "y'all",
  "yall'll": "y'all'll",
  "y'allll": "y'all'll",
  "yall'd've": "y'all'd've",
  "y'alld've": "y'all'd've",
  "y'all'dve": "y'all'd've",
  youd: "you'd",
  "youd've": "you'd've",
  "you'dve": "you'd've",
  youll: "you'll",
  youre: "you're",
  youve: "you've",
};

const MANUAL_MAP: Record<string, string> = {
  none: '0',
  zero: '0',
  one: '1',
  two: '2',
  three: '3',
  four: '4',
  five: '5',
  six: '6',
  seven: '7',
  eight: '8',
  nine: '9',
  ten: '10',
};

const ARTICLES = new Set(['a', 'an', 'the']);

const PUNCTUATION = [
  ';',
  '/',
  '[',
  ']',
  '"',
  '{',
  '}',
  '(',
  ')',
  '=',
  '+',
  '\\',
  '_',
  '-',
  '>',
  '<',
  '@',
  '`',
  ',',
  '?',
  '!',
];

// Python's \d matches any Unicode decimal digit.
const COMMA_STRIP = /\p{Nd},\p{Nd}/u;
const PERIOD_STRIP = /\.(?!\p{Nd})/gu;
// vqaEval passes re.UNICODE (32) where re.sub takes its count: at most 32 periods go.
const PERIOD_STRIP_COUNT = 32;
// Python's str.isspace() characters, for str.split() and str.strip() (JS's \s differs: it has U+FEFF and
// lacks U+001C..U+001F and U+0085).
const SPACE = '\\t\\n\\v\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE = new RegExp(`[${SPACE}]+`, 'u');
const STRIP = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, 'gu');

/** vqaEval.processPunctuation. */
export function processPunctuation(text: string): string {
  let out = text;
  const hasDigitComma = COMMA_STRIP.test(text);
  for (const p of PUNCTUATION) {
    const remove = text.includes(`${p} `) || text.includes(` ${p}`) || hasDigitComma;
    out = out.split(p).join(remove ? '' : ' ');
  }
  let removed = 0;
  return out.replace(PERIOD_STRIP, (period) => (removed++ < PERIOD_STRIP_COUNT ? '' : period));
}

/** vqaEval.processDigitArticle: lower case, number words to digits, articles dropped, contractions fixed. */
export function processDigitArticle(text: string): string {
  const words: string[] = [];
  for (const raw of text.toLowerCase().split(WHITESPACE)) {
    if (raw === '') continue;
    const word = Object.hasOwn(MANUAL_MAP, raw) ? MANUAL_MAP[raw] : raw;
    if (!ARTICLES.has(word)) words.push(word);
  }
  return words.map((w) => (Object.hasOwn(CONTRACTIONS, w) ? CONTRACTIONS[w] : w)).join(' ');
}

/** The official normalisation of a predicted answer. */
export function normalizeVqaAnswer(answer: string): string {
  return processDigitArticle(processPunctuation(answer.replaceAll('\n', ' ').replaceAll('\t', ' ').replace(STRIP, '')));
}

/**
 * Accuracy of one predicted answer against the human answers (10 in VQA): the mean over the leave-one-out
 * subsets of min(#subset answers equal to the prediction / 3, 1). As vqaEval: the prediction is fully
 * normalised, the human answers only punctuation-processed and only when they are not all the same.
 */
export function vqaAccuracy(prediction: string, humanAnswers: readonly string[]): number {
  const op = 'vqaAccuracy';
  if (typeof prediction !== 'string') throw argumentError(op, 'prediction', 'a string', prediction);
  if (!Array.isArray(humanAnswers) || humanAnswers.length === 0 || !humanAnswers.every((a) => typeof a === 'string')) {
    throw argumentError(op, 'humanAnswers', 'a non-empty array of strings', humanAnswers);
  }
  return accuracyOf(normalizeVqaAnswer(prediction), humanAnswers);
}

function accuracyOf(answer: string, humanAnswers: readonly string[]): number {
  const answers = new Set(humanAnswers).size > 1 ? humanAnswers.map(processPunctuation) : humanAnswers;
  const matches = answers.filter((a) => a === answer).length;
  let sum = 0;
  for (const a of answers) sum += Math.min(1, (matches - (a === answer ? 1 : 0)) / 3);
  return sum / answers.length;
}

export interface VqaQuestion {
  question_id: number | string;
  answers: readonly (string | { answer: string })[];
  answer_type?: string;
  question_type?: string;
}

export interface VqaPrediction {
  question_id: number | string;
  answer: string;
}

export interface VqaEvalResult {
  /** Mean accuracy in [0, 1] (the official script reports 100x this, rounded to 2 digits). */
  overall: number;
  perAnswerType: Record<string, number>;
  perQuestionType: Record<string, number>;
  /** Accuracy per question id. */
  perQuestion: Map<number | string, number>;
}

/** VQA accuracy of a result list over annotations; every annotated question needs exactly one prediction. */
export function evaluateVqa(annotations: readonly VqaQuestion[], predictions: readonly VqaPrediction[]): VqaEvalResult {
  const op = 'evaluateVqa';
  const predicted = new Map<number | string, string>();
  requireArray(op, 'predictions', predictions).forEach((value, n) => {
    const p = requireRecord(op, `predictions[${n}]`, value);
    const id = p.question_id as number | string;
    const name = `predictions[${n}] (question_id ${String(id)})`;
    if (typeof id !== 'number' && typeof id !== 'string')
      throw argumentError(op, `predictions[${n}].question_id`, 'a number or a string', id);
    if (predicted.has(id)) throw argumentError(op, `${name}.question_id`, 'one prediction per question', id);
    if (typeof p.answer !== 'string') throw argumentError(op, `${name}.answer`, 'a string', p.answer);
    predicted.set(id, p.answer);
  });
  const perQuestion = new Map<number | string, number>();
  const byAnswerType = new Map<string, number[]>();
  const byQuestionType = new Map<string, number[]>();
  const seen = new Set<number | string>();
  requireArray(op, 'annotations', annotations).forEach((value, n) => {
    const q = requireRecord(op, `annotations[${n}]`, value);
    const id = q.question_id as number | string;
    const name = `annotations[${n}] (question_id ${String(id)})`;
    if (typeof id !== 'number' && typeof id !== 'string')
      throw argumentError(op, `annotations[${n}].question_id`, 'a number or a string', id);
    if (seen.has(id)) throw argumentError(op, `${name}.question_id`, 'a question id not used before', id);
    seen.add(id);
    const answers = requireArray(op, `${name}.answers`, q.answers).map((a, j) => {
      const text =
        typeof a === 'string' ? a : a && typeof a === 'object' ? (a as { answer?: unknown }).answer : undefined;
      if (typeof text !== 'string') throw argumentError(op, `${name}.answers[${j}]`, 'a string or {answer: string}', a);
      return text;
    });
    if (answers.length === 0) throw argumentError(op, `${name}.answers`, 'at least one human answer', answers);
    const prediction = predicted.get(id);
    if (prediction === undefined) throw argumentError(op, `${name}`, 'a prediction with this question_id', 'none');
    const acc = accuracyOf(normalizeVqaAnswer(prediction), answers);
    perQuestion.set(id, acc);
    for (const [key, groups] of [
      [q.answer_type, byAnswerType],
      [q.question_type, byQuestionType],
    ] as const) {
      if (typeof key !== 'string') continue;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(acc);
    }
  });
  for (const [id, _] of predicted) {
    if (!seen.has(id))
      throw argumentError(op, `predictions (question_id ${String(id)})`, 'a question_id present in annotations', id);
  }
  const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
  const all = [...perQuestion.values()];
  return {
    overall: all.length ? mean(all) : NaN,
    perAnswerType: Object.fromEntries([...byAnswerType].map(([k, v]) => [k, mean(v)])),
    perQuestionType: Object.fromEntries([...byQuestionType].map(([k, v]) => [k, mean(v)])),
    perQuestion,
  };
}

export interface VcrPrediction {
  /** Chosen answer (index among the 4 choices). */
  answer: number;
  /** Chosen rationale, given the right answer. */
  rationale: number;
}

export interface VcrLabel {
  answer: number;
  rationale: number;
}

export interface VcrAccuracy {
  /** Q->A: right answers / questions. */
  qa: number;
  /** QA->R: right rationales / questions. */
  qar: number;
  /** Q->AR: questions with both right / questions. */
  qToAr: number;
}

/** VCR accuracies; choices are indices (4-way in VCR). */
export function vcrAccuracy(predictions: readonly VcrPrediction[], labels: readonly VcrLabel[]): VcrAccuracy {
  const op = 'vcrAccuracy';
  requireArray(op, 'predictions', predictions);
  requireArray(op, 'labels', labels);
  if (predictions.length !== labels.length)
    throw argumentError(op, 'predictions', `${labels.length} entries (one per label)`, `${predictions.length} entries`);
  if (labels.length === 0) throw argumentError(op, 'labels', 'at least one question', 'none');
  let qa = 0;
  let qar = 0;
  let both = 0;
  predictions.forEach((p, n) => {
    const l = labels[n];
    for (const [name, v] of [
      [`predictions[${n}].answer`, p?.answer],
      [`predictions[${n}].rationale`, p?.rationale],
      [`labels[${n}].answer`, l?.answer],
      [`labels[${n}].rationale`, l?.rationale],
    ] as const) {
      if (!Number.isInteger(v) || (v as number) < 0) throw argumentError(op, name, 'a choice index (integer >= 0)', v);
    }
    const a = p.answer === l.answer;
    const r = p.rationale === l.rationale;
    qa += a ? 1 : 0;
    qar += r ? 1 : 0;
    both += a && r ? 1 : 0;
  });
  return { qa: qa / labels.length, qar: qar / labels.length, qToAr: both / labels.length };
}
