import { argumentError, assertInteger } from '@deformjs/core';
import { languageVocabulary } from '@deformjs/datasets';
import { Tokenizer } from '@huggingface/tokenizers';

/** BERT's special tokens plus VL-BERT's [IMG] (every RoI's token) and [END] (closes the visual part). */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '[IMG]', '[END]'] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

export interface EncodedText {
  /** [CLS] a [SEP] (b [SEP]) ids. */
  ids: number[];
  /** 0 for [CLS], a and its [SEP]; 1 for b and its [SEP] (segments A and B). */
  segmentIds: number[];
  /** Per token, the index of the word it belongs to (-1 for [CLS]/[SEP]): whole-word masking groups by it. */
  wordIds: number[];
  /** Word pieces dropped by truncation from a and from b. */
  truncated: [number, number];
}

type TokenizerJson = Record<string, unknown>;

/**
 * BERT's WordPiece tokenizer (lower-casing, accent stripping, CJK characters split, punctuation split,
 * greedy longest-match word pieces, [UNK] for words with no split or longer than 100 characters), run by
 * @huggingface/tokenizers from a standard `vocab.txt` or a Hugging Face `tokenizer.json`.
 *
 * Sequences are built here, not by the file's post-processor, because VL-BERT appends its visual part:
 * `[CLS] a [SEP] (b [SEP])`. Truncation rule (HF's `longest_first`): while too long, drop the last word
 * piece of the longer of a and b (a when equal), so the specials always survive.
 */
export class WordPieceTokenizer {
  readonly vocabSize: number;
  private readonly ids = new Map<string, number>();
  private readonly tokens: string[];
  private readonly tokenizer: Tokenizer;

  private constructor(json: TokenizerJson, vocab: Record<string, number>) {
    this.tokenizer = new Tokenizer(json, {});
    this.tokens = [];
    for (const [token, id] of Object.entries(vocab)) {
      this.ids.set(token, id);
      this.tokens[id] = token;
    }
    // Specials missing from a BERT vocabulary ([IMG] and [END] in bert-base-uncased) get ids after it.
    let next = this.tokens.length;
    for (const token of SPECIAL_TOKENS) {
      if (this.ids.has(token)) continue;
      this.ids.set(token, next);
      this.tokens[next++] = token;
    }
    this.vocabSize = this.tokens.length;
  }

  /** From a `vocab.txt`: one token per line, the line number is the id (BERT's format). */
  static fromVocab(vocabText: string, options: { lowercase?: boolean } = {}): WordPieceTokenizer {
    const { lowercase = true } = options;
    const lines = vocabText.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    if (lines[lines.length - 1] === '') lines.pop();
    const vocab: Record<string, number> = {};
    lines.forEach((token, id) => {
      if (token === '')
        throw argumentError(
          'WordPieceTokenizer.fromVocab',
          'vocabText',
          'a token on every line',
          `an empty line ${id + 1}`,
        );
      if (!(token in vocab)) vocab[token] = id;
    });
    for (const token of ['[UNK]', '[CLS]', '[SEP]', '[MASK]', '[PAD]'])
      if (!(token in vocab))
        throw argumentError(
          'WordPieceTokenizer.fromVocab',
          'vocabText',
          `a vocabulary holding ${token}`,
          `${lines.length} tokens without it`,
        );
    return new WordPieceTokenizer(bertTokenizerJson(vocab, lowercase), vocab);
  }

  /** From a Hugging Face `tokenizer.json` whose model is WordPiece (BERT's). */
  static fromTokenizerJson(json: unknown): WordPieceTokenizer {
    const op = 'WordPieceTokenizer.fromTokenizerJson';
    const model = (json as { model?: { type?: unknown; vocab?: unknown } } | null)?.model;
    if (!model || model.type !== 'WordPiece' || typeof model.vocab !== 'object' || model.vocab === null)
      throw argumentError(
        op,
        'json',
        'a tokenizer.json with a WordPiece model and its vocab',
        model?.type ?? typeof json,
      );
    return new WordPieceTokenizer(json as TokenizerJson, model.vocab as Record<string, number>);
  }

