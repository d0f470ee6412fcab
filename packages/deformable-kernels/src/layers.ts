import * as tf from '@tensorflow/tfjs-core';
import {
  Conv2d,
  Linear,
  Module,
  type Rng,
  argumentError,
  assertInteger,
  checkShapes,
  pair,
  rngOption,
  type ConvAttributes,
  type Layer,
} from '@deformjs/core';
import { deformKernelConv2d, deformKernelDepthwise, globalDeformKernelDepthwise } from './ops';
import { clampDeltasToScope } from './resampling';

export interface DeformKernelLayerOptions {
  /** in_planes = out_planes = groups: Deformable Kernels are depthwise. */
  channels: number;
  /** The scope kernel's size (the official `weight_shape`), e.g. 4 or [4, 4] for an effective 3x3 kernel. */
  scope: number | [number, number];
  /** The effective kernel k. */
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  /** Seeds the initialisation (a number or an Rng to draw from). */
  rng?: Rng | number;
}

export interface LocalDeformKernelOptions extends DeformKernelLayerOptions {
  /** R: channel c follows rotation group c % R. Default 1. */
  rotationGroups?: number;
  /**
   * The official `rotation_clip`: 'scope' keeps every tap inside the scope (deltas clamped so that
   * grid + delta lies in [0, scope - 1]), [min, max] clamps the deltas themselves; default none.
   */
  rotationClip?: 'scope' | [number, number] | null;
}

/** Checks a layer's input before its predictor conv sees it, so the error names the layer and the argument. */
function checkInput(op: string, x: tf.Tensor, channels: number): void {
  if (!(x instanceof tf.Tensor)) throw argumentError(op, 'x', 'a tensor', x);
  checkShapes(op, [{ name: 'x', shape: x.shape, expected: ['N', 'H', 'W', channels] }]);
}

/** The official SampleDepthwise init: U(+-1/sqrt(kh*kw)) (the effective kernel's fan-in, not the scope's). */
function scopeKernelInit(rng: Rng, scope: [number, number], channels: number, kernel: [number, number]): tf.Tensor {
  const bound = 1 / Math.sqrt(kernel[0] * kernel[1]);
  return rng.uniformTensor([scope[0], scope[1], channels, 1], -bound, bound);
}

/** A conv or linear predictor initialised to zero, as the official `zero_init` flag asks: no deformation at start. */
function zeroed<M extends Conv2d | Linear>(layer: M): M {
  for (const variable of [layer.weight, layer.bias]) {
    if (!variable) continue;
    const zeros = tf.zerosLike(variable);
    variable.assign(zeros);
    zeros.dispose();
  }
  return layer;
}

interface Resolved extends ConvAttributes {
  channels: number;
  scope: [number, number];
  kernel: [number, number];
}

function resolve(op: string, options: DeformKernelLayerOptions): Resolved {
  if (options === null || typeof options !== 'object')
    throw argumentError(op, 'options', '{ channels, scope, kernelSize, ... }', options);
  const resolved = {
    channels: assertInteger(op, 'channels', options.channels, 1),
    scope: pair(op, 'scope', options.scope),
    kernel: pair(op, 'kernelSize', options.kernelSize),
    stride: pair(op, 'stride', options.stride ?? 1),
    padding: pair(op, 'padding', options.padding ?? 0, 0),
    dilation: pair(op, 'dilation', options.dilation ?? 1),
  };
  const { scope, kernel } = resolved;
  if (scope[0] < kernel[0] || scope[1] < kernel[1])
    throw argumentError(op, 'scope', `at least kernelSize [${kernel}] in each dimension`, scope);
  return resolved;
}

/**
 * The zero-initialised k x k conv (with the layer's stride, padding and dilation) that predicts `groups` sets of
 * k*k (dh, dw) pairs per output position: kernel deltas (`rotation_conv`, groups = R) or image offsets
 * (`offset_conv`, one group).
 */
