import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { Embedding, MLP, TransformerDecoderLayer, TransformerEncoderLayer, positionEmbeddingSine } from '../src/index';
import { fixture, stateTensors } from './helpers';

const fx = fixture('transformer.json');
const sine = fixture('sine.json');

for (const backend of TEST_BACKENDS) {
  describe(`transformer layers on ${backend}`, () => {
    it('encoder and decoder layers equal nn.TransformerEncoderLayer / DecoderLayer (post-norm, eval), and DETR-style with positions', async () => {
      await initBackend(backend);
      const enc = new TransformerEncoderLayer({ dModel: 16, nHead: 4, dimFeedforward: 32 }).eval();
      const dec = new TransformerDecoderLayer({ dModel: 16, nHead: 4, dimFeedforward: 32 }).eval();
      const encState = stateTensors(fx.encoder);
      const decState = stateTensors(fx.decoder);
      enc.loadStateDict(encState, { torchLayout: true });
      dec.loadStateDict(decState, { torchLayout: true });
      tf.dispose([...Object.values(encState), ...Object.values(decState)]);
      const src = tf.tensor(fx.src, [2, 5, 16]);
      const pos = tf.tensor(fx.pos, [2, 5, 16]);
      const tgt = tf.tensor(fx.tgt, [2, 3, 16]);
      const queryPos = tf.tensor(fx.queryPos, [2, 3, 16]);
      const mask = tf.tensor(fx.mask, [2, 5], 'bool');
      await assertNoTensorLeak(() => {
        const outs = [
          enc.forward(src, { keyPaddingMask: mask }),
          dec.forward(tgt, src, { memoryKeyPaddingMask: mask }),
          enc.forward(src, { pos, keyPaddingMask: mask }),
          dec.forward(tgt, src, { pos, queryPos, memoryKeyPaddingMask: mask }),
        ];
        assertAllClose(outs[0], fx.encoderOut, { atol: 2e-5, name: 'encoder' });
        assertAllClose(outs[1], fx.decoderOut, { atol: 2e-5, name: 'decoder' });
        assertAllClose(outs[2], fx.encoderDetr, { atol: 2e-5, name: 'encoder with pos' });
        assertAllClose(outs[3], fx.decoderDetr, { atol: 2e-5, name: 'decoder with pos' });
        tf.dispose(outs);
      });
      expect(enc.namedParameters().map(([n]) => n)).toEqual(Object.keys(fx.encoder));
      expect(
        dec
          .namedParameters()
          .map(([n]) => n)
          .sort(),
      ).toEqual(Object.keys(fx.decoder).sort());
      tf.dispose([src, pos, tgt, queryPos, mask]);
      enc.dispose();
      dec.dispose();
    });

    it("sine position embedding equals DETR's (and Deformable DETR's -0.5 offset)", async () => {
      await initBackend(backend);
      const mask = tf.tensor(sine.mask, [2, 5, 6], 'bool');
      await assertNoTensorLeak(() => {
        const detr = positionEmbeddingSine(mask, { numPosFeats: 8, normalize: true });
        expect(detr.shape).toEqual([2, 5, 6, 16]);
        assertAllClose(detr, sine.detr, { atol: 1e-5, name: 'detr' });
        const deformable = positionEmbeddingSine(mask, { numPosFeats: 8, normalize: true, offset: -0.5 });
        assertAllClose(deformable, sine.deformable, { atol: 1e-5, name: 'deformable' });
        const raw = positionEmbeddingSine(mask, { numPosFeats: 8 });
        assertAllClose(raw, sine.unnormalized, { atol: 1e-5, name: 'unnormalized' });
        tf.dispose([detr, deformable, raw]);
      });
      mask.dispose();
    });
  });
}

describe('training-mode layers', () => {
  it("Embedding holds nn.Embedding's weight [num, dim] and looks rows up by index", async () => {
    await initBackend('cpu');
    const table = new Embedding(new Rng(3), 4, 2);
    expect(table.namedParameters().map(([n, p]) => `${n}:${p.variable.shape.join('x')}`)).toEqual(['weight:4x2']);
    const rows = table.weight.arraySync() as number[][];
    const indices = tf.tensor1d([2, 0, 2], 'int32');
    const out = table.forward(indices);
    expect(out.arraySync()).toEqual([rows[2], rows[0], rows[2]]);
    tf.dispose([indices, out]);
    table.dispose();
  });

  it('dropout is seeded and active only in training; MLP has DETR names; gradients flow; no leaks', async () => {
    await initBackend('cpu');
    const enc = new TransformerEncoderLayer({ dModel: 8, nHead: 2, dimFeedforward: 16, dropout: 0.5, seed: 3 });
    const x = tf.randomNormal([1, 4, 8], 0, 1, 'float32', 1);
    const a = enc.forward(x);
    const b = enc.forward(x);
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(b.dataSync()));
    enc.eval();
    const c = enc.forward(x);
    const d = enc.forward(x);
    expect(Array.from(c.dataSync())).toEqual(Array.from(d.dataSync()));
    enc.train();
    const mlp = new MLP(new Rng(1), 8, 16, 4, 3);
    expect(mlp.namedParameters().map(([n]) => n)).toEqual([
      'layers.0.weight',
      'layers.0.bias',
      'layers.1.weight',
      'layers.1.bias',
      'layers.2.weight',
      'layers.2.bias',
    ]);
    const vars = [...enc.trainableVariables(), ...mlp.trainableVariables()];
    await assertNoTensorLeak(() => {
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(mlp.forward(enc.forward(x)))) as tf.Scalar,
        vars,
      );
      expect(Object.keys(grads)).toHaveLength(vars.length);
      for (const g of Object.values(grads))
        expect(Number.isFinite(tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]))).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([x, a, b, c, d]);
    enc.dispose();
    mlp.dispose();
  });
});
