import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { convNorm } from '@deformjs/nn';
import { SparseBottleneck, SparseResLayer, interpolate, sparsityLoss } from '../src/index';

interface Entry {
  shape: number[];
  data: number[];
}
const reference = (
  JSON.parse(readFileSync(new URL('./fixtures/interpolation.json', import.meta.url), 'utf8')) as {
    bottleneck: Record<'x' | 'mask1' | 'mask2' | 'out' | 'p1' | 'p2', Entry> & { state: Record<string, Entry> };
  }
).bottleneck;

/** Random batch-norm statistics and affine parameters, so folding them into the sparse convs is tested. */
function randomizeNorms(block: SparseBottleneck, rng: Rng): void {
  for (const [name, p] of block.namedParameters()) {
    if (!/^(bn\d|downsample\.1)\.(weight|bias|running_mean|running_var)$/.test(name)) continue;
    const [low, high] = name.endsWith('running_var') || name.endsWith('weight') ? [0.5, 1.5] : [-0.5, 0.5];
    tf.tidy(() => p.variable.assign(rng.uniformTensor(p.variable.shape, low, high)));
  }
}

/** The reference's evaluation path: every conv dense, then masked and interpolated. */
function denseThenMask(block: SparseBottleneck, x: tf.Tensor, m1: tf.Tensor, m2: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    let out: tf.Tensor = interpolate(convNorm(block.conv1, block.bn1, x, true), m1, block.conv1_sigma);
    out = interpolate(convNorm(block.conv2, block.bn2, out, true), m2, block.conv2_sigma);
    out = convNorm(block.conv3, block.bn3, out, false);
    const identity = block.downsample ? convNorm(block.downsample.layers[0], block.downsample.layers[1], x, false) : x;
    return tf.relu(tf.add(out, identity));
  });
}

function randomMask(rng: Rng, shape: [number, number, number, number], density: number, soft: boolean): tf.Tensor {
  return tf.tensor(
    rng.uniformArray(shape.reduce((a, b) => a * b)).map((u) => (u < density ? (soft ? 0.5 + u / density / 2 : 1) : 0)),
    shape,
  );
}

