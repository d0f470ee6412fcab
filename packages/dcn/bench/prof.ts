import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { bilinearGather } from '@deformjs/sampling';
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
  console.log(name.padEnd(12), ts.map((t) => t.toFixed(0)).join(' '));
};
const value = tf.reshape(x, [1, 4096, 1, 256]);
const loc = rng.uniformTensor([1, 4096, 1, 1, 9, 2], 0, 63);
const wts = tf.reshape(mask, [1, 4096, 1, 1, 9]);
const cols = rng.uniformTensor([4096, 2304]);
const w2 = tf.reshape(w, [2304, 256]);
const dy = rng.uniformTensor([4096, 256]);
await time('gather', () => bilinearGather(value, [[64, 64]], [0], loc, wts, { normalized: false, reduce: 'none' }));
await time('gatherGrad', () => tf.grads((v: tf.Tensor, l: tf.Tensor, ww: tf.Tensor) => tf.sum(bilinearGather(v, [[64, 64]], [0], l, ww, { normalized: false, reduce: 'none' })))([value, loc, wts]));
await time('matmul', () => tf.matMul(cols as tf.Tensor2D, w2 as tf.Tensor2D));
await time('dCols', () => tf.matMul(dy as tf.Tensor2D, tf.transpose(w2) as tf.Tensor2D));
await time('dW', () => tf.transpose(tf.matMul(tf.transpose(dy) as tf.Tensor2D, cols as tf.Tensor2D)));
await time('dW-alt', () => tf.matMul(tf.transpose(cols) as tf.Tensor2D, dy as tf.Tensor2D));
await time('fwd', () => deformConv2d(x, off, w, { mask, bias: b, pad: 1 }));
await time('fwdbwd', () => tf.grads((a: tf.Tensor, o: tf.Tensor, m: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(deformConv2d(a, o, ww, { mask: m, bias: bb, pad: 1 })))([x, off, mask, w, b]));
await time('conv', () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'));
console.log(tf.memory().numTensors);
