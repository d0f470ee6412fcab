import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: in Node the two load as separate module copies, and the first one builds the engine.
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import { ModulatedDeformRoIPoolPack, deformRoIPool, type DeformRoIPoolOptions } from '../src/index';
import { loadFixture, toTensor, type Fixture } from './helpers';

const FIXTURES = ['mdpool_adaptive.json', 'mdpool_ratio2.json', 'mdpool_plain.json'];

function fixtureOptions(f: Fixture): DeformRoIPoolOptions {
  const o = f.options as { outputSize: [number, number]; spatialScale: number; samplingRatio: number; gamma: number };
  return { outputSize: o.outputSize, spatialScale: o.spatialScale, samplingRatio: o.samplingRatio, gamma: o.gamma };
}

describe.each(TEST_BACKENDS)('deformRoIPool on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it.each(FIXTURES)('matches the float64 mmcv port forward and gradients: %s', async (name) => {
    const f = loadFixture(name);
    const options = fixtureOptions(f);
    const input = toTensor(f.input);
    const rois = toTensor(f.rois);
    const offset = f.offset ? toTensor(f.offset) : null;
    const mask = f.mask ? toTensor(f.mask) : null;
    const gradOutput = toTensor(f.gradOutput);
    await assertNoTensorLeak(() => {
      const out = deformRoIPool(input, rois, { ...options, offset, mask });
      expect(out.shape).toEqual(f.output.shape);
      assertAllClose(out, f.output.data, { atol: 1e-5, rtol: 1e-4, name: `${name} output` });
      out.dispose();
      const args = [input, ...(offset ? [offset] : []), ...(mask ? [mask] : [])];
      const grads = tf.grads((...xs: tf.Tensor[]) => {
        const [x, ...rest] = xs;
        const o = offset ? rest.shift()! : null;
        const m = mask ? rest.shift()! : null;
        return tf.sum(tf.mul(deformRoIPool(x, rois, { ...options, offset: o, mask: m }), gradOutput));
      })(args);
      assertAllClose(grads[0], f.gradInput.data, { atol: 1e-5, rtol: 1e-4, name: `${name} dinput` });
      let i = 1;
      if (offset) assertAllClose(grads[i++], f.gradOffset.data, { atol: 1e-4, rtol: 1e-4, name: `${name} doffset` });
      if (mask) assertAllClose(grads[i], f.gradMask.data, { atol: 1e-5, rtol: 1e-4, name: `${name} dmask` });
      tf.dispose(grads);
    });
    tf.dispose([input, rois, gradOutput, ...(offset ? [offset] : []), ...(mask ? [mask] : [])]);
  });

  it('gives each RoI its own result whatever the order of the rows', () => {
    const f = loadFixture('mdpool_adaptive.json');
    const options = fixtureOptions(f);
    tf.tidy(() => {
      const input = toTensor(f.input);
      const rois = toTensor(f.rois);
      const offset = toTensor(f.offset);
      const mask = toTensor(f.mask);
      const perm = tf.tensor1d([3, 0, 5, 1, 4, 2], 'int32');
      const shuffled = deformRoIPool(input, tf.gather(rois, perm), {
        ...options,
        offset: tf.gather(offset, perm),
        mask: tf.gather(mask, perm),
      });
      assertAllClose(shuffled, tf.gather(toTensor(f.output), perm), { atol: 1e-5, rtol: 1e-4 });
    });
  });

  it('has an offset gradient that agrees with finite differences away from the clamped border', () => {
    const rng = new Rng(5);
    const [N, H, W, C] = [1, 6, 6, 2];
    const input = rng.uniformArray(N * H * W * C, -1, 1);
    const roisData = [0, 2.2, 2.6, 8.4, 9.0, 0, 1.1, 3.3, 5.7, 8.2];
    const offset = rng.uniformArray(2 * 2 * 2 * 2, -0.5, 0.5);
    const options = { outputSize: 2, spatialScale: 0.5, samplingRatio: 2, gamma: 0.1 };
    const loss = (off: ArrayLike<number>) =>
      tf.tidy(() =>
        tf.sum(
          tf.square(
            deformRoIPool(tf.tensor(input, [N, H, W, C]), tf.tensor(roisData, [2, 5]), {
              ...options,
              offset: tf.tensor(off as Float32Array, [2, 2, 2, 2]),
            }),
          ),
        ),
      );
    const analytic = tf.tidy(() =>
      tf
        .grad((off: tf.Tensor) =>
          tf.sum(
            tf.square(
              deformRoIPool(tf.tensor(input, [N, H, W, C]), tf.tensor(roisData, [2, 5]), { ...options, offset: off }),
            ),
          ),
        )(tf.tensor(offset, [2, 2, 2, 2]))
        .dataSync()
        .slice(),
    );
    const numeric = numericalGradient(
      (x) => {
        const l = loss(x);
        const v = l.dataSync()[0];
        l.dispose();
        return v;
      },
      offset,
      1e-3,
    );
    assertAllClose(analytic, numeric, { atol: 3e-3, rtol: 3e-3, name: 'doffset' });
  });

  it('handles no RoIs, with a zero input gradient', async () => {
    await assertNoTensorLeak(() => {
      const input = tf.ones([2, 4, 4, 3]);
      const rois = tf.zeros([0, 5]);
      const offset = tf.zeros([0, 2, 3, 2]);
      const out = deformRoIPool(input, rois, { outputSize: [2, 3], offset });
      expect(out.shape).toEqual([0, 2, 3, 3]);
      const g = tf.grad((x: tf.Tensor) => tf.sum(deformRoIPool(x, rois, { outputSize: [2, 3] })))(input);
      expect(Array.from(g.dataSync()).every((v) => v === 0)).toBe(true);
      tf.dispose([input, rois, offset, out, g]);
    });
  });
});

