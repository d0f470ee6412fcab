import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { describe, it } from 'vitest';
import { windowMax } from '../src/window_max';
import { windowMaxComposed } from '../src/composed';

describe.each(TEST_BACKENDS)('windowMax on %s', (backend) => {
  it.each([[1], [2], [3]])('matches max-pooling with padding, forward and gradient (radius %i)', async (radius) => {
    await initBackend(backend);
    const rng = new Rng(radius);
    const shape = [2, 7, 9, 3];
    const x = rng.normalTensor(shape);
    const dy = rng.normalTensor(shape);
    const loss = (f: (t: tf.Tensor, r: number) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(f(t, radius), dy));
    const [fused, fusedGrad] = await assertNoTensorLeak(() =>
      tf.tidy(() => [windowMax(x, radius), tf.grad(loss(windowMax))(x)]),
    );
    // The composed reference on the cpu backend (wasm's own MaxPoolGrad is wrong for 3x3 windows).
    await initBackend('cpu');
    const [reference, referenceGrad] = tf.tidy(() => [
      windowMaxComposed(x, radius),
      tf.grad(loss(windowMaxComposed))(x),
    ]);
    assertAllClose(fused, reference, { atol: 0, rtol: 0, name: 'window maximum' });
    assertAllClose(fusedGrad, referenceGrad, { atol: 1e-6, name: 'window maximum gradient' });
    tf.dispose([x, dy, fused, fusedGrad, reference, referenceGrad]);
  });
});
