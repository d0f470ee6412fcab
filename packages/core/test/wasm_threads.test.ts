import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, wasmThreads } from '../src/index';
import { checkWasmVersion, requestedThreads } from '../src/wasm_threads';
import { kernelWork, poolPointerAddress, usesPool } from '../src/wasm_pool_gate';
import { tfjsGradients } from '../tfjs_gradients_plugin';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

// A command-line app with core built by the rule of its own build (tfjs-core and the backends from node_modules, as
// a package installed from the registry loads them). It prints the thread count
// and the exact bits of dense, fused and training-kernel results, then simply ends: the test checks that the
// process exits by itself (pthreadpool's workers never finish their loop).
const APP = `
import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { initBackend, transpose2d, wasmThreads } from '@deformjs/core';

function seeded(shape: number[], seed: number): tf.Tensor {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = seed >>> 0;
  for (let i = 0; i < values.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    values[i] = s / 4294967296 - 0.5;
  }
  return tf.tensor(values, shape);
}
const bits = (t: tf.Tensor) => createHash('sha256').update(new Uint8Array(t.dataSync().buffer)).digest('hex');

const backend = await initBackend('wasm');
const a = seeded([300, 500], 1) as tf.Tensor2D;
const b = seeded([500, 200], 2) as tf.Tensor2D;
const bias = seeded([200], 3);
const x = seeded([2, 20, 20, 32], 4) as tf.Tensor4D;
const w = seeded([3, 3, 32, 48], 5) as tf.Tensor4D;
const convGrads = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 1, 'same'));
const [dx, dw] = convGrads([x, w]);
// Shapes above the thresholds at which core splits the training kernels' array loops over worker threads (runSplit):
// the NHWC-to-planes transpose and im2col of the filter gradient, col2im of a strided input gradient, the flipped
// filter of a stride-1 one, MaxPoolGrad over channels, and the 2-d transpose kernel.
const gradsOf = (strides: number) =>
  tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, strides, 'same'));
const [, splitFilterGradient] = gradsOf(1)([seeded([2, 48, 48, 128], 7), seeded([3, 3, 128, 32], 8)]);
const [stridedInputGradient] = gradsOf(2)([seeded([1, 64, 64, 64], 9), seeded([3, 3, 64, 64], 10)]);
const [flippedInputGradient] = gradsOf(1)([seeded([1, 24, 24, 256], 11), seeded([3, 3, 256, 256], 12)]);
const pool = tf.grad((p: tf.Tensor) => tf.maxPool(p as tf.Tensor4D, 3, 2, 'same'));
console.log(JSON.stringify({
  backend,
  threads: wasmThreads(),
  matMul: bits(tf.matMul(a, b)),
  smallMatMul: bits(tf.matMul(tf.slice(a, [0, 0], [30, 500]), b)),
  elementwise: bits(tf.tanh(tf.add(tf.mul(a, a), 0.5))),
  conv2d: bits(tf.conv2d(x, w, 1, 'same')),
  fusedMatMul: bits(tf.fused.matMul({ a, b, bias, activation: 'relu' })),
  fusedConv2d: bits(tf.fused.conv2d({ x, filter: w, strides: 2, pad: 'same', bias: seeded([48], 6), activation: 'relu' })),
  conv2dInputGradient: bits(dx),
  conv2dFilterGradient: bits(dw),
  splitFilterGradient: bits(splitFilterGradient),
  stridedInputGradient: bits(stridedInputGradient),
  flippedInputGradient: bits(flippedInputGradient),
  maxPoolGradient: bits(pool(tf.round(tf.mul(seeded([2, 64, 64, 64], 13), 8)))),
  transpose: bits(transpose2d(seeded([1024, 600], 14) as tf.Tensor2D)),
}));
`;

