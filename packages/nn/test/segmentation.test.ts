import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { decodeCheckpoint, encodeCheckpoint } from '@deformjs/weights';
import { AdamW, ASPP, Conv2d, clipGradNorm, createSegmenter, type Segmenter } from '../src/index';
import { fixture } from './helpers';

const dil = fixture('dilated_conv.json');

/** Images with one bright square (class 1) and one dark square (class 2) on noise; labels per pixel. */
function batch(rng: Rng, n: number, size: number): { images: tf.Tensor; labels: tf.Tensor } {
  const images = new Float32Array(n * size * size * 3);
  const labels = new Int32Array(n * size * size);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < size * size * 3; i++) images[b * size * size * 3 + i] = rng.normal(0, 0.3);
    for (const cls of [1, 2]) {
      const s = 12 + rng.int(size / 3);
      const y0 = rng.int(size - s);
      const x0 = rng.int(size - s);
      for (let y = y0; y < y0 + s; y++) {
        for (let x = x0; x < x0 + s; x++) {
          const p = (b * size + y) * size + x;
          labels[p] = cls;
          images[p * 3] += cls === 1 ? 1.5 : -1.5;
        }
      }
    }
  }
  return { images: tf.tensor(images, [n, size, size, 3]), labels: tf.tensor(labels, [n, size, size], 'int32') };
}

function loss(model: Segmenter, images: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const logits = model.forward(images);
  const onehot = tf.oneHot(tf.reshape(labels, [-1]), 3);
  return tf.losses.softmaxCrossEntropy(onehot, tf.reshape(logits, [-1, 3])) as tf.Scalar;
}

function trainStep(model: Segmenter, optimizer: AdamW, images: tf.Tensor, labels: tf.Tensor): number {
  const { value, grads } = tf.variableGrads(() => loss(model, images, labels), model.trainableVariables());
  const clipped = clipGradNorm(grads, 5);
  optimizer.step(clipped.grads);
  const out = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads), ...Object.values(clipped.grads)]);
  return out;
}

for (const backend of TEST_BACKENDS) {
  describe(`segmentation on ${backend}`, () => {
    it("a dilated conv (ASPP's atrous conv) equals PyTorch's, with its gradients", async () => {
      await initBackend(backend);
      const conv = new Conv2d(new Rng(0), 3, 4, 3, { padding: 2, dilation: 2 });
      const w = tf.tensor(dil.w, [4, 3, 3, 3]);
      const b = tf.tensor(dil.b, [4]);
      conv.loadStateDict({ weight: w, bias: b }, { torchLayout: true });
      const x = tf.tensor(dil.x, [1, 9, 10, 3]);
      const g = tf.tensor(dil.g, [1, 9, 10, 4]);
      await assertNoTensorLeak(() => {
        const y = conv.forward(x);
        assertAllClose(y, dil.y, { atol: 1e-4, name: 'y' });
        const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(conv.forward(input), g)))(x);
        assertAllClose(dx, dil.dx, { atol: 1e-4, name: 'dx' });
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(conv.forward(x), g)) as tf.Scalar,
          [conv.weight, conv.bias!],
        );
        const dw = tf.transpose(grads[conv.weight.name], [3, 2, 0, 1]);
        assertAllClose(dw, dil.dw, { atol: 1e-3, name: 'dw' });
        assertAllClose(grads[conv.bias!.name], dil.db, { atol: 1e-3, name: 'db' });
        tf.dispose([y, dx, dw, value, ...Object.values(grads)]);
      });
      tf.dispose([w, b, x, g]);
      conv.dispose();
    });
  });
}

describe('segmenter structure, training and resuming', () => {
  it('the small segmenter learns a synthetic task on wasm (the default backend) with a flat tensor count per step', async () => {
    await initBackend('wasm');
    const model = createSegmenter({ numClasses: 3, width: 8, seed: 1 });
    const optimizer = new AdamW(model.trainableVariables(), { lr: 3e-3, weightDecay: 1e-4 });
    const rng = new Rng(5);
    const eval0 = batch(new Rng(99), 4, 64);
    const evalLoss = () =>
      tf.tidy(() => {
        model.eval();
        const l = loss(model, eval0.images, eval0.labels).dataSync()[0];
        model.train();
        return l;
      });
    const before = evalLoss();
    for (let step = 0; step < 30; step++) {
      const { images, labels } = batch(rng, 4, 64);
      if (step >= 2) await assertNoTensorLeak(() => trainStep(model, optimizer, images, labels));
      else trainStep(model, optimizer, images, labels);
      tf.dispose([images, labels]);
    }
    const after = evalLoss();
    expect(after).toBeLessThan(0.6 * before);
    tf.dispose([eval0.images, eval0.labels]);
    optimizer.dispose();
    model.dispose();
    // 30 training steps took 66 s in a fresh-clone CI run (turbo runs other suites beside it) and 117 s alone at a
    // load average of 15: the shared 120 s limit is too close.
  }, 300_000);
  it('has torchvision ASPP names and logits at the input size', async () => {
    await initBackend('cpu');
    const aspp = new ASPP(new Rng(0), 8, [1, 2], 4);
    expect(
      aspp
        .namedParameters()
        .map(([n]) => n)
        .filter((n) => n.endsWith('weight')),
    ).toEqual([
      'convs.0.0.weight',
      'convs.0.1.weight',
      'convs.1.0.weight',
      'convs.1.1.weight',
      'convs.2.0.weight',
      'convs.2.1.weight',
      'convs.3.1.weight',
      'convs.3.2.weight',
      'project.0.weight',
      'project.1.weight',
    ]);
    const model = createSegmenter({ numClasses: 5, width: 4 });
    const out = model.forward(tf.zeros([1, 72, 56, 3]));
    expect(out.shape).toEqual([1, 72, 56, 5]);
    tf.dispose(out);
    model.dispose();
    aspp.dispose();
  });

  it('continues identically from a checkpoint (model, AdamW, data and dropout generators)', async () => {
    await initBackend('wasm');
    const make = () => {
      const model = createSegmenter({ numClasses: 3, width: 4, seed: 3 });
      return { model, optimizer: new AdamW(model.trainableVariables(), { lr: 1e-3 }) };
    };
    const a = make();
    const data = new Rng(8);
    const run = (m: ReturnType<typeof make>, rng: Rng, steps: number) => {
      for (let s = 0; s < steps; s++) {
        const { images, labels } = batch(rng, 2, 64);
        trainStep(m.model, m.optimizer, images, labels);
        tf.dispose([images, labels]);
      }
    };
    run(a, data, 2);
    const bytes = encodeCheckpoint({
      model: a.model,
      optimizer: a.optimizer,
      step: 2,
      epoch: 0,
      rngs: { data, dropout: a.model.noise.rng },
    });
    run(a, data, 2);

    const b = make();
    const restored = decodeCheckpoint(bytes, b);
    b.model.noise.restore(restored.rngStates.dropout);
    run(b, new Rng(restored.rngStates.data), 2);
    const sa = a.model.stateDict();
    const sb = b.model.stateDict();
    for (const k of Object.keys(sa)) expect(Array.from(sb[k].dataSync()), k).toEqual(Array.from(sa[k].dataSync()));
    tf.dispose([...Object.values(sa), ...Object.values(sb)]);
    for (const m of [a, b]) {
      m.optimizer.dispose();
      m.model.dispose();
    }
  });
});