for (const backend of TEST_BACKENDS) {
  describe(`SparseBottleneck on ${backend}`, () => {
    // Starting a backend took over two minutes beside the session's trainings (load average 20).
    beforeAll(async () => {
      await initBackend(backend);
    }, 600_000);
    afterAll(() => tf.disposeVariables());

    it('has torchvision Bottleneck names plus the reference mask convs, samplers and sigmas', () => {
      const block = new SparseBottleneck(new Rng(0), 8, 4, { stride: 2 });
      const names = block.namedParameters().map(([n]) => n);
      for (const n of [
        'conv1.weight',
        'bn1.running_var',
        'conv2.weight',
        'bn2.num_batches_tracked',
        'conv3.weight',
        'bn3.bias',
        'downsample.0.weight',
        'downsample.1.weight',
        'conv1_mask.weight',
        'conv1_mask.bias',
        'conv2_mask.weight',
        'conv2_mask.bias',
        'conv1_gumbel.cur_T',
        'conv2_gumbel.cur_T',
        'conv1_sigma',
        'conv2_sigma',
      ]) {
        expect(names).toContain(n);
      }
      const torch = block.stateDict({ torchLayout: true });
      expect(torch['conv2.weight'].shape).toEqual([4, 4, 3, 3]);
      expect(torch['conv2_mask.weight'].shape).toEqual([1, 8, 3, 3]);
      expect(Array.from(torch['conv2_mask.bias'].dataSync())).toEqual([3]);
      expect(tf.max(tf.abs(torch['conv1_mask.weight'])).dataSync()[0]).toBe(0);
      expect(torch['conv1_sigma'].dataSync()[0]).toBe(3);
      tf.dispose(Object.values(torch));
      block.dispose();
    });

    for (const [label, inplanes, planes, stride, soft] of [
      ['stride 1, binary masks', 16, 4, 1, false],
      ['stride 2 with downsample, relaxed evaluation masks', 6, 4, 2, true],
    ] as const) {
      it(`evaluation computes only sampled positions and equals dense-then-mask (${label})`, () => {
        const rng = new Rng(3);
        const block = new SparseBottleneck(new Rng(1), inplanes, planes, { stride });
        randomizeNorms(block, rng);
        block.eval();
        const x = rng.normalTensor([2, 9, 10, inplanes]);
        const Ho = Math.floor((9 - 1) / stride) + 1;
        const Wo = Math.floor((10 - 1) / stride) + 1;
        const m1 = randomMask(rng, [2, 9, 10, 1], 0.4, soft);
        const m2 = randomMask(rng, [2, Ho, Wo, 1], 0.3, soft);
        const sparse = block.forwardMasked(x, m1, m2);
        expect(sparse.shape).toEqual([2, Ho, Wo, planes * 4]);
        assertAllClose(sparse, denseThenMask(block, x, m1, m2), { atol: 1e-4, rtol: 1e-4, name: 'block output' });
        block.dispose();
      });
    }

    it('evaluation samples binarised masks with the grid prior and keeps the tensor count flat', async () => {
      const block = new SparseBottleneck(new Rng(2), 16, 4).eval();
      const x = new Rng(4).normalTensor([1, 12, 12, 16]);
      const { mask1, mask2, soft1 } = block.sampleMasks(x);
      const values = mask1.dataSync();
      expect(Array.from(values).every((v) => v === 0 || v >= 0.5)).toBe(true);
      expect(values[0]).toBe(1);
      expect(values[11 * 12 + 11]).toBe(1);
      // weight 0, bias 3: p = sigmoid(3) everywhere at initialisation.
      assertAllClose(soft1, new Float32Array(144).fill(1 / (1 + Math.exp(-3))), { atol: 1e-6 });
      const density = tf.mean(tf.cast(tf.greater(mask2, 0), 'float32')).dataSync()[0];
      expect(density).toBeGreaterThan(0.85);
      tf.dispose([mask1, mask2, soft1]);
      await assertNoTensorLeak(() => block.forward(x).dispose());
      block.dispose();
    });

    it("loads the reference block's PyTorch state_dict and matches its evaluation output and mask probabilities", () => {
      const block = new SparseBottleneck(new Rng(0), 6, 4, { stride: 2 });
      const state = Object.fromEntries(
        Object.entries(reference.state).map(([k, e]) => [k, tf.tensor(e.data, e.shape)]),
      );
      const { missing, unexpected } = block.loadStateDict(state, { torchLayout: true, strict: false });
      expect(unexpected).toEqual([]);
      expect(missing.every((k) => k.endsWith('num_batches_tracked') || k.endsWith('cur_T'))).toBe(true);
      block.eval();
      const t = (e: Entry) => tf.tensor(e.data, e.shape);
      const x = t(reference.x);
      assertAllClose(block.forwardMasked(x, t(reference.mask1), t(reference.mask2)), reference.out.data, {
        atol: 1e-4,
        rtol: 1e-4,
        name: 'output',
      });
      const { soft1, soft2 } = block.sampleMasks(x);
      assertAllClose(soft1, reference.p1.data, { atol: 1e-5, name: 'p1' });
      assertAllClose(soft2, reference.p2.data, { atol: 1e-5, name: 'p2' });
      tf.dispose(Object.values(state));
      block.dispose();
    });

    it('evaluation predicts both masks (stride 1 and 2) as the mask convs do', () => {
      const rng = new Rng(11);
      const block = new SparseBottleneck(new Rng(3), 5, 4, { stride: 2 });
      for (const conv of [block.conv1_mask, block.conv2_mask]) {
        tf.tidy(() => {
          conv.weight.assign(rng.normalTensor(conv.weight.shape));
          conv.bias!.assign(rng.normalTensor([1]));
        });
      }
      block.eval();
      const x = rng.normalTensor([2, 7, 9, 5]);
      const { soft1, soft2 } = block.sampleMasks(x);
      expect(soft2.shape).toEqual([2, 4, 5, 1]);
      assertAllClose(soft1, tf.sigmoid(block.conv1_mask.forward(x)), { atol: 1e-5, name: 'p1' });
      assertAllClose(soft2, tf.sigmoid(block.conv2_mask.forward(x)), { atol: 1e-5, name: 'p2' });
      block.dispose();
    });

    it('trains: finite gradients for every parameter (sigma and mask convs included), the loss falls, the tensor count stays flat', async () => {
      const rng = new Rng(7);
      const layer = new SparseResLayer(new Rng(5), 8, 2, 2, { stride: 2 });
      const x = rng.normalTensor([2, 8, 8, 8]);
      const target = rng.normalTensor([2, 4, 4, 8]);
      const variables = layer.trainableVariables();
      const optimizer = tf.train.adam(0.01);
      const lossOf = () => {
        const { output, losses } = layer.forwardWithLoss(x);
        return tf.add(tf.mean(tf.square(tf.sub(output, target))), sparsityLoss(losses, 0.1)) as tf.Scalar;
      };
      const { grads } = tf.variableGrads(lossOf, variables);
      for (const name of [
        '0.conv1_sigma',
        '0.conv2_sigma',
        '0.conv1_mask.weight',
        '1.conv2_mask.bias',
        '0.conv2.weight',
        '0.downsample.0.weight',
      ]) {
        const variable = layer.namedParameters().find(([n]) => n === name)![1].variable;
        const g = grads[variable.name].dataSync();
        expect(Array.from(g).every(Number.isFinite), name).toBe(true);
        expect(
          Array.from(g).some((v) => v !== 0),
          name,
        ).toBe(true);
      }
      tf.dispose(Object.values(grads));
      const step = () => tf.tidy(() => optimizer.minimize(lossOf, true, variables)!.dataSync()[0]);
      const first = step();
      step();
      const before = tf.memory().numTensors;
      let last = first;
      for (let i = 0; i < 25; i++) last = step();
      expect(tf.memory().numTensors).toBe(before);
      expect(last).toBeLessThan(first * 0.8);
      const temperature = layer.blocks[0].conv1_gumbel.curT.dataSync()[0];
      expect(temperature).toBeLessThan(1);
      optimizer.dispose();
      layer.dispose();
    });

    it('names the argument in its errors', () => {
      expect(() => new SparseBottleneck(new Rng(0), 0, 4)).toThrow(/SparseBottleneck.*inplanes/);
      expect(() => new SparseBottleneck(new Rng(0), 8, 4, { gaussianKernel: 6 })).toThrow(
        /SparseBottleneck.*gaussianKernel/,
      );
      expect(() => new SparseBottleneck(new Rng(0), 8, 4, { norm: 'group' as 'batch' })).toThrow(
        /SparseBottleneck.*norm/,
      );
      const block = new SparseBottleneck(new Rng(0), 8, 2).eval();
      expect(() => block.forwardMasked(tf.zeros([1, 5, 5, 8]), tf.zeros([1, 5, 4, 1]), tf.zeros([1, 5, 5, 1]))).toThrow(
        /SparseBottleneck.*mask1/,
      );
      expect(() => block.forwardMasked(tf.zeros([1, 5, 5, 8]), tf.zeros([1, 5, 5, 1]), tf.zeros([1, 3, 3, 1]))).toThrow(
        /SparseBottleneck.*mask2/,
      );
      expect(() => block.forward(tf.zeros([1, 5, 5, 7]))).toThrow(/SparseBottleneck.*x/);
      block.dispose();
    });
  });
}
