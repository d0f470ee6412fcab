import * as tf from '@tensorflow/tfjs-core';
import { reshapeGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Reshape_grad';
import { initBackend, Rng } from '@deformjs/core';
import { msDeformAttn } from './src/index';
import { bilinearGatherForwardImpl, bilinearGatherBackwardImpl } from '../sampling/src/bilinear_gather_impl';
tf.registerGradient(reshapeGradConfig);
await initBackend(process.argv[2] as any ?? 'wasm');
const LEVELS = [[64, 64], [32, 32], [16, 16], [8, 8]];
const STARTS = [0, 4096, 5120, 5376];
const [S, M, D, P, L, lq] = [5440, 8, 32, 4, 4, 300];
const rng = new Rng(0);
const value = rng.normalTensor([1, S, M, D]);
const locations = rng.uniformTensor([1, lq, M, L, P, 2]);
const attention = tf.tidy(() => tf.reshape(tf.softmax(rng.normalTensor([1, lq, M, L * P])), [1, lq, M, L, P]));
const gradOut = rng.normalTensor([1, lq, M * D]);
const f = (v: tf.Tensor, loc: tf.Tensor, a: tf.Tensor) => msDeformAttn(v, LEVELS, STARTS, loc, a);
const g = tf.grads(f);
function t(name: string, fn: () => void, n = 30) {
  for (let i = 0; i < 3; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) { const s = performance.now(); fn(); ts.push(performance.now() - s); }
  ts.sort((a, b) => a - b);
  console.log(name.padEnd(12), 'min', ts[0].toFixed(2), 'med', ts[n >> 1].toFixed(2));
}
const vd = value.dataSync() as Float32Array, ld = locations.dataSync() as Float32Array, ad = attention.dataSync() as Float32Array, gd = gradOut.dataSync() as Float32Array;
const shapes = new Int32Array(LEVELS.flat()), starts = new Int32Array(STARTS);
const dims = { B: 1, S, G: M, C: D, Q: lq, L, P };
const flags = { normalized: true, reduce: 'sum' as const, weighted: true };
for (let rep = 0; rep < 2; rep++) {
  t('impl fwd', () => { const out = new Float32Array(lq * M * D); bilinearGatherForwardImpl(vd, shapes, starts, ld, ad, out, dims, flags); });
  t('op fwd', () => { const o = f(value, locations, attention); o.dataSync(); o.dispose(); });
  t('impl bwd', () => { const gv = new Float32Array(vd.length), gl = new Float32Array(ld.length), gw = new Float32Array(ad.length); bilinearGatherBackwardImpl(vd, shapes, starts, ld, ad, gd, gv, gl, gw, dims, flags); });
  t('op fwd+bwd', () => { const r = g([value, locations, attention], gradOut); r[2].dataSync(); tf.dispose(r); });
}