function deltaPredictor(rng: Rng, config: Resolved, groups: number): Conv2d {
  const { channels, kernel, stride, padding, dilation } = config;
  return zeroed(
    new Conv2d(rng, channels, groups * kernel[0] * kernel[1] * 2, kernel, { stride, padding, dilation, bias: true }),
  );
}

/** The official modules' `inner_conv`: just the scope kernel, so state_dict keys read `inner_conv.weight`. */
class ScopeKernel extends Module {
  readonly weight: tf.Variable;
  constructor(init: tf.Tensor) {
    super();
    this.weight = this.addParameter('weight', init, 'depthwise');
  }
}

/**
 * LocalDeformKernel2d (alias DeformKernel2d): `rotation_conv` (a k x k conv with the block's stride, padding and
 * dilation, C -> R*k*k*2, zero-initialised) predicts per-position kernel deltas, and `inner_conv.weight`, the
 * scope kernel [scopeH, scopeW, C, 1], is resampled at them (deformKernelDepthwise). A drop-in for the
 * depthwise conv of a block: forward(x [N, H, W, C]) -> [N, Ho, Wo, C]. At initialisation it is the depthwise
 * conv with the scope kernel's centre crop (scope - k even) or its 2x2-averaged taps (odd).
 */
export class LocalDeformKernel2d extends Module implements Layer {
  readonly config: Resolved & { rotationGroups: number; rotationClip: 'scope' | [number, number] | null };
  readonly rotationConv: Conv2d;
  readonly innerConv: ScopeKernel;

  constructor(options: LocalDeformKernelOptions) {
    super();
    const op = 'LocalDeformKernel2d';
    const base = resolve(op, options);
    const rotationGroups = assertInteger(op, 'rotationGroups', options.rotationGroups ?? 1, 1);
    if (base.channels % rotationGroups !== 0)
      throw argumentError(op, 'rotationGroups', `a divisor of channels = ${base.channels}`, rotationGroups);
    const clip = options.rotationClip ?? null;
    if (!(clip === null || clip === 'scope' || (Array.isArray(clip) && clip.length === 2 && clip[0] <= clip[1]))) {
      throw argumentError(op, 'rotationClip', "'scope', [min, max] with min <= max, or null", clip);
    }
    this.config = { ...base, rotationGroups, rotationClip: clip };
    const rng = rngOption(op, options.rng);
    this.rotationConv = this.addModule('rotation_conv', deltaPredictor(rng, base, rotationGroups));
    this.innerConv = this.addModule(
      'inner_conv',
      new ScopeKernel(scopeKernelInit(rng, base.scope, base.channels, base.kernel)),
    );
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    checkInput('LocalDeformKernel2d', x, this.config.channels);
    return tf.tidy(() => {
      const deltas = this.clip(this.rotationConv.forward(x));
      return deformKernelDepthwise(x, this.innerConv.weight, deltas, this.opOptions());
    });
  }

  private clip(deltas: tf.Tensor): tf.Tensor {
    const { rotationClip, kernel, scope, rotationGroups } = this.config;
    if (rotationClip === null) return deltas;
    if (rotationClip === 'scope') return clampDeltasToScope(deltas, kernel, scope, rotationGroups);
    return tf.clipByValue(deltas, rotationClip[0], rotationClip[1]);
  }

  private opOptions() {
    const { kernel, stride, padding, dilation } = this.config;
    return { kernelSize: kernel, stride, padding, dilation };
  }
}

/** The official default: the local variant. */
export const DeformKernel2d = LocalDeformKernel2d;

/**
 * GlobalDeformKernel2d: `fc` (Linear(C, k*k*2), zero-initialised) of the global average of the input gives one
 * set of kernel deltas per image; `weight` [scopeH, scopeW, C, 1] is resampled there (positions clamped to the
 * scope) and each image is convolved depthwise with its own kernel (globalDeformKernelDepthwise).
 * forward(x [N, H, W, C]) -> [N, Ho, Wo, C].
 */
