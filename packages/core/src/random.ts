import * as tf from '@tensorflow/tfjs-core';
import { argumentError, sizeOf } from '@deformjs/validate';

/**
 * A small seeded generator (sfc32) whose whole state can be saved in a checkpoint and restored, so
 * initialisation, data order and augmentation are reproducible and resumable.
 */
export class Rng {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  constructor(seed: number | readonly number[] = 0) {
    if (typeof seed === 'number') {
      this.s = new Uint32Array([0x9e3779b9, 0x243f6a88, 0xb7e15162, seed >>> 0]);
      for (let i = 0; i < 15; i++) this.nextUint32();
    } else {
      if (seed.length !== 4 && seed.length !== 5)
        throw new Error(`Rng: a saved state has 4 words and an optional cached normal, got ${seed.length} numbers`);
      this.s = new Uint32Array(seed.slice(0, 4));
      this.spareNormal = seed.length === 5 ? seed[4] : null;
    }
  }

  /**
   * The whole generator state, for checkpoints: the four words, then the normal that Box-Muller drew with the
   * last one and has not handed out yet, if any. `new Rng(state)` continues the exact sequence.
   */
  state(): number[] {
    const words = Array.from(this.s);
    return this.spareNormal === null ? words : [...words, this.spareNormal];
  }

  nextUint32(): number {
    const s = this.s;
    const t = (s[0] + s[1] + s[3]) >>> 0;
    s[3] = (s[3] + 1) >>> 0;
    s[0] = s[1] ^ (s[1] >>> 9);
    s[1] = (s[2] + (s[2] << 3)) >>> 0;
    s[2] = (s[2] << 21) | (s[2] >>> 11);
    s[2] = (s[2] + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.next();
  }

  /** Standard normal by the Box-Muller transform. */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mean + std * z;
    }
    const u = 1 - this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** An independent generator derived from this one (for a worker, a layer, an epoch). */
  fork(): Rng {
    return new Rng([this.nextUint32(), this.nextUint32(), this.nextUint32(), this.nextUint32() | 1]);
  }

  uniformArray(size: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.uniform(low, high);
    return out;
  }

  normalArray(size: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.normal(mean, std);
    return out;
  }

  uniformTensor(shape: number[], low = 0, high = 1): tf.Tensor {
    return tf.tensor(this.uniformArray(sizeOf(shape), low, high), shape);
  }

  normalTensor(shape: number[], mean = 0, std = 1): tf.Tensor {
    return tf.tensor(this.normalArray(sizeOf(shape), mean, std), shape);
  }
}

/**
 * A module's `rng` option: an Rng to draw from, or an integer seed for a new one (`fallbackSeed` when
 * absent). Anything else is refused here, before the module allocates a tensor, rather than failing later
 * with a TypeError halfway through its parameters.
 */
export function rngOption(op: string, value: unknown, fallbackSeed = 0): Rng {
  if (value instanceof Rng) return value;
  if (value === undefined) return new Rng(fallbackSeed);
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    throw argumentError(op, 'rng', 'an Rng or an integer seed', value);
  return new Rng(value);
}

/** PyTorch's xavier_uniform_: U(-a, a) with a = gain * sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform(rng: Rng, shape: number[], fanIn: number, fanOut: number, gain = 1): tf.Tensor {
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return rng.uniformTensor(shape, -a, a);
}

/**
 * PyTorch's default Linear/Conv weight init (kaiming_uniform_ with a = sqrt(5)), which is U(-b, b) with
 * b = 1 / sqrt(fanIn); the default bias init uses the same bound.
 */
export function torchDefaultUniform(rng: Rng, shape: number[], fanIn: number): tf.Tensor {
  const b = 1 / Math.sqrt(fanIn);
  return rng.uniformTensor(shape, -b, b);
}

/** kaiming_normal_(mode='fan_out', nonlinearity='relu'), as torchvision's ResNet initialises convs. */
export function kaimingNormalFanOut(rng: Rng, shape: number[], fanOut: number): tf.Tensor {
  return rng.normalTensor(shape, 0, Math.sqrt(2 / fanOut));
}
