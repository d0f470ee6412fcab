import { bilinearGatherBackwardImpl, bilinearGatherForwardImpl } from '../../sampling/src/bilinear_gather_impl';
const C = 256, Q = 4096, P = 9, H = 64, W = 64;
const value = new Float32Array(H * W * C).map(() => Math.random());
const shapes = new Int32Array([H, W]);
const starts = new Int32Array([0]);
const loc = new Float32Array(Q * P * 2).map(() => Math.random() * 63);
const wts = new Float32Array(Q * P).map(() => Math.random());
const out = new Float32Array(Q * P * C);
const gv = new Float32Array(H * W * C), gl = new Float32Array(Q * P * 2), gw = new Float32Array(Q * P);
const dims = { B: 1, S: H * W, G: 1, C, Q, L: 1, P };
const flags = { normalized: false, reduce: 'none' as const, weighted: true };
for (let r = 0; r < 6; r++) {
  let t = performance.now();
  out.fill(0);
  bilinearGatherForwardImpl(value, shapes, starts, loc, wts, out, dims, flags);
  const f = performance.now() - t;
  t = performance.now();
  gv.fill(0);
  bilinearGatherBackwardImpl(value, shapes, starts, loc, wts, out, gv, gl, gw, dims, flags);
  console.log('fwd', f.toFixed(0), 'bwd', (performance.now() - t).toFixed(0));
}
