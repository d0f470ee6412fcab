import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { loadWeights, stateDictOf } from '@deformjs/weights';
import { readPthFile } from '@deformjs/weights/node';
import { Conv2d, ResNet, resnet, type Conv3x3Context } from '../src/index';
import { fixture, fixturePath } from './helpers';

for (const backend of TEST_BACKENDS) {
  describe(`ResNet on ${backend}`, () => {
    for (const [name, depth, width] of [
      ['resnet18_w8', 18, 8],
      ['resnet50_w4', 50, 4],
    ] as const) {
      it(`${name}: torchvision weights from a .pth give torchvision's C2..C5`, async () => {
        await initBackend(backend);
        const expected = fixture(`${name}.json`);
        const model = resnet({ depth, width }).eval();
        const report = loadWeights(model, stateDictOf(readPthFile(fixturePath(`${name}.pth`))), { ignore: [/^fc\./] });
        expect(report.missing).toEqual([]);
        expect(report.unexpected).toEqual([]);
        expect(report.ignored).toEqual(['fc.weight', 'fc.bias']);
        const x = tf.tensor(expected.input, expected.inputShape);
        const features = await assertNoTensorLeak(() => model.forward(x));
        for (const key of ['C2', 'C3', 'C4', 'C5'] as const) {
          expect(features[key]!.shape).toEqual(expected.features[key].shape);
          assertAllClose(features[key]!, expected.features[key].values, {
            atol: 2e-4,
            rtol: 1e-3,
            name: `${name} ${key}`,
          });
        }
        tf.dispose([x, ...Object.values(features)]);
        // Frozen batch norm with the same statistics gives the same features, in train mode too.
        const frozen = resnet({ depth, width, norm: 'frozen', returnFeatures: ['C5'] }).train();
        loadWeights(frozen, stateDictOf(readPthFile(fixturePath(`${name}.pth`))), {
          ignore: [/^fc\./, /num_batches_tracked$/],
        });
        expect(frozen.trainableVariables().length).toBe(
          frozen.namedParameters().filter(([k]) => /conv|downsample\.0/.test(k)).length,
        );
        const x2 = tf.tensor(expected.input, expected.inputShape);
        const out = frozen.forward(x2);
        expect(Object.keys(out)).toEqual(['C5']);
        assertAllClose(out.C5!, expected.features.C5.values, { atol: 2e-4, rtol: 1e-3, name: `${name} frozen C5` });
        tf.dispose([x2, out.C5!]);
        model.dispose();
        frozen.dispose();
      });
    }
  });
}

describe('ResNet structure', () => {
  it('has torchvision key names, channels and strides, and plugs a custom 3x3 conv into chosen stages', async () => {
    await initBackend('cpu');
    const calls: Conv3x3Context[] = [];
    const model = new ResNet({
      depth: 18,
      width: 4,
      conv3x3: (ctx) => {
        calls.push(ctx);
        return new Conv2d(ctx.rng, ctx.inChannels, ctx.outChannels, 3, {
          stride: ctx.stride,
          padding: ctx.dilation,
          dilation: ctx.dilation,
          bias: ctx.stage >= 3,
        });
      },
    });
    const names = model.namedParameters().map(([n]) => n);
    expect(names.slice(0, 7)).toEqual([
      'conv1.weight',
      'bn1.weight',
      'bn1.bias',
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.num_batches_tracked',
      'layer1.0.conv1.weight',
    ]);
    expect(names).toContain('layer2.0.downsample.0.weight');
    expect(names).toContain('layer2.0.downsample.1.running_var');
    expect(names).toContain('layer3.1.conv2.bias');
    expect(names).not.toContain('layer2.1.conv2.bias');
    expect(calls.filter((c) => c.stage === 4).map((c) => c.stride)).toEqual([2, 1, 1, 1]);
    expect(model.channels).toEqual({ C2: 4, C3: 8, C4: 16, C5: 32 });
    const r50 = resnet({ depth: 50, width: 2, dilateLastStage: true });
    expect(r50.channels.C5).toBe(64);
    expect(r50.strides).toEqual({ C2: 4, C3: 8, C4: 16, C5: 16 });
    const out = r50.forward(tf.zeros([1, 32, 32, 3]));
    expect(out.C5!.shape).toEqual([1, 2, 2, 64]);
    tf.dispose(Object.values(out));
    expect(() => resnet({ depth: 20 as 18 })).toThrow(
      /ResNet: argument 'depth' expected one of 18, 34, 50, 101, got 20/,
    );
    model.dispose();
    r50.dispose();
  });
});
