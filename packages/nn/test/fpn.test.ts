import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { FPN } from '../src/index';
import { fixture, stateTensors } from './helpers';

const fx = fixture('fpn.json');

for (const backend of TEST_BACKENDS) {
  describe(`FPN on ${backend}`, () => {
    it("equals torchvision's FeaturePyramidNetwork with LastLevelMaxPool", async () => {
      await initBackend(backend);
      const fpn = new FPN([8, 16, 32], 8);
      expect(fpn.namedParameters().map(([n]) => n)).toEqual(Object.keys(fx.state));
      const state = stateTensors(fx.state);
      fpn.loadStateDict(state, { torchLayout: true });
      tf.dispose(Object.values(state));
      const inputs: Record<string, tf.Tensor> = {};
      for (const [k, v] of Object.entries(fx.inputs as Record<string, { shape: number[]; values: number[] }>))
        inputs[k] = tf.tensor(v.values, v.shape);
      const out = await assertNoTensorLeak(() => fpn.forward(inputs));
      expect(Object.keys(out)).toEqual(['C3', 'C4', 'C5', 'pool']);
      for (const [k, v] of Object.entries(fx.outputs as Record<string, { shape: number[]; values: number[] }>)) {
        expect(out[k].shape).toEqual(v.shape);
        assertAllClose(out[k], v.values, { atol: 1e-5, rtol: 1e-4, name: k });
      }
      expect(() => fpn.forward({ a: inputs.C3 })).toThrow(/FPN: argument 'features' expected 3 maps/);
      tf.dispose([...Object.values(inputs), ...Object.values(out)]);
      fpn.dispose();
    });
  });
}