  /** A vocabulary of the given words (plus the specials and single characters a-z, 0-9 as fallbacks). */
  static fromWords(words: readonly string[]): WordPieceTokenizer {
    const characters = [...'abcdefghijklmnopqrstuvwxyz0123456789'];
    const pieces = [...characters, ...characters.map((c) => `##${c}`)];
    const punctuation = [...'.,?!\'"-:;()'];
    const all = [...new Set([...SPECIAL_TOKENS, ...words.map((w) => w.toLowerCase()), ...punctuation, ...pieces])];
    return WordPieceTokenizer.fromVocab(all.join('\n'));
  }

  id(token: SpecialToken | string): number {
    const id = this.ids.get(token);
    if (id === undefined) throw argumentError('WordPieceTokenizer.id', 'token', 'a token of the vocabulary', token);
    return id;
  }

  token(id: number): string {
    return this.tokens[id] ?? '[UNK]';
  }

  /** Word pieces of one text, with the word each belongs to. */
  tokenize(text: string): { ids: number[]; wordIds: number[] } {
    const { ids, tokens } = this.tokenizer.encode(text, { add_special_tokens: false });
    const wordIds: number[] = [];
    let word = -1;
    tokens.forEach((t) => wordIds.push(t.startsWith('##') && word >= 0 ? word : ++word));
    return { ids, wordIds };
  }

  /** `[CLS] a [SEP] (b [SEP])` within maxLength tokens, truncated by the longest-first rule. */
  encode(a: string, b: string | null, maxLength: number): EncodedText {
    const op = 'WordPieceTokenizer.encode';
    const specials = b === null ? 2 : 3;
    assertInteger(op, 'maxLength', maxLength, specials + 1);
    const first = this.tokenize(a);
    const second = b === null ? { ids: [], wordIds: [] } : this.tokenize(b);
    const lengths = [first.ids.length, second.ids.length];
    while (lengths[0] + lengths[1] + specials > maxLength) lengths[lengths[0] >= lengths[1] ? 0 : 1]--;
    const [cls, sep] = [this.id('[CLS]'), this.id('[SEP]')];
    const aIds = first.ids.slice(0, lengths[0]);
    const bIds = second.ids.slice(0, lengths[1]);
    const ids = [cls, ...aIds, sep, ...(b === null ? [] : [...bIds, sep])];
    const segmentIds = [0, ...aIds.map(() => 0), 0, ...(b === null ? [] : [...bIds.map(() => 1), 1])];
    const offset = (first.wordIds[lengths[0] - 1] ?? -1) + 1;
    const wordIds = [
      -1,
      ...first.wordIds.slice(0, lengths[0]),
      -1,
      ...(b === null ? [] : [...second.wordIds.slice(0, lengths[1]).map((w) => w + offset), -1]),
    ];
    return {
      ids,
      segmentIds,
      wordIds,
      truncated: [first.ids.length - lengths[0], second.ids.length - lengths[1]],
    };
  }

  decode(ids: readonly number[]): string {
    return ids
      .map((id) => this.token(id))
      .join(' ')
      .replace(/ ##/g, '');
  }
}

/** The tokenizer.json Hugging Face writes for a BERT vocabulary (bert-base-uncased's normalizer and model). */
function bertTokenizerJson(vocab: Record<string, number>, lowercase: boolean): TokenizerJson {
  const special = SPECIAL_TOKENS.filter((t) => t in vocab).map((content) => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase,
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
}

/** The default tokenizer: every word of the synthetic shapes world, whole, plus the specials and fallbacks. */
export function syntheticWorldTokenizer(): WordPieceTokenizer {
  return WordPieceTokenizer.fromWords(languageVocabulary());
}
