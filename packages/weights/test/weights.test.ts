import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, Module, Rng } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import {
  decodeCheckpoint,
  readCheckpointModel,
  encodeCheckpoint,
  isDict,
  loadWeights,
  readPth,
  readSafetensors,
  renameKeys,
  stateDictOf,
  STRIP_MODULE_PREFIX,
  unpickle,
  writeSafetensors,
  type CheckpointableOptimizer,
  type OptimizerState,
  type PickleDict,
} from '../src/index';
import { loadCheckpoint, readPthFile, readSafetensorsFile, saveCheckpoint } from '../src/node';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const bytesOf = (name: string) => new Uint8Array(readFileSync(fixture(name)));

/** A safetensors file from a header object and a data block, for corrupt-file tests. */
function handMade(header: unknown, data: Uint8Array, lengthOverride?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthOverride ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

class Tiny extends Module {
  constructor() {
    super();
    this.addModule(
      'conv',
      new (class extends Module {
        constructor() {
          super();
          this.addParameter('weight', tf.zeros([3, 3, 3, 4]), 'conv2d');
          this.addParameter('bias', tf.zeros([4]));
        }
      })(),
    );
    this.addModule(
      'bn',
      new (class extends Module {
        constructor() {
          super();
          this.addParameter('weight', tf.zeros([4]));
          this.addParameter('bias', tf.zeros([4]));
          this.addBuffer('running_mean', tf.zeros([4]));
          this.addBuffer('running_var', tf.zeros([4]));
        }
      })(),
    );
  }
}

describe('safetensors', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('round-trips float32, int32, bool, scalars, empty tensors and metadata', async () => {
    await assertNoTensorLeak(() => {
      const tensors = {
        a: tf.tensor([
          [1.5, -2],
          [3, 4.25],
        ]),
        b: tf.tensor([1, -2, 2147483647], [3], 'int32'),
        c: tf.tensor([true, false], [2], 'bool'),
        scalar: tf.scalar(7),
        empty: tf.zeros([0, 3]),
      };
      const bytes = writeSafetensors(tensors, { kind: 'test' });
      expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
      const back = readSafetensors(bytes, 'rt.safetensors');
      expect(back.metadata).toEqual({ kind: 'test' });
      for (const [name, t] of Object.entries(tensors)) {
        expect(back.tensors[name].dtype).toBe(t.dtype);
        expect(back.tensors[name].shape).toEqual(t.shape);
        expect(Array.from(back.tensors[name].values)).toEqual(Array.from(t.dataSync()).map(Number));
      }
      tf.dispose(Object.values(tensors));
    });
  });

  it('stores float32 as F16 on request: nearest half, ties to even, overflow to infinity', () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10 (ties to the even 1); 1 + 3 * 2^-11 rounds up to 1 + 2^-9;
    // 2^-25 * 3 is halfway between two subnormals; 65520 is past the largest half (65504).
    const values = [
      0,
      -0,
      1,
      -2.5,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      65504,
      65520,
      2 ** -24,
      3 * 2 ** -25,
      2 ** -14,
      0.1,
    ];
    const expected = [0, -0, 1, -2.5, 1, 1 + 2 ** -9, 65504, Infinity, 2 ** -24, 2 ** -23, 2 ** -14, 0.0999755859375];
    const t = tf.tensor1d(values);
    const bytes = writeSafetensors({ w: t, i: tf.tensor1d([3], 'int32') }, {}, { floatDtype: 'F16' });
    t.dispose();
    const back = readSafetensors(bytes, 'half.safetensors');
    expect(back.tensors.i.values).toEqual(Int32Array.of(3));
    expect(Array.from(back.tensors.w.values)).toEqual(expected);
    const zeros = tf.zeros([64]);
    const size = (floatDtype: 'F32' | 'F16') => writeSafetensors({ zeros }, {}, { floatDtype }).length;
    expect(size('F32') - size('F16')).toBe(128);
    zeros.dispose();
    expect(() => writeSafetensors({}, {}, { floatDtype: 'F8' as 'F16' })).toThrow(/floatDtype/);
  });

  it('reads every supported dtype from a file written by the reference script', () => {
    const expected = JSON.parse(readFileSync(fixture('dtypes.json'), 'utf8')) as Record<string, number[]>;
    const { tensors, metadata } = readSafetensorsFile(fixture('dtypes.safetensors'));
    expect(metadata.source).toBe('make_fixtures.py');
    for (const [name, values] of Object.entries(expected)) {
      const t = tensors[name];
      expect(t.dtype).toBe(name === 'BOOL' ? 'bool' : name.startsWith('I') || name === 'U8' ? 'int32' : 'float32');
      // F64 values round to the nearest float32.
      expect(Array.from(t.values)).toEqual(t.dtype === 'float32' ? values.map((v) => Math.fround(v)) : values);
    }
  });

  it('refuses corrupt files with errors naming the file and tensor', () => {
    const data = new Uint8Array(8);
    const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    expect(() => readSafetensors(handMade(ok, data, 1 << 20), 'big.safetensors')).toThrow(
      /big\.safetensors: header length 1048576 runs past the end/,
    );
    expect(() => readSafetensors(new Uint8Array(3), 'short.st')).toThrow(/short\.st: not a safetensors file/);
    expect(() =>
      readSafetensors(handMade({ w: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, data), 'f.st'),
    ).toThrow(/f\.st: tensor 'w': data_offsets \[4, 12\] run past the end of the data \(8 bytes\)/);
    expect(() =>
      readSafetensors(handMade({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data), 'f.st'),
    ).toThrow(/tensor 'w': data_offsets \[0, 8\] hold 8 bytes, but F32 of shape \[3\] needs 12/);
    expect(() =>
      readSafetensors(
        handMade(
          {
            a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
            b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
          },
          data,
        ),
        'f.st',
      ),
    ).toThrow(/tensor 'b' at bytes \[4, 8\] overlaps/);
    expect(() =>
      readSafetensors(handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, data), 'f.st'),
    ).toThrow(/tensor 'a' starts at byte 4, leaving a gap/);
    expect(() =>
      readSafetensors(handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, data), 'f.st'),
    ).toThrow(/cover 4 bytes of data but the file holds 8/);
    expect(() =>
      readSafetensors(handMade({ w: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, data), 'f.st'),
    ).toThrow(/tensor 'w': unknown or unsupported dtype "C64"/);
    expect(() =>
      readSafetensors(handMade({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data), 'f.st'),
    ).toThrow(/shape must be a list of non-negative integers/);
    const notJson = handMade({}, data);
    notJson[8] = 0x7b + 1;
    expect(() => readSafetensors(notJson, 'f.st')).toThrow(/f\.st: the header is not valid UTF-8 JSON/);
  });

  it('narrows int64 to int32 only when the values fit', () => {
    const data = new Uint8Array(16);
    const view = new DataView(data.buffer);
    view.setBigInt64(0, -5n, true);
    view.setBigInt64(8, 2n ** 33n, true);
    const header = { w: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } };
    expect(() => readSafetensors(handMade(header, data), 'i64.st')).toThrow(
      /i64\.st: tensor 'w': int64 value 8589934592 at element 1 does not fit in int32/,
    );
    view.setBigInt64(8, -(2n ** 31n), true);
    expect(Array.from(readSafetensors(handMade(header, data), 'i64.st').tensors.w.values)).toEqual([-5, -(2 ** 31)]);
  });
});

