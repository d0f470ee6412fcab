import { assertOneOf } from '@deformjs/core';
import { GroupNorm } from './group_norm';
import { BatchNorm2d, FrozenBatchNorm2d, type Layer } from './layers';

/**
 * The norms a backbone (ResNet, MobileNet) can put after its convs:
 * - 'batch': trainable BatchNorm2d (batch statistics in training, running averages in evaluation);
 * - 'frozen': FrozenBatchNorm2d (a fixed affine map: pretrained backbones, DETR's);
 * - 'instance': GroupNorm with one channel per group (InstanceNorm2d with affine weights): per image and channel,
 *   the statistics over the positions, in training and evaluation alike. On batches of one image these are exactly
 *   the statistics 'batch' trains with, so a detector trained one image per step evaluates with what it learned
 *   on, where 'batch' switches to running averages over other images.
 */
export const NORM_KINDS = ['batch', 'frozen', 'instance'] as const;
export type NormKind = (typeof NORM_KINDS)[number];

/** The checked norm kind of `op`'s argument `arg` (default 'batch'). */
export function normKind(op: string, kind: string | undefined, arg = 'norm'): NormKind {
  return assertOneOf(op, arg, kind ?? 'batch', NORM_KINDS);
}

/** A norm layer of `kind` over `channels` channels (PyTorch names: weight, bias and batch norm's buffers). */
export function makeNorm(kind: NormKind, channels: number): Layer {
  if (kind === 'batch') return new BatchNorm2d(channels);
  if (kind === 'frozen') return new FrozenBatchNorm2d(channels);
  return new GroupNorm(channels, channels);
}
