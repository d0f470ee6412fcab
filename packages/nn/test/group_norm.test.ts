import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { GroupNorm } from '../src/index';

/** torch.nn.functional.group_norm written out in float64 over an NHWC array. */
function groupNormLoops(
  x: Float32Array,
  [n, h, w, c]: number[],
  groups: number,
  weight: number[],
  bias: number[],
  eps: number,
): Float64Array {
  const out = new Float64Array(x.length);
  const cg = c / groups;
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < h * w; p++) for (let k = 0; k < cg; k++) idx.push((b * h * w + p) * c + g * cg + k);
      const mean = idx.reduce((s, i) => s + x[i], 0) / idx.length;
      const variance = idx.reduce((s, i) => s + (x[i] - mean) ** 2, 0) / idx.length;
      for (const i of idx) out[i] = ((x[i] - mean) / Math.sqrt(variance + eps)) * weight[i % c] + bias[i % c];
    }
  }
  return out;
}

for (const backend of TEST_BACKENDS) {
  describe(`GroupNorm on ${backend}`, () => {
    it('matches group_norm written out, per-channel affine, and has gradients without leaks', async () => {
      await initBackend(backend);
      const rng = new Rng(3);
      const shape = [2, 3, 4, 6];
      const gn = new GroupNorm(3, 6);
      const weight = [0.5, 1, -1, 2, 0.3, 1.5];
      const bias = [0.1, 0, -0.2, 0.3, 1, -1];
      gn.weight.assign(tf.tensor(weight));
      gn.bias.assign(tf.tensor(bias));
      const x = tf.add(rng.normalTensor(shape, 0, 3), 2);
      const y = gn.forward(x);
      assertAllClose(y, groupNormLoops(x.dataSync() as Float32Array, shape, 3, weight, bias, 1e-5), {
        atol: 1e-5,
        name: 'y',
      });
      await assertNoTensorLeak(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.square(gn.forward(x))) as tf.Scalar,
          [gn.weight, gn.bias],
        );
        expect(Math.abs(grads[gn.bias.name].dataSync()[1])).toBeGreaterThan(0);
        tf.dispose([value, ...Object.values(grads)]);
      });
      tf.dispose([x, y]);
      gn.dispose();
    });

    it('rejects channels not divisible by groups and inputs of the wrong width', async () => {
      await initBackend(backend);
      expect(() => new GroupNorm(32, 48)).toThrow(/GroupNorm.*numGroups/);
      const gn = new GroupNorm(2, 4);
      expect(() => gn.forward(tf.zeros([1, 2, 2, 3]))).toThrow(/GroupNorm.*\[N, H, W, 4\]/);
      gn.dispose();
    });
  });
}
