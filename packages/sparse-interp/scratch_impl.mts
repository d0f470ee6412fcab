import { interpolateImpl } from './src/interpolate_impl';
const N = 1,
  H = 64,
  W = 64,
  C = 64,
  k = 7;
const f = new Float32Array(N * H * W * C).map(() => Math.random());
const m = new Float32Array(N * H * W).map(() => (Math.random() < 0.25 ? 1 : 0));
const G = new Float32Array(49);
for (let i = 0; i < 7; i++)
  for (let j = 0; j < 7; j++)
    G[i * 7 + j] = Math.fround((9 / (2 * Math.PI)) * Math.exp(-4.5 * ((i - 3) ** 2 + (j - 3) ** 2)));
const out = new Float32Array(f.length);
for (let r = 0; r < 30; r++) interpolateImpl(f, m, G, out, N, H, W, C, k);
const c0 = process.cpuUsage();
for (let r = 0; r < 30; r++) interpolateImpl(f, m, G, out, N, H, W, C, k);
const u = process.cpuUsage(c0);
console.log(((u.user + u.system) / 1000 / 30).toFixed(2));
