import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak, TEST_BACKENDS } from '@deformjs/core/testing';
import { gridSample } from '../src/index';
import type { GridSampleOptions } from '../src/index';

interface FixtureCase extends Required<GridSampleOptions> {
  inputShape: number[];
  gridShape: number[];
  input: number[];
  grid: number[];
  output: number[];
  dy: number[];
  gradInput: number[];
  gradGrid: number[];
}

// F.grid_sample in float64 (scripts/make_grid_sample_fixture.py): every mode x padding x align_corners.
const { cases } = JSON.parse(readFileSync(new URL('./fixtures/grid_sample.json', import.meta.url), 'utf8')) as {
  cases: FixtureCase[];
};

function forwardAndGradients(k: FixtureCase) {
  return tf.tidy(() => {
    const input = tf.tensor(k.input, k.inputShape);
    const grid = tf.tensor(k.grid, k.gridShape);
    const options = { mode: k.mode, paddingMode: k.paddingMode, alignCorners: k.alignCorners };
    const output = gridSample(input, grid, options);
    const dy = tf.tensor(k.dy, output.shape);
    const [gradInput, gradGrid] = tf.grads((x: tf.Tensor, g: tf.Tensor) =>
      tf.sum(tf.mul(gridSample(x, g, options), dy)),
    )([input, grid]);
    return { output: output.dataSync(), gradInput: gradInput.dataSync(), gradGrid: gradGrid.dataSync() };
  });
}

describe.each(TEST_BACKENDS)('gridSample on %s against F.grid_sample (float64)', (backend) => {
  beforeAll(() => initBackend(backend));

  it('covers every mode, padding mode and align_corners', () => {
    const seen = new Set(cases.map((k) => `${k.mode}/${k.paddingMode}/${k.alignCorners}`));
    expect(seen.size).toBe(12);
  });

  it.each(cases.map((k, i) => [`${i}: ${k.mode} ${k.paddingMode} alignCorners=${k.alignCorners}`, k] as const))(
    '%s: output, input gradient and grid gradient',
    async (_, k) => {
      expect(tf.getBackend()).toBe(backend);
      const got = await assertNoTensorLeak(() => forwardAndGradients(k));
      assertAllClose(got.output, k.output, { atol: 1e-5, name: 'output' });
      assertAllClose(got.gradInput, k.gradInput, { atol: 1e-5, name: 'gradient of input' });
      assertAllClose(got.gradGrid, k.gradGrid, { atol: 1e-4, name: 'gradient of grid' });
    },
  );
});

describe('gridSample arguments', () => {
  it('names the argument, the expected and the actual value', async () => {
    await initBackend('cpu');
    const input = tf.zeros([1, 4, 5, 3]);
    const grid = tf.zeros([1, 2, 2, 2]);
    expect(() => gridSample(input, tf.zeros([2, 2, 2, 2]))).toThrow(/gridSample.*grid.*N/s);
    expect(() => gridSample(input, tf.zeros([1, 2, 2, 3]))).toThrow(/gridSample.*grid.*2.*3/s);
    expect(() => gridSample(tf.zeros([4, 5, 3]), grid)).toThrow(/gridSample.*input/);
    expect(() => gridSample(input, grid, { mode: 'bicubic' as never })).toThrow(/gridSample.*mode.*bicubic/);
    expect(() => gridSample(input, grid, { paddingMode: 'wrap' as never })).toThrow(/gridSample.*paddingMode.*wrap/);
    expect(() => gridSample(input, grid, { alignCorners: 1 as never })).toThrow(/gridSample.*alignCorners/);
    expect(() => gridSample(input, tf.zeros([1, 2, 2, 2], 'int32'))).toThrow(/gridSample.*grid.*float32.*int32/);
    tf.dispose([input, grid]);
  });
});
