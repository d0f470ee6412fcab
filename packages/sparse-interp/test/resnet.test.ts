import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertNoTensorLeak } from '@deformjs/core/testing';
import { SparseResNet } from '../src/index';

const torchvisionKeys = (
  JSON.parse(readFileSync(new URL('./fixtures/interpolation.json', import.meta.url), 'utf8')) as {
    resnet50Keys: string[];
  }
).resnet50Keys;
const SPARSE_KEY = /\.(conv[12]_mask\.(weight|bias)|conv[12]_gumbel\.cur_T|conv[12]_sigma)$/;

for (const backend of TEST_BACKENDS) {
  describe(`SparseResNet on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend(backend);
    });
    afterAll(() => tf.disposeVariables());

    it("has torchvision resnet50's state_dict keys plus 8 sparse keys per block", () => {
      const net = new SparseResNet({ depth: 50, width: 2 });
      const names = net.namedParameters().map(([n]) => n);
      expect(names.filter((n) => !SPARSE_KEY.test(n)).sort()).toEqual([...torchvisionKeys].sort());
      expect(names.filter((n) => SPARSE_KEY.test(n)).length).toBe(16 * 8);
      expect(net.numBlocks).toBe(16);
      net.dispose();
    });

    it('trains (finite loss, gradients reach the mask convs) and evaluates sparsely with a flat tensor count', async () => {
      const net = new SparseResNet({ depth: 50, width: 2, sparseLossWeight: 0.1 });
      const images = tf.randomNormal([1, 48, 48, 3]);
      const maskBias = net.namedParameters().find(([n]) => n === 'layer3.2.conv2_mask.bias')![1].variable;
      const { value, grads } = tf.variableGrads(() => {
        const { features, loss } = net.forwardWithLoss(images);
        return tf.add(tf.mean(features.C5), loss) as tf.Scalar;
      }, net.trainableVariables());
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      expect(Math.abs(grads[maskBias.name].dataSync()[0])).toBeGreaterThan(0);
      tf.dispose([value, ...Object.values(grads)]);
      net.eval();
      const { features, loss } = await assertNoTensorLeak(() => net.forwardWithLoss(images));
      expect(features.C2.shape).toEqual([1, 12, 12, 8]);
      expect(features.C5.shape).toEqual([1, 2, 2, 64]);
      // Initial p = sigmoid(3) in every block: the loss is 0.1 / 16 * 16 * sigmoid(3).
      expect(loss.dataSync()[0]).toBeCloseTo(0.1 / (1 + Math.exp(-3)), 5);
      tf.dispose([...Object.values(features), loss, images]);
      net.dispose();
    });
  });
}
