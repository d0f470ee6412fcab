import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak, TEST_BACKENDS } from '@deformjs/core/testing';
import { warp } from '../src/index';

interface Fixture {
  shape: [number, number, number, number];
  features: number[];
  flow: number[];
  upstream: number[];
  out: number[];
  grad_features: number[];
  grad_flow: number[];
}

// scripts/make_fixtures.py: PyTorch grid_sample in float64 (flows up to +-4 px, so some samples leave the map).
const fixture = JSON.parse(readFileSync(new URL('./fixtures/warp.json', import.meta.url), 'utf8')) as Fixture;
const [N, H, W, C] = fixture.shape;

describe.each(TEST_BACKENDS)('warp on %s', (backend) => {
  it('matches grid_sample forward and backward, leaving no tensors behind', async () => {
    await initBackend(backend);
    const features = tf.tensor4d(fixture.features, [N, H, W, C]);
    const flow = tf.tensor4d(fixture.flow, [N, H, W, 2]);
    const upstream = tf.tensor4d(fixture.upstream, [N, H, W, C]);
    const out = await assertNoTensorLeak(() => warp(features, flow));
    assertAllClose(out, fixture.out, { atol: 1e-5, rtol: 1e-4, name: 'out' });
    const grads = await assertNoTensorLeak(() =>
      tf.grads((f: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(warp(f, d), upstream)))([features, flow]),
    );
    assertAllClose(grads[0], fixture.grad_features, { atol: 1e-5, rtol: 1e-4, name: 'grad features' });
    assertAllClose(grads[1], fixture.grad_flow, { atol: 1e-4, rtol: 1e-4, name: 'grad flow' });
    tf.dispose([features, flow, upstream, out, ...grads]);
  });

  it('zero flow is the identity and whole-pixel flow shifts with zeros coming in', async () => {
    await initBackend(backend);
    const features = tf.tensor4d(fixture.features, [N, H, W, C]);
    const same = warp(features, tf.zerosLike(tf.slice(features, [0, 0, 0, 0], [N, H, W, 2])));
    assertAllClose(same, features, { atol: 1e-6, name: 'identity' });
    // flow (+2, -1): out[y, x] = features[y - 1, x + 2], zero where that is outside.
    const shift = tf.tidy(() => tf.tile(tf.tensor4d([2, -1], [1, 1, 1, 2]), [N, H, W, 1]));
    const shifted = warp(features, shift);
    const expected = tf.tidy(() =>
      tf.pad(tf.slice(features, [0, 0, 2, 0], [N, H - 1, W - 2, C]), [
        [0, 0],
        [1, 0],
        [0, 2],
        [0, 0],
      ]),
    );
    assertAllClose(shifted, expected, { atol: 1e-6, name: 'shift' });
    tf.dispose([features, same, shift, shifted, expected]);
  });
});

describe('warp errors', () => {
  it('name the argument, the expected and the actual shape', async () => {
    await initBackend('cpu');
    const features = tf.zeros([1, 4, 5, 3]);
    expect(() => warp(features, tf.zeros([1, 4, 5, 3]))).toThrow(
      /warp: argument .flow. expected shape \[N=1, H=4, W=5, 2\].*got "shape \[1, 4, 5, 3\]"/,
    );
    expect(() => warp(features, tf.zeros([1, 4, 6, 2]))).toThrow(/warp.*flow/);
    expect(() => warp(tf.zeros([4, 5, 3]), tf.zeros([1, 4, 5, 2]))).toThrow(/warp.*features/);
    expect(() => warp(features, tf.zeros([1, 4, 5, 2], 'int32'))).toThrow(/warp.*flow.*float32.*int32/);
    expect(() => warp(features, [1, 2] as never)).toThrow(/warp.*flow.*tensor/);
  });
});
