import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: in Node the two load as separate module copies, and the first one builds the engine.
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose } from '@deformjs/core/testing';
import { resnet } from '../src/index';

describe('ResNet with DCNv2 stages (dcnStages)', () => {
  it('puts ModulatedDeformConv2d in the chosen stages, equal to the plain net with doubled weights at init, and trains its offsets', async () => {
    await initBackend('wasm');
    const plain = resnet({ depth: 50, width: 2, seed: 1 }).eval();
    const dcn = resnet({ depth: 50, width: 2, seed: 1, dcnStages: [3, 4, 5] }).eval();
    const names = dcn.namedParameters().map(([n]) => n);
    // mmdet's key names: the 3x3 conv of each block in layer2..layer4 gains conv_offset (3 * 3 * 3 = 27 outputs).
    expect(names).toContain('layer2.0.conv2.conv_offset.weight');
    expect(names).toContain('layer4.2.conv2.conv_offset.bias');
    expect(names.filter((n) => n.endsWith('conv_offset.weight'))).toHaveLength(4 + 6 + 3);
    expect(names.some((n) => n.startsWith('layer1.') && n.includes('conv_offset'))).toBe(false);
    expect(dcn.namedParameters().find(([n]) => n === 'layer3.1.conv2.conv_offset.weight')![1].variable.shape).toEqual([
      3, 3, 8, 27,
    ]);

    // A fresh DCNv2 is half the plain conv (mask 0.5, offsets 0): with the plain weights doubled it is the plain net.
    const dict = plain.stateDict();
    const dcnConvs = new Set(names.filter((n) => /^layer[234]\.\d+\.conv2\.weight$/.test(n)));
    const doubled = Object.fromEntries(Object.entries(dict).map(([k, v]) => [k, dcnConvs.has(k) ? tf.mul(v, 2) : v]));
    const report = dcn.loadStateDict(doubled, { strict: false });
    expect(report.unexpected).toEqual([]);
    expect(report.missing.every((k) => k.includes('conv_offset'))).toBe(true);
    tf.dispose([...Object.values(dict), ...Object.values(doubled)]);
    tf.tidy(() => {
      const x = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 3);
      const want = plain.forward(x);
      const got = dcn.forward(x);
      for (const key of ['C3', 'C4', 'C5'] as const)
        assertAllClose(got[key]!, want[key]!, { atol: 1e-4, rtol: 1e-3, name: key });
    });

    // The offset branch receives gradients through the backbone.
    const offsetVars = dcn
      .namedParameters()
      .filter(([n]) => n.includes('conv_offset.weight'))
      .map(([, p]) => p.variable);
    const { grads, value } = tf.variableGrads(
      () =>
        tf.tidy(
          () => tf.sum(tf.square(dcn.forward(tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 4)).C5!)) as tf.Scalar,
        ),
      offsetVars,
    );
    const norms = Object.values(grads).map((g) => tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]));
    expect(norms.every((v) => Number.isFinite(v))).toBe(true);
    expect(Math.max(...norms)).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);

    expect(() => resnet({ depth: 18, width: 2, dcnStages: [1 as 2] })).toThrow(
      /ResNet: argument 'dcnStages' expected one of 2, 3, 4, 5, got 1/,
    );
    plain.dispose();
    dcn.dispose();
  });
});
