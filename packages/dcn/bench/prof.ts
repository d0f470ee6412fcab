import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { deformConv2d } from '../src/index';

register('./node_gradients.mjs', import.meta.url);
await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
await initBackend('wasm');
const rng = new Rng(1);
const x = rng.uniformTensor([1, 64, 64, 256], -1, 1);
const off = rng.uniformTensor([1, 64, 64, 18], -2, 2);
const mask = tf.sigmoid(rng.normalTensor([1, 64, 64, 9]));
const w = rng.uniformTensor([3, 3, 256, 256], -0.02, 0.02);
const b = tf.zeros([256]);
const time = async (name: string, f: () => tf.Tensor | tf.Tensor[]) => {
  const ts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = f();
    const arr = Array.isArray(r) ? r : [r];
    for (const t of arr) t.dataSync();
    ts.push(performance.now() - t0);
    tf.dispose(arr);
  }
  ts.sort((a, c) => a - c);
  console.log(name, ts.map((t) => t.toFixed(0)).join(' '));
};
await time('fwd', () => deformConv2d(x, off, w, { mask, bias: b, pad: 1 }));
await time('fwdbwd', () => tf.grads((a: tf.Tensor, o: tf.Tensor, m: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(deformConv2d(a, o, ww, { mask: m, bias: bb, pad: 1 })))([x, off, mask, w, b]));
await time('conv', () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'));
console.log(tf.memory().numTensors);