export class GlobalDeformKernel2d extends Module implements Layer {
  readonly config: Resolved;
  readonly weight: tf.Variable;
  readonly fc: Linear;

  constructor(options: DeformKernelLayerOptions) {
    super();
    this.config = resolve('GlobalDeformKernel2d', options);
    const rng = rngOption('GlobalDeformKernel2d', options.rng);
    const { channels, scope, kernel } = this.config;
    this.weight = this.addParameter('weight', scopeKernelInit(rng, scope, channels, kernel), 'depthwise');
    this.fc = this.addModule('fc', zeroed(new Linear(rng, channels, kernel[0] * kernel[1] * 2)));
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    checkInput('GlobalDeformKernel2d', x, this.config.channels);
    return tf.tidy(() => {
      const deltas = this.fc.forward(tf.mean(x, [1, 2]));
      const { kernel, stride, padding, dilation } = this.config;
      return globalDeformKernelDepthwise(x, this.weight, deltas, { kernelSize: kernel, stride, padding, dilation });
    });
  }
}

export interface DeformKernelConvOptions extends DeformKernelLayerOptions {
  /**
   * null (default, the official module): the scope kernel is read at its undeformed taps. R: a `rotation_conv`
   * as LocalDeformKernel2d's (R rotation groups, zero-initialised) also predicts kernel deltas, so the layer
   * deforms the image sampling (DCN) and the kernel (DK) together: the paper's DK + DCN.
   */
  rotationGroups?: number | null;
}

/**
 * DeformKernelConv2d: image-space offsets (DCN style) from `offset_conv` (k x k conv, C -> k*k*2, zero-initialised,
 * its output times the dilation, as the official module does), sampled bilinearly, times the scope kernel
 * `inner_conv.weight` read at the undeformed taps (deformKernelConv2d with deltas null), or, with
 * `rotationGroups`, at the kernel deltas of `rotation_conv`. With scope = kernelSize and no rotation it is the
 * official depthwise DCN (`DeformConv2d` of hangg7/deformable-kernels). forward(x [N, H, W, C]) -> [N, Ho, Wo, C].
 */
export class DeformKernelConv2d extends Module implements Layer {
  readonly config: Resolved & { rotationGroups: number | null };
  readonly offsetConv: Conv2d;
  readonly rotationConv: Conv2d | null;
  readonly innerConv: ScopeKernel;

  constructor(options: DeformKernelConvOptions) {
    super();
    const op = 'DeformKernelConv2d';
    const base = resolve(op, options);
    const rotationGroups =
      options.rotationGroups == null ? null : assertInteger(op, 'rotationGroups', options.rotationGroups, 1);
    if (rotationGroups !== null && base.channels % rotationGroups !== 0)
      throw argumentError(op, 'rotationGroups', `a divisor of channels = ${base.channels}`, rotationGroups);
    this.config = { ...base, rotationGroups };
    const rng = rngOption(op, options.rng);
    const { channels, scope, kernel } = base;
    this.offsetConv = this.addModule('offset_conv', deltaPredictor(rng, base, 1));
    this.rotationConv =
      rotationGroups === null ? null : this.addModule('rotation_conv', deltaPredictor(rng, base, rotationGroups));
    this.innerConv = this.addModule('inner_conv', new ScopeKernel(scopeKernelInit(rng, scope, channels, kernel)));
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    checkInput('DeformKernelConv2d', x, this.config.channels);
    return tf.tidy(() => {
      const { kernel, stride, padding, dilation } = this.config;
      const scale =
        dilation[0] === dilation[1] ? tf.scalar(dilation[0]) : tf.tile(tf.tensor1d(dilation), [kernel[0] * kernel[1]]);
      const offsets = tf.mul(this.offsetConv.forward(x), scale);
      const deltas = this.rotationConv ? this.rotationConv.forward(x) : null;
      return deformKernelConv2d(x, this.innerConv.weight, offsets, deltas, {
        kernelSize: kernel,
        stride,
        padding,
        dilation,
      });
    });
  }
}
