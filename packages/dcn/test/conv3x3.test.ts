import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: in Node the two load as separate module copies, and the first one builds the engine.
import { beforeAll, describe, expect, it } from 'vitest';
import { Conv2d, Module, Rng, initBackend, plainConv3x3, type Conv3x3Context, type Layer } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { DeformConv2d, ModulatedDeformConv2d, deformConv3x3 } from '../src/index';

/** A block holding its 3x3 conv as `conv2`, as ResNet's Bottleneck does, to see the keys a checkpoint gets. */
class Block extends Module {
  readonly conv2: Layer;
  constructor(conv: Layer) {
    super();
    this.conv2 = this.addModule('conv2', conv);
  }
}

const context = (stage: number, options: Partial<Conv3x3Context> = {}): Conv3x3Context => ({
  rng: new Rng(5),
  stage,
  block: 0,
  inChannels: 8,
  outChannels: 8,
  stride: 1,
  dilation: 1,
  ...options,
});

const keys = (conv: Layer) => {
  const block = new Block(conv);
  const out = block.namedParameters().map(([n, p]) => `${n}:${p.variable.shape.join('x')}`);
  block.dispose();
  return out;
};

describe('deformConv3x3, the ResNet conv3x3 factory of a DCN backbone', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it("puts DCNv2 in c3-c5 by default, with mmdet's keys, and torchvision's plain conv elsewhere", () => {
    const factory = deformConv3x3();
    const c2 = factory(context(1));
    expect(c2).toBeInstanceOf(Conv2d);
    expect(keys(c2)).toEqual(['conv2.weight:3x3x8x8']);
    for (const stage of [2, 3, 4]) {
      const conv = factory(context(stage));
      expect(conv).toBeInstanceOf(ModulatedDeformConv2d);
      // 3 (x, y, mask) x 3 x 3 taps; no bias on the main conv, as mmdet's ResNet.
      expect(keys(conv)).toEqual([
        'conv2.weight:3x3x8x8',
        'conv2.conv_offset.weight:3x3x8x27',
        'conv2.conv_offset.bias:27',
      ]);
    }
  });

  it('builds DCNv1 with 4 offset groups in the chosen stages only', () => {
    const factory = deformConv3x3({ stages: ['C5'], version: 1, deformGroups: 4 });
    expect(factory(context(3))).toBeInstanceOf(Conv2d);
    const c5 = factory(context(4));
    expect(c5).toBeInstanceOf(DeformConv2d);
    expect(keys(c5)).toEqual([
      'conv2.weight:3x3x8x8',
      'conv2.conv_offset.weight:3x3x8x72',
      'conv2.conv_offset.bias:72',
    ]);
  });

  it('names the argument in its errors', () => {
    expect(() => deformConv3x3({ stages: ['C1' as 'C2'] })).toThrow(
      /deformConv3x3: argument 'stages' expected one of "C2", "C3", "C4", "C5", got "C1"/,
    );
    expect(() => deformConv3x3({ version: 3 as 1 })).toThrow(/deformConv3x3: argument 'version' expected one of 1, 2/);
    expect(() => deformConv3x3({ deformGroups: 0 })).toThrow(/deformConv3x3: argument 'deformGroups'/);
    expect(() => deformConv3x3({ deformGroups: 3 })(context(3))).toThrow(
      /ModulatedDeformConv2d: argument 'deformGroups'/,
    );
  });
});

describe.each(TEST_BACKENDS)('deformConv3x3 layers on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it.each([
    ['strided', { stride: 2, dilation: 1 }],
    ['dilated (dilateLastStage)', { stride: 1, dilation: 2 }],
    ['dilated and strided', { stride: 2, dilation: 2 }],
  ] as const)(
    '%s: a fresh DCNv2 is the plain conv with half its weights, and its offset branch gets gradients',
    async (_, geometry) => {
      const ctx = context(3, { inChannels: 4, outChannels: 6, ...geometry });
      const plain = plainConv3x3(ctx) as Conv2d;
      const dcn = deformConv3x3({ deformGroups: 2 })(ctx) as ModulatedDeformConv2d;
      dcn.weight.assign(tf.tidy(() => tf.mul(plain.weight, 2)));
      const x = new Rng(6).uniformTensor([2, 9, 8, 4], -1, 1) as tf.Tensor4D;
      tf.tidy(() => assertAllClose(dcn.forward(x), plain.forward(x), { atol: 1e-5, rtol: 1e-4 }));
      await assertNoTensorLeak(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.square(dcn.forward(x))) as tf.Scalar,
          [dcn.convOffset.weight],
        );
        const largest = tf.tidy(() => tf.max(tf.abs(grads[dcn.convOffset.weight.name])).dataSync()[0]);
        expect(largest).toBeGreaterThan(0);
        tf.dispose([value, ...Object.values(grads)]);
      });
      tf.dispose(x);
      plain.dispose();
      dcn.dispose();
    },
  );
});