describe('wasm threads in Node', () => {
  let dir = '';
  let app = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(packageDir, '.threads-test-'));
    writeFileSync(join(dir, 'app.ts'), APP);
    await build({
      entry: { app: join(dir, 'app.ts') },
      outDir: join(dir, 'out'),
      format: ['esm'],
      platform: 'node',
      target: 'node20',
      external: [/^@tensorflow\/tfjs-(core|backend-cpu|backend-wasm)$/],
      noExternal: [/^@deformjs\//, /^@tensorflow\/tfjs-core\/dist\/register_all_gradients/],
      esbuildPlugins: [tfjsGradients()],
      dts: false,
      config: false,
      silent: true,
      esbuildOptions(options) {
        options.alias = { '@deformjs/core': join(packageDir, 'src', 'index.ts') };
      },
    });
    app = join(dir, 'out', 'app.js');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const runApp = (threads: string) => {
    const result = spawnSync(process.execPath, [app], {
      encoding: 'utf8',
      cwd: packageDir,
      env: { ...process.env, DEFORMJS_THREADS: threads },
      timeout: 90_000,
    });
    // A process kept alive by its workers would be killed by the timeout: signal set, status null.
    expect({ signal: result.signal, status: result.status, stderr: result.stderr }).toEqual({
      signal: null,
      status: 0,
      stderr: '',
    });
    return JSON.parse(result.stdout.trim().split('\n').pop()!);
  };

  it('gives results bit-identical to one thread, and the process exits by itself', () => {
    const one = runApp('1');
    const two = runApp('2');
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect({ ...two, threads: 1 }).toEqual(one);
  });

  it('starts two threads inside a vitest worker', async () => {
    expect(await initBackend('wasm', { threads: 2 })).toBe('wasm');
    expect(wasmThreads()).toBe(2);
    const y = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]));
    expect(Array.from(y.dataSync().slice(0, 3))).toEqual([64, 64, 64]);
    tf.dispose(y);
    // The pool gate found the C++ backend's pool pointer: clearing it makes the backend report no pool (-1).
    const module = (tf.backend() as unknown as { wasm: { HEAP32: Int32Array; _get_threads_count(): number } }).wasm;
    const require = createRequire(import.meta.url);
    const wasmFile = join(
      dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')),
      'wasm-out',
      'tfjs-backend-wasm-threaded-simd.wasm',
    );
    const address = poolPointerAddress(readFileSync(wasmFile));
    expect(address).not.toBeNull();
    const pool = module.HEAP32[address! / 4];
    expect(pool).not.toBe(0);
    module.HEAP32[address! / 4] = 0;
    expect(module._get_threads_count()).toBe(-1);
    module.HEAP32[address! / 4] = pool;
    expect(module._get_threads_count()).toBe(2);
    // The count is fixed at the first start: asking for another one says so; DEFORMJS_THREADS (1 in the test
    // config) and the default take the running backend as it is.
    await expect(initBackend('wasm', { threads: 1 })).rejects.toThrow(/already runs 2 thread\(s\) and 1 were asked/);
    expect(await initBackend('wasm')).toBe('wasm');
    expect(wasmThreads()).toBe(2);
  });
});

describe('the pool gate', () => {
  const info = (shape: number[]) => ({ dataId: {}, shape, dtype: 'float32' as const });

  it('counts multiply-adds of dense kernels and elements of the others', () => {
    expect(kernelWork('BatchMatMul', { a: info([2, 30, 40]), b: info([2, 40, 50]) }, {})).toEqual({
      dense: true,
      work: 2 * 30 * 40 * 50,
    });
    expect(kernelWork('BatchMatMul', { a: info([1, 40, 30]), b: info([1, 40, 50]) }, { transposeA: true }).work).toBe(
      30 * 40 * 50,
    );
    expect(kernelWork('Conv2D', { x: info([1, 8, 8, 16]), filter: info([3, 3, 16, 32]) }, {}).work).toBe(
      64 * 9 * 16 * 32,
    );
    expect(kernelWork('Add', { a: info([10, 10]), b: info([10]) }, {})).toEqual({ dense: false, work: 110 });
  });

  it('gives the pool to large calls only', () => {
    expect(usesPool('BatchMatMul', { a: info([1, 256, 256]), b: info([1, 256, 256]) }, {})).toBe(true);
    expect(usesPool('BatchMatMul', { a: info([1, 100, 256]), b: info([1, 256, 64]) }, {})).toBe(false);
    expect(usesPool('Multiply', { a: info([256, 256]), b: info([256, 256]) }, {})).toBe(false);
    expect(usesPool('Relu', { x: info([4, 256, 256, 8]) }, {})).toBe(true);
  });

  it('finds no pool pointer in a module without the expected function', () => {
    expect(poolPointerAddress(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0))).toBeNull();
  });
});

describe('thread requests', () => {
  it('takes the option, then DEFORMJS_THREADS, then every core', async () => {
    const saved = process.env.DEFORMJS_THREADS;
    try {
      process.env.DEFORMJS_THREADS = '3';
      expect(await requestedThreads(2)).toEqual({ count: 2, source: 'option' });
      expect(await requestedThreads(undefined)).toEqual({ count: 3, source: 'env' });
      delete process.env.DEFORMJS_THREADS;
      const auto = await requestedThreads(undefined);
      expect(auto.source).toBe('default');
      expect(auto.count).toBeGreaterThanOrEqual(1);
      expect(auto.count).toBeLessThanOrEqual(8);
    } finally {
      if (saved === undefined) delete process.env.DEFORMJS_THREADS;
      else process.env.DEFORMJS_THREADS = saved;
    }
  });

  it('rejects bad counts naming the option or the variable', async () => {
    await expect(initBackend('wasm', { threads: 0 })).rejects.toThrow(
      /options.threads must be an integer from 1 to 8 .*got 0/,
    );
    const saved = process.env.DEFORMJS_THREADS;
    process.env.DEFORMJS_THREADS = 'two';
    try {
      await expect(initBackend('auto')).rejects.toThrow(/DEFORMJS_THREADS must be an integer from 1 to 8 .*got "two"/);
    } finally {
      if (saved === undefined) delete process.env.DEFORMJS_THREADS;
      else process.env.DEFORMJS_THREADS = saved;
    }
  });

  it('refuses another tfjs-backend-wasm version with what to do', () => {
    expect(() => checkWasmVersion('4.22.0')).not.toThrow();
    expect(() => checkWasmVersion('4.23.0')).toThrow(
      /internals of @tensorflow\/tfjs-backend-wasm 4\.22\.0 .*but 4\.23\.0 is loaded.*threads: 1 .*DEFORMJS_THREADS=1/,
    );
  });
});
