import { describe, expect, it } from 'vitest';
import { Rng } from '@deformjs/core';
import { IGNORE, SPECIAL_TOKENS, WordPieceTokenizer, maskWords, syntheticWorldTokenizer } from '../src/index';

// A bert-base-uncased style vocab.txt: specials, whole words, word pieces, CJK characters.
const VOCAB = [
  '[PAD]',
  '[unused0]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'the',
  'red',
  'circle',
  'cafe',
  'naive',
  'un',
  '##aff',
  '##able',
  'play',
  '##ing',
  '.',
  ',',
  '!',
  '?',
  "'",
  's',
  '日',
  '本',
  'e',
  '##e',
  'x',
  '##x',
].join('\n');

const tokens = (t: WordPieceTokenizer, ids: number[]) => ids.map((id) => t.token(id));

describe('WordPieceTokenizer', () => {
  const t = WordPieceTokenizer.fromVocab(VOCAB);

  it('lower-cases, strips accents, splits punctuation and CJK characters, greedy longest-match pieces', () => {
    const { ids, wordIds } = t.tokenize('The RED Circle, unaffable PLAYING! Café naïve 日本');
    expect(tokens(t, ids)).toEqual([
      'the',
      'red',
      'circle',
      ',',
      'un',
      '##aff',
      '##able',
      'play',
      '##ing',
      '!',
      'cafe',
      'naive',
      '日',
      '本',
    ]);
    // Whole-word masking groups pieces by word: un ##aff ##able is one word.
    expect(wordIds).toEqual([0, 1, 2, 3, 4, 4, 4, 5, 5, 6, 7, 8, 9, 10]);
  });

  it('unknown words and words over 100 characters become one [UNK]; control characters vanish', () => {
    const { ids } = t.tokenize(`zebra\u0007 ${'x'.repeat(101)} ${'x'.repeat(100)}`);
    expect(tokens(t, ids)).toEqual(['[UNK]', '[UNK]', 'x', ...Array(99).fill('##x')]);
  });

  it('keeps vocab ids (line numbers) and appends [IMG] and [END] when the vocabulary lacks them', () => {
    expect(t.id('[CLS]')).toBe(3);
    expect(t.id('[MASK]')).toBe(5);
    expect(t.id('[IMG]')).toBe(28);
    expect(t.id('[END]')).toBe(29);
    expect(t.vocabSize).toBe(30);
    expect(tokens(t, t.tokenize('the [MASK] circle').ids)).toEqual(['the', '[MASK]', 'circle']);
  });

  it('builds [CLS] a [SEP] b [SEP] with segments A/B and truncates longest-first', () => {
    const e = t.encode('the red circle', 'red circle!', 32);
    expect(tokens(t, e.ids)).toEqual(['[CLS]', 'the', 'red', 'circle', '[SEP]', 'red', 'circle', '!', '[SEP]']);
    expect(e.segmentIds).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(e.wordIds).toEqual([-1, 0, 1, 2, -1, 3, 4, 5, -1]);
    expect(e.truncated).toEqual([0, 0]);
    // 6 pieces + 2 pieces + 3 specials into 8: drop from the longer (a) until it fits: a keeps 3.
    const long = t.encode('the red circle the red circle', 'red red', 8);
    expect(tokens(t, long.ids)).toEqual(['[CLS]', 'the', 'red', 'circle', '[SEP]', 'red', 'red', '[SEP]']);
    expect(long.truncated).toEqual([3, 0]);
    // Equal lengths: a loses first, then b, alternately.
    expect(tokens(t, t.encode('the red circle', 'the red circle', 7).ids)).toEqual([
      '[CLS]',
      'the',
      'red',
      '[SEP]',
      'the',
      'red',
      '[SEP]',
    ]);
    const single = t.encode('the red circle red', null, 4);
    expect(tokens(t, single.ids)).toEqual(['[CLS]', 'the', 'red', '[SEP]']);
    expect(single.truncated).toEqual([2, 0]);
  });

  it('loads a Hugging Face tokenizer.json (WordPiece model) to the same ids', () => {
    const vocab = Object.fromEntries(VOCAB.split('\n').map((token, id) => [token, id]));
    const json = {
      version: '1.0',
      added_tokens: [],
      normalizer: {
        type: 'BertNormalizer',
        clean_text: true,
        handle_chinese_chars: true,
        strip_accents: null,
        lowercase: true,
      },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: null,
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: {
        type: 'WordPiece',
        unk_token: '[UNK]',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 100,
        vocab,
      },
    };
    const fromJson = WordPieceTokenizer.fromTokenizerJson(json);
    const text = 'Unaffable café, the red circle!';
    expect(fromJson.tokenize(text)).toEqual(t.tokenize(text));
  });

  it('errors name the argument', () => {
    expect(() => WordPieceTokenizer.fromVocab('[PAD]\n[CLS]\n[SEP]\n[MASK]\nthe')).toThrow(/vocabText.*\[UNK\]/);
    expect(() => WordPieceTokenizer.fromVocab('[PAD]\n\n[UNK]')).toThrow(/vocabText.*empty line 2/);
    expect(() => WordPieceTokenizer.fromTokenizerJson({ model: { type: 'BPE', vocab: {} } })).toThrow(
      /json.*WordPiece.*BPE/,
    );
    expect(() => t.encode('the', 'red', 3)).toThrow(/maxLength.*3/);
    expect(() => t.id('zebra')).toThrow(/token.*zebra/);
  });

  it('the synthetic-world tokenizer keeps every generator word whole', () => {
    const world = syntheticWorldTokenizer();
    for (const s of SPECIAL_TOKENS) expect(world.id(s)).toBeLessThan(SPECIAL_TOKENS.length);
    const e = world.tokenize('How many triangles are there? two orange crosses on a slate background');
    expect(tokens(world, e.ids)).toEqual([
      'how',
      'many',
      'triangles',
      'are',
      'there',
      '?',
      'two',
      'orange',
      'crosses',
      'on',
      'a',
      'slate',
      'background',
    ]);
    // Out-of-world words fall back to characters, not [UNK].
    expect(tokens(world, world.tokenize('zebra').ids)).toEqual(['z', '##e', '##b', '##r', '##a']);
  });
});

