import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { loadWeights, readPth, stateDictOf, toTensor } from '@deformjs/weights';
import { BERT_TIED_KEYS, BertForMaskedLM, BertModel, gelu } from '../src/index';

interface BertFixture {
  config: Record<string, number>;
  input_ids: number[][];
  token_type_ids: number[][];
  attention_mask: number[][];
  hidden_states: number[][][][];
  pooled: number[][];
  mlm_logits: number[][][];
  keys: string[];
}

const fixturesDir = new URL('./fixtures/', import.meta.url).pathname;
const fixture = JSON.parse(readFileSync(`${fixturesDir}bert-tiny.json`, 'utf8')) as BertFixture;
const weights = stateDictOf(readPth(new Uint8Array(readFileSync(`${fixturesDir}bert-tiny.pth`)), 'bert-tiny.pth'));

function tinyConfig() {
  const c = fixture.config;
  return {
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    numHiddenLayers: c.num_hidden_layers,
    numAttentionHeads: c.num_attention_heads,
    intermediateSize: c.intermediate_size,
    maxPositionEmbeddings: c.max_position_embeddings,
    typeVocabSize: c.type_vocab_size,
    layerNormEps: c.layer_norm_eps,
  };
}

for (const backend of TEST_BACKENDS) {
  describe(`BERT with bert-base-uncased key names on ${backend}`, () => {
    it('loads the PyTorch state_dict strictly and matches every hidden state, the pooler and MLM logits to 1e-4', async () => {
      await initBackend(backend);
      const model = new BertForMaskedLM(tinyConfig());
      const report = loadWeights(model, weights, { strict: true, ignore: BERT_TIED_KEYS });
      expect(report.missing).toEqual([]);
      expect(report.ignored.sort()).toEqual([
        'cls.predictions.decoder.weight',
        'cls.seq_relationship.bias',
        'cls.seq_relationship.weight',
      ]);
      expect(report.loaded.length + report.ignored.length).toBe(fixture.keys.length);
      model.eval();
      const ids = tf.tensor2d(fixture.input_ids, undefined, 'int32');
      const types = tf.tensor2d(fixture.token_type_ids, undefined, 'int32');
      const mask = tf.tensor2d(fixture.attention_mask);
      const tol = { atol: 1e-4, rtol: 1e-4 };
      await assertNoTensorLeak(() => {
        const out = model.bert.forward(ids, types, mask);
        expect(out.hiddenStates).toHaveLength(fixture.hidden_states.length);
        out.hiddenStates.forEach((h, i) =>
          assertAllClose(h, fixture.hidden_states[i].flat(2), { ...tol, name: `hidden_states[${i}]` }),
        );
        assertAllClose(out.pooled, fixture.pooled.flat(), { ...tol, name: 'pooled' });
        const logits = model.cls.predictions.forward(out.lastHiddenState);
        assertAllClose(logits, fixture.mlm_logits.flat(2), { ...tol, name: 'mlm_logits' });
        tf.dispose([...out.hiddenStates, out.pooled, logits]);
      });
      // The ignored decoder weight really is the word embedding matrix (tied), so ignoring it loses nothing.
      const decoder = toTensor(weights['cls.predictions.decoder.weight']);
      assertAllClose(model.bert.embeddings.word_embeddings.weight, decoder.dataSync(), {
        atol: 1e-7,
        name: 'tied decoder',
      });
      decoder.dispose();
      tf.dispose([ids, types, mask]);
      model.dispose();
    });
  });
}

describe('BERT layers', () => {
  it('gelu is the erf form, not the tanh approximation', async () => {
    await initBackend('cpu');
    const x = [-3, -1, -0.5, 0, 0.5, 1, 3];
    // 0.5 x (1 + erf(x / sqrt 2)) in float64 (Python: torch.nn.functional.gelu on float64).
    const expected = [-0.0040496, -0.15865525, -0.15426877, 0, 0.34573123, 0.84134475, 2.9959504];
    const y = gelu(tf.tensor1d(x));
    assertAllClose(y, expected, { atol: 1e-6, name: 'gelu' });
    y.dispose();
  });

  it('a strict load names missing and unexpected keys', async () => {
    await initBackend('cpu');
    const model = new BertForMaskedLM(tinyConfig());
    expect(() => loadWeights(model, weights, { strict: true })).toThrow(
      /unexpected keys \[.*cls\.seq_relationship\.weight/,
    );
    model.dispose();
  });

  it('errors name the argument', async () => {
    await initBackend('cpu');
    expect(() => new BertModel({ ...tinyConfig(), numAttentionHeads: 5 })).toThrow(/numAttentionHeads/);
    const model = new BertModel(tinyConfig());
    const ids = tf.zeros([1, 30], 'int32');
    expect(() => model.forward(ids, ids, tf.ones([1, 30]))).toThrow(/inputIds.*maxPositionEmbeddings = 24/);
    expect(() => model.forward(ids, tf.zeros([1, 29], 'int32'), tf.ones([1, 30]))).toThrow(/tokenTypeIds/);
    ids.dispose();
    model.dispose();
  });
});
