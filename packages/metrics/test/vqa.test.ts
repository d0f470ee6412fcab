import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluateVqa, normalizeVqaAnswer, processPunctuation, vcrAccuracy, vqaAccuracy } from '../src';

describe('VQA answer normalisation (official processPunctuation / processDigitArticle)', () => {
  const cases: [string, string][] = [
    ['Two dogs.', '2 dogs'],
    ['The cat', 'cat'],
    ['a', ''],
    ['none', '0'],
    ['dont', "don't"],
    // Lower-cased before the lookup, so the table's capitalised keys ("Im") never match.
    ['Im here', 'im here'],
    ['yes!', 'yes'],
    ['1,000', '1000'],
    ['red, white', 'red white'],
    ['red,white', 'red white'],
    ['3.5', '3.5'],
    ['no.', 'no'],
    ['  left\tside\n', 'left side'],
    ['black-and-white', 'black and white'],
    ['t-shirt - red', 'tshirt red'],
    ["what's", "what's"],
    ['whats', "what's"],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => {
      expect(normalizeVqaAnswer(input)).toBe(expected);
    });
  }

  it('removes at most 32 periods (re.UNICODE passed as re.sub count)', () => {
    expect(processPunctuation('.'.repeat(40))).toBe('.'.repeat(8));
  });
});

describe('VQA accuracy: mean over the 10 leave-one-out subsets of min(matches / 3, 1)', () => {
  const answers = (matching: number, answer = '2') => [
    ...Array(matching).fill(answer),
    ...Array(10 - matching).fill('other'),
  ];
  it('hand-computed for 0..4 matching humans', () => {
    expect(vqaAccuracy('two', answers(0))).toBe(0);
    // one match: the 9 subsets keeping it give 1/3 each
    expect(vqaAccuracy('two', answers(1))).toBeCloseTo((9 * (1 / 3)) / 10, 15);
    expect(vqaAccuracy('two', answers(2))).toBeCloseTo((2 * (1 / 3) + 8 * (2 / 3)) / 10, 15);
    expect(vqaAccuracy('two', answers(3))).toBeCloseTo((3 * (2 / 3) + 7) / 10, 15);
    expect(vqaAccuracy('Two', answers(4))).toBe(1);
  });

  it('human answers are punctuation-processed only when they disagree, as the official script', () => {
    // All ten say "yes!": left untouched, so the normalised prediction "yes" matches none.
    expect(vqaAccuracy('yes!', Array(10).fill('yes!'))).toBe(0);
    // Once they disagree, "yes!" becomes "yes ", which still differs from "yes" (no strip): the official quirk.
    expect(vqaAccuracy('yes', [...Array(9).fill('yes!'), 'no'])).toBe(0);
    expect(vqaAccuracy('yes', [...Array(9).fill('yes.'), 'no'])).toBe(1);
  });

  it('evaluateVqa averages per question, answer type and question type', () => {
    const annotations = [
      {
        question_id: 1,
        answer_type: 'number',
        question_type: 'how many',
        answers: answers(3).map((answer) => ({ answer })),
      },
      { question_id: 2, answer_type: 'yes/no', question_type: 'is the', answers: Array(10).fill('yes') },
      { question_id: 3, answer_type: 'yes/no', question_type: 'is the', answers: Array(10).fill('no') },
    ];
    const r = evaluateVqa(annotations, [
      { question_id: 3, answer: 'yes' },
      { question_id: 1, answer: '2' },
      { question_id: 2, answer: 'Yes' },
    ]);
    expect(r.perQuestion.get(1)).toBeCloseTo(0.9, 15);
    expect(r.perAnswerType['yes/no']).toBe(0.5);
    expect(r.perQuestionType['how many']).toBeCloseTo(0.9, 15);
    expect(r.overall).toBeCloseTo(1.9 / 3, 15);
  });

  it('malformed input names the question', () => {
    const annotations = [{ question_id: 7, answers: ['a'] }];
    expect(() => evaluateVqa(annotations, [])).toThrow(
      /annotations\[0\] \(question_id 7\)' expected a prediction with this question_id/,
    );
    expect(() =>
      evaluateVqa(annotations, [
        { question_id: 7, answer: 'x' },
        { question_id: 8, answer: 'y' },
      ]),
    ).toThrow(/question_id 8\)' expected a question_id present in annotations/);
    expect(() =>
      evaluateVqa(annotations, [
        { question_id: 7, answer: 'x' },
        { question_id: 7, answer: 'y' },
      ]),
    ).toThrow(/predictions\[1\] \(question_id 7\)\.question_id' expected one prediction per question/);
    expect(() =>
      evaluateVqa([{ question_id: 7, answers: [3 as unknown as string] }], [{ question_id: 7, answer: 'x' }]),
    ).toThrow(/annotations\[0\] \(question_id 7\)\.answers\[0\]'/);
    expect(() => vqaAccuracy('x', [])).toThrow(/humanAnswers' expected a non-empty array of strings/);
  });
});

describe('VCR', () => {
  it('Q->A, QA->R and Q->AR', () => {
    const r = vcrAccuracy(
      [
        { answer: 0, rationale: 1 },
        { answer: 2, rationale: 2 },
        { answer: 1, rationale: 3 },
      ],
      [
        { answer: 0, rationale: 1 },
        { answer: 2, rationale: 0 },
        { answer: 3, rationale: 3 },
      ],
    );
    expect(r.qa).toBeCloseTo(2 / 3, 15);
    expect(r.qar).toBeCloseTo(2 / 3, 15);
    expect(r.qToAr).toBeCloseTo(1 / 3, 15);
  });

  it('rejects mismatched lengths and bad indices', () => {
    expect(() => vcrAccuracy([{ answer: 0, rationale: 0 }], [])).toThrow(/predictions' expected 0 entries/);
    expect(() => vcrAccuracy([{ answer: -1, rationale: 0 }], [{ answer: 0, rationale: 0 }])).toThrow(
      /predictions\[0\]\.answer' expected a choice index/,
    );
  });
});

describe('agreement with the official vqaEval (fixture from scripts/make_vqa_fixtures.py)', () => {
  const { cases } = JSON.parse(readFileSync(new URL('./fixtures/vqa_official.json', import.meta.url), 'utf8')) as {
    cases: { prediction: string; answers: string[]; normalised: string; accuracy: number }[];
  };
  it(`normalised answers and accuracies of ${cases.length} cases`, () => {
    for (const c of cases) {
      expect(normalizeVqaAnswer(c.prediction), JSON.stringify(c.prediction)).toBe(c.normalised);
      expect(vqaAccuracy(c.prediction, c.answers), JSON.stringify(c)).toBeCloseTo(c.accuracy, 15);
    }
  });
});