describe('PyTorch .pth import', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('loads a torch.save checkpoint: nested dicts, args, strided views, every storage dtype', () => {
    const expected = JSON.parse(readFileSync(fixture('checkpoint.json'), 'utf8')) as {
      epoch: number;
      args: Record<string, unknown>;
      tensors: Record<string, { shape: number[]; values: number[] }>;
    };
    const checkpoint = readPthFile(fixture('checkpoint.pth')) as PickleDict;
    expect(isDict(checkpoint)).toBe(true);
    expect(checkpoint.epoch).toBe(expected.epoch);
    expect(checkpoint.note).toBe('fixture');
    expect({ ...(checkpoint.args as PickleDict) }).toEqual(expected.args);
    const state = stateDictOf(checkpoint);
    expect(Object.keys(state)).toEqual(Object.keys(expected.tensors));
    for (const [name, { shape, values }] of Object.entries(expected.tensors)) {
      expect(state[name].shape, name).toEqual(shape);
      expect(Array.from(state[name].values), name).toEqual(
        state[name].dtype === 'float32' ? values.map((v) => Math.fround(v)) : values,
      );
    }
    expect(state['views.transposed'].values).toEqual(
      Float32Array.from([0, 6, 12, 18, 1, 7, 13, 19, 2, 8, 14, 20, 3, 9, 15, 21, 4, 10, 16, 22, 5, 11, 17, 23]),
    );
    expect(state['backbone.bn.num_batches_tracked'].dtype).toBe('int32');
    expect(state['dtypes.bool'].dtype).toBe('bool');
  });

  it('reads the legacy (pre-1.6) torch.save format to the same values', () => {
    const zip = readPthFile(fixture('checkpoint.pth')) as PickleDict;
    const legacy = readPthFile(fixture('checkpoint_legacy.pth')) as PickleDict;
    expect(legacy.epoch).toBe(3);
    const a = stateDictOf(zip);
    const b = stateDictOf(legacy);
    expect(Object.keys(b)).toEqual(Object.keys(a));
    for (const k of Object.keys(a)) {
      expect(b[k].shape, k).toEqual(a[k].shape);
      expect(Array.from(b[k].values), k).toEqual(Array.from(a[k].values));
    }
    const bytes = bytesOf('checkpoint_legacy.pth');
    expect(() => readPth(bytes.subarray(0, bytes.length - 10), 'cut_legacy.pth')).toThrow(
      /cut_legacy\.pth: storage '\d+' .*(runs past the end|does not match)/,
    );
  });

  it('renames DataParallel keys and loads into a Module with layout conversion and a report', async () => {
    const plain = stateDictOf(readPthFile(fixture('checkpoint.pth')));
    const parallel = stateDictOf(readPthFile(fixture('data_parallel.pth')));
    expect(Object.keys(parallel)[0]).toBe('module.backbone.conv.weight');
    const net = new Tiny();
    await assertNoTensorLeak(() => {
      const report = loadWeights(net, parallel, {
        rules: [STRIP_MODULE_PREFIX, [/^backbone\./, '']],
        ignore: [/num_batches_tracked$/],
      });
      expect(report.ignored).toEqual(['bn.num_batches_tracked']);
      expect(report.unexpected).toEqual([]);
      expect(report.missing).toEqual([]);
      expect(report.loaded).toHaveLength(6);
    });
    // torch OIHW (4, 3, 3, 3) -> ours HWIO (3, 3, 3, 4): ours[h, w, i, o] = torch[o, i, h, w].
    const ours = net.stateDict();
    const torchWeight = plain['backbone.conv.weight'].values;
    const weight = ours['conv.weight'].dataSync();
    expect(weight[((1 * 3 + 2) * 3 + 0) * 4 + 3]).toBe(torchWeight[((3 * 3 + 0) * 3 + 1) * 3 + 2]);
    tf.dispose(Object.values(ours));
    const partial = loadWeights(net, {
      'conv.bias': plain['backbone.conv.bias'],
      'head.weight': plain['backbone.conv.bias'],
    });
    expect(partial.unexpected).toEqual(['head.weight']);
    expect(partial.missing).toContain('bn.running_var');
    expect(() => loadWeights(net, { 'conv.bias': plain['backbone.conv.weight'] })).toThrow(
      /'conv.bias' expected shape \[4\]/,
    );
    expect(() => loadWeights(net, plain, { strict: true })).toThrow(/missing keys/);
    expect(() => renameKeys({ 'a.x': 1, 'b.x': 2 }, [[/^[ab]\./, '']])).toThrow(/'b.x' and 'a.x' both become 'x'/);
    net.dispose();
  });

  it('refuses int64 values that do not fit in int32', () => {
    expect(() => readPthFile(fixture('int64_overflow.pth'))).toThrow(
      /int64_overflow\.pth: tensor on storage '0': int64 value 1099511627776 at element 0 does not fit in int32/,
    );
  });

  it('refuses a pickle that would call os.system, before anything could run', () => {
    expect(() => readPthFile(fixture('malicious.pth'))).toThrow(
      /malicious\.pth: refusing to unpickle: global 'posix\.system' is not allowed/,
    );
    const marker = '/tmp/deformjs-weights-pwned-marker';
    rmSync(marker, { force: true });
    expect(() => readPthFile(fixture('malicious_marker.pth'))).toThrow(/global 'posix\.system' is not allowed/);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses other globals, reduces of non-globals and truncated or corrupt input', () => {
    const opts = { fileName: 'x.pkl', allowed: { 'collections.OrderedDict': { call: () => ({}) } } };
    const enc = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
    // protocol 2: STACK_GLOBAL 'builtins' 'eval'
    expect(() => unpickle(enc('\x80\x04\x8c\x08builtins\x8c\x04eval\x93)R.'), opts)).toThrow(
      /global 'builtins\.eval' is not allowed/,
    );
    expect(() => unpickle(enc('\x80\x02cbuiltins\ngetattr\n)R.'), opts)).toThrow(
      /global 'builtins\.getattr' is not allowed/,
    );
    expect(() => unpickle(enc('\x80\x02K\x01)R.'), opts)).toThrow(/REDUCE of something that is not an allowed global/);
    expect(() => unpickle(enc('\x80\x02}q\x00(X\x01\x00\x00\x00a'), opts)).toThrow(/truncated pickle/);
    expect(() => unpickle(enc('\x80\x02i.'), opts)).toThrow(/unsupported pickle opcode 0x69/);
    expect(() => unpickle(enc('\x80\x02}(\x8c\x09__proto__K\x05u.'), opts)).not.toThrow();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const bytes = bytesOf('checkpoint.pth');
    expect(() => readPth(bytes.subarray(0, bytes.length - 30), 'cut.pth')).toThrow(/cut\.pth: not a zip archive/);
    expect(() => readPth(new Uint8Array(100), 'zeros.pth')).toThrow(/zeros\.pth: not a zip archive/);
  });
});

