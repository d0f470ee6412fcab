/**
 * Where dense convolution time goes on wasm, per ResNet-18 shape at 320x320 (batch 1, NHWC, float32), each as GFLOP/s
 * (2 x multiply-adds / time): conv2d forward with its filter reused (XNNPACK keeps the packed operator) and with a
 * fresh filter every call (as in training, where every step brings new weights); core's input gradient as it runs
 * and, for stride 1, forced through its conv-with-the-flipped-filter route (the one it takes on shallow layers); core's filter
 * gradient beside its XNNPACK matMul ([K, P] x [P, Cout]) alone, so that what our im2col costs shows; and a 1024^3
 * matMul as the ceiling XNNPACK reaches here. Median of `runs` calls after one warm-up, on the wasm thread count
 * DEFORMJS_THREADS (default every core). Writes bench-results/conv-shapes.json and the table in README.md.
 * Run after `pnpm build`: DEFORMJS_THREADS=1 npx tsx bench/conv_shapes.ts [runs]
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, inputGradientRoute, Rng, wasmThreads } from '@deformjs/core';
import { markdownTable, reportBench, writeMarkedSection } from '@deformjs/core/node';

const [runs = 5] = process.argv.slice(2).map(Number);
await initBackend('wasm');
const rng = new Rng(0);

/** ResNet-18's distinct 3x3 convs at 320 px input (stem and 1x1 downsamples excluded): [size, in, out, stride]. */
const SHAPES: [number, number, number, number][] = [
  [80, 64, 64, 1],
  [80, 64, 128, 2],
  [40, 128, 128, 1],
  [40, 128, 256, 2],
  [20, 256, 256, 1],
  [20, 256, 512, 2],
  [10, 512, 512, 1],
];

function medianMs(fn: () => tf.Tensor | tf.Tensor[]): number {
  const once = () => {
    const start = performance.now();
    const out = fn();
    for (const t of [out].flat()) t.dataSync();
    const ms = performance.now() - start;
    tf.dispose(out);
    return ms;
  };
  once();
  const times = Array.from({ length: runs }, once).sort((a, b) => a - b);
  return times[times.length >> 1];
}

const gflops = (multiplyAdds: number, ms: number) => Math.round(((2 * multiplyAdds) / ms / 1e6) * 10) / 10;
interface ShapeRow {
  shape: string;
  gflop: number;
  forward: number;
  forwardFreshFilter: number;
  inputGradient: number;
  /** Stride 1 only. */
  inputGradientByFlippedConv: number | null;
  filterGradient: number;
  filterProductAlone: number;
}
const rows: ShapeRow[] = [];
for (const [size, cin, cout, stride] of SHAPES) {
  const x = rng.normalTensor([1, size, size, cin]) as tf.Tensor4D;
  const w = rng.normalTensor([3, 3, cin, cout], 0, 0.05) as tf.Tensor4D;
  const out = size / stride;
  const dy = rng.normalTensor([1, out, out, cout]) as tf.Tensor4D;
  const K = 9 * cin;
  const P = out * out;
  const multiplyAdds = P * K * cout;
  const forward = medianMs(() => tf.conv2d(x, w, stride, 'same'));
  // tf.mul(w, 1) makes a new filter buffer (its own cost is a pass over the filter); tidy frees it.
  const forwardFreshFilter = medianMs(() => tf.tidy(() => tf.conv2d(x, tf.mul(w, 1) as tf.Tensor4D, stride, 'same')));
  const attrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
  const inputGradient = medianMs(
    () =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor,
  );
  inputGradientRoute.route = 'conv';
  const byFlippedConv =
    stride === 1
      ? medianMs(
          () =>
            tf
              .engine()
              .runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor,
        )
      : null;
  inputGradientRoute.route = 'auto';
  const filterGradient = medianMs(
    () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor,
  );
  const colsT = rng.normalTensor([K, P]) as tf.Tensor2D;
  const rowsOfDy = tf.reshape(dy, [P, cout]) as tf.Tensor2D;
  const filterProduct = medianMs(() => tf.matMul(colsT, rowsOfDy));
  rows.push({
    shape: `${size}x${size}x${cin} -> ${cout}, stride ${stride}`,
    gflop: Math.round((2 * multiplyAdds) / 1e7) / 100,
    forward: gflops(multiplyAdds, forward),
    forwardFreshFilter: gflops(multiplyAdds, forwardFreshFilter),
    inputGradient: gflops(multiplyAdds, inputGradient),
    inputGradientByFlippedConv: byFlippedConv === null ? null : gflops(multiplyAdds, byFlippedConv),
    filterGradient: gflops(multiplyAdds, filterGradient),
    filterProductAlone: gflops(multiplyAdds, filterProduct),
  });
  tf.dispose([x, w, dy, colsT, rowsOfDy]);
}
const a = rng.normalTensor([1024, 1024]) as tf.Tensor2D;
const ceiling = gflops(
  1024 ** 3,
  medianMs(() => tf.matMul(a, a)),
);
tf.dispose(a);
const threads = wasmThreads() ?? 1;
const load = loadavg()[0];
const packageDir = fileURLToPath(new URL('..', import.meta.url));
reportBench('conv-shapes', rows, packageDir, { threads, runs, loadAverage1m: load, matMul1024Gflops: ceiling });
const cell = (v: number | null) => (v === null ? '-' : v.toFixed(1));
const table = [
  `GFLOP/s on ${threads} wasm thread(s), load average ${load.toFixed(1)}; XNNPACK's 1024^3 matMul: ${ceiling.toFixed(1)}.`,
  `Written by \`bench/conv_shapes.ts\` (\`bench-results/conv-shapes.json\`) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
  '',
  markdownTable(
    [
      '3x3 conv (batch 1)',
      'forward',
      'forward, fresh filter',
      'input gradient',
      'by flipped conv',
      'filter gradient',
      'its matMul alone',
    ],
    rows.map((r) => [
      r.shape,
      ...[
        r.forward,
        r.forwardFreshFilter,
        r.inputGradient,
        r.inputGradientByFlippedConv,
        r.filterGradient,
        r.filterProductAlone,
      ].map(cell),
    ]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
  ),
].join('\n');
writeMarkedSection(join(packageDir, 'README.md'), '<!-- conv-shapes:begin -->', '<!-- conv-shapes:end -->', table);
console.log(table);