describe('deformRoIPool argument errors', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });
  const call =
    (rois: number[][], options: Partial<DeformRoIPoolOptions> = {}, inputShape = [2, 5, 5, 3]) =>
    () =>
      tf.tidy(() => {
        deformRoIPool(tf.zeros(inputShape), tf.tensor(rois.flat(), [rois.length, rois[0]?.length ?? 5]), {
          outputSize: 2,
          ...options,
        });
      });

  it('names bad rois, offsets, masks and options', () => {
    expect(call([[0, 0, 0, 4, 4]])).not.toThrow();
    expect(call([[2, 0, 0, 4, 4]])).toThrow(
      /deformRoIPool: argument 'rois' expected batch indices \(column 0\) that are integers in \[0, 1\], got "2 in row 0"/,
    );
    expect(call([[0.5, 0, 0, 4, 4]])).toThrow(/argument 'rois' expected batch indices/);
    expect(call([[0, 0, 0, 4]])).toThrow(
      /argument 'rois' expected shape \[R=1, 5\] \(dimension 1 = 5\), got "shape \[1, 4\]"/,
    );
    expect(call([[0, 0, 0, 4, 4]], {}, [5, 5, 3])).toThrow(/argument 'input' expected rank 4/);
    expect(call([[0, 0, 0, 4, 4]], { offset: tf.zeros([1, 2, 2, 3]) })).toThrow(
      /argument 'offset' expected shape \[R=1, 2, 2, 2\]/,
    );
    expect(call([[0, 0, 0, 4, 4]], { mask: tf.zeros([2, 2, 2, 1]) })).toThrow(
      /argument 'mask' expected shape \[R=1, 2, 2, 1\]/,
    );
    expect(call([[0, 0, 0, 4, 4]], { samplingRatio: -1 })).toThrow(
      /argument 'samplingRatio' expected an integer >= 0, got -1/,
    );
    expect(call([[0, 0, 0, 4, 4]], { spatialScale: 0 })).toThrow(
      /argument 'spatialScale' expected a finite number > 0, got 0/,
    );
    expect(call([[0, 0, 0, 4, 4]], { outputSize: 0 })).toThrow(/argument 'outputSize' expected an integer >= 1, got 0/);
  });
});

describe('ModulatedDeformRoIPoolPack', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it("has mmcv's state_dict keys and starts as half the plain pooling", () => {
    const pack = new ModulatedDeformRoIPoolPack(new Rng(1), {
      outputSize: 3,
      outputChannels: 4,
      spatialScale: 0.5,
      deformFcChannels: 16,
    });
    expect(pack.namedParameters().map(([n, p]) => `${n}:${p.variable.shape.join('x')}`)).toEqual([
      'offset_fc.0.weight:36x16',
      'offset_fc.0.bias:16',
      'offset_fc.2.weight:16x16',
      'offset_fc.2.bias:16',
      'offset_fc.4.weight:16x18',
      'offset_fc.4.bias:18',
      'mask_fc.0.weight:36x16',
      'mask_fc.0.bias:16',
      'mask_fc.2.weight:16x9',
      'mask_fc.2.bias:9',
    ]);
    tf.tidy(() => {
      const rng = new Rng(2);
      const input = rng.uniformTensor([2, 8, 8, 4]) as tf.Tensor4D;
      const rois = tf.tensor2d([
        [0, 1, 1, 12, 10],
        [1, 3, 0, 15, 15],
      ]);
      const plain = deformRoIPool(input, rois, { outputSize: 3, spatialScale: 0.5 });
      assertAllClose(pack.forward(input, rois), tf.mul(plain, 0.5), { atol: 1e-6 });
    });
    pack.dispose();
  });

  it('trains: the loss falls with a flat tensor count', async () => {
    const rng = new Rng(3);
    const pack = new ModulatedDeformRoIPoolPack(rng, {
      outputSize: 2,
      outputChannels: 3,
      spatialScale: 0.5,
      deformFcChannels: 8,
    });
    const input = rng.uniformTensor([1, 8, 8, 3]) as tf.Tensor4D;
    const rois = tf.tensor2d([
      [0, 2, 2, 12, 12],
      [0, 0, 4, 9, 15],
    ]);
    // Reachable: the plain pooling brightened, which the mask branch can learn.
    const target = tf.tidy(() => tf.mul(deformRoIPool(input, rois, { outputSize: 2, spatialScale: 0.5 }), 0.9));
    const optimizer = tf.train.adam(0.02);
    const losses: number[] = [];
    const step = () => {
      const loss = optimizer.minimize(
        () => tf.mean(tf.square(tf.sub(pack.forward(input, rois), target))) as tf.Scalar,
        true,
        pack.trainableVariables(),
      );
      losses.push(loss!.dataSync()[0]);
      loss!.dispose();
    };
    step();
    for (let i = 0; i < 3; i++) await assertNoTensorLeak(step);
    for (let i = 0; i < 30; i++) step();
    expect(losses[losses.length - 1]).toBeLessThan(0.1 * losses[0]);
    optimizer.dispose();
    tf.dispose([input, rois, target]);
    pack.dispose();
  });
});