class CountingOptimizer implements CheckpointableOptimizer {
  moment = tf.variable(tf.zeros([3]));
  steps = 0;
  saveState(): OptimizerState {
    return { tensors: { moment: tf.clone(this.moment) }, meta: { steps: this.steps } };
  }
  loadState(state: OptimizerState): void {
    this.moment.assign(state.tensors.moment);
    this.steps = (state.meta as { steps: number }).steps;
  }
}

describe('training checkpoint', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('saves atomically and restores model, optimizer, step, epoch, RNG streams and config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deformjs-ckpt-'));
    try {
      const net = new Tiny();
      const stats = tf.tensor([1, 2, 3, 4]);
      net.loadStateDict({ 'bn.running_mean': stats }, { strict: false });
      stats.dispose();
      const optimizer = new CountingOptimizer();
      optimizer.moment.assign(tf.tensor([0.5, 0.25, -1]));
      optimizer.steps = 17;
      const rng = new Rng(42);
      rng.next();
      const path = join(dir, 'ckpt.safetensors');
      await assertNoTensorLeak(() =>
        saveCheckpoint(path, { model: net, optimizer, step: 17, epoch: 2, rngs: { data: rng }, config: { lr: 1e-3 } }),
      );
      expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
      const continued = [rng.next(), rng.next()];

      const restoredNet = new Tiny();
      const restoredOptimizer = new CountingOptimizer();
      const restored = await assertNoTensorLeak(() =>
        loadCheckpoint(path, { model: restoredNet, optimizer: restoredOptimizer }),
      );
      expect(restored.step).toBe(17);
      expect(restored.epoch).toBe(2);
      expect(restored.config).toEqual({ lr: 1e-3 });
      const resumed = new Rng(restored.rngStates.data);
      expect([resumed.next(), resumed.next()]).toEqual(continued);
      expect(Array.from(restoredNet.stateDict()['bn.running_mean'].dataSync())).toEqual([1, 2, 3, 4]);
      expect(Array.from(restoredOptimizer.moment.dataSync())).toEqual([0.5, 0.25, -1]);
      expect(restoredOptimizer.steps).toBe(17);

      const withoutOptimizer = encodeCheckpoint({ model: net, step: 1, epoch: 0 });
      expect(() =>
        decodeCheckpoint(withoutOptimizer, { model: restoredNet, optimizer: restoredOptimizer }, 'n.ckpt'),
      ).toThrow(/n\.ckpt: the checkpoint holds no optimizer state/);
      expect(() =>
        decodeCheckpoint(writeSafetensors({ a: tf.zeros([1]) }), { model: restoredNet }, 'plain.st'),
      ).toThrow(/plain\.st: not a deformjs training checkpoint/);
      expect(existsSync(path)).toBe(true);

      // The model's tensors alone, by state_dict name (no optimizer tensors, no prefix), for partial initialisation.
      const modelOnly = readCheckpointModel(new Uint8Array(readFileSync(path)), 'ckpt');
      const stateDict = net.stateDict();
      expect(Object.keys(modelOnly).sort()).toEqual(Object.keys(stateDict).sort());
      tf.dispose(Object.values(stateDict));
      expect(Array.from(modelOnly['bn.running_mean'].values as Float32Array)).toEqual([1, 2, 3, 4]);
      expect(() => readCheckpointModel(writeSafetensors({ a: tf.zeros([1]) }), 'plain.st')).toThrow(
        /plain\.st: not a deformjs training checkpoint/,
      );
      net.dispose();
      restoredNet.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