describe('whole-word masking', () => {
  it('masks whole words at the given rate, 80% [MASK] / 10% random / 10% kept, labels only there', () => {
    const t = WordPieceTokenizer.fromVocab(VOCAB);
    const text = t.encode('unaffable playing the red circle cafe naive unaffable', null, 32);
    const rng = new Rng(1);
    const counts = { words: 0, masked: 0, mask: 0, kept: 0, random: 0 };
    const specials = new Set(SPECIAL_TOKENS.map((s) => t.id(s)));
    for (let trial = 0; trial < 2000; trial++) {
      const { ids, labels } = maskWords(rng, text, t, 0.15);
      const byWord = new Map<number, boolean[]>();
      text.wordIds.forEach((w, i) => {
        if (w < 0) return expect(labels[i]).toBe(IGNORE);
        byWord.set(w, [...(byWord.get(w) ?? []), labels[i] !== IGNORE]);
        if (labels[i] === IGNORE) return expect(ids[i]).toBe(text.ids[i]);
        expect(labels[i]).toBe(text.ids[i]);
        if (ids[i] === t.id('[MASK]')) counts.mask++;
        else if (ids[i] === text.ids[i]) counts.kept++;
        else {
          expect(specials.has(ids[i])).toBe(false);
          counts.random++;
        }
      });
      for (const flags of byWord.values()) {
        expect(new Set(flags).size).toBe(1); // every piece of a word or none
        counts.words++;
        if (flags[0]) counts.masked++;
      }
    }
    const pieces = counts.mask + counts.kept + counts.random;
    expect(counts.masked / counts.words).toBeGreaterThan(0.13);
    expect(counts.masked / counts.words).toBeLessThan(0.17);
    expect(counts.mask / pieces).toBeGreaterThan(0.76);
    expect(counts.mask / pieces).toBeLessThan(0.84);
    expect(counts.random / pieces).toBeGreaterThan(0.07);
    expect(counts.random / pieces).toBeLessThan(0.13);
  });

  it('takes a per-word probability: the chosen words always, the others never', () => {
    const t = syntheticWorldTokenizer();
    const text = t.encode('a red circle and two red squares on a grey background', null, 32);
    const rng = new Rng(2);
    for (let trial = 0; trial < 50; trial++) {
      const { labels } = maskWords(rng, text, t, (word) => (word === 'red' ? 1 : 0));
      const labelled = text.ids.filter((_, i) => labels[i] !== IGNORE).map((id) => t.token(id));
      expect(labelled).toEqual(['red', 'red']);
    }
  });
});
