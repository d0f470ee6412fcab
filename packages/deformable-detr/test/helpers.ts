import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { readPth, stateDictOf, loadWeights } from '@deformjs/weights';
import type { Module } from '@deformjs/core';
import type { DeformableDetrConfig } from '../src/index';

export function fixturePath(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

export interface ParityFixture {
  variant: string;
  config: {
    backbone_width: number;
    hidden_dim: number;
    nheads: number;
    enc_layers: number;
    dec_layers: number;
    dim_feedforward: number;
    num_feature_levels: number;
    enc_n_points: number;
    dec_n_points: number;
    num_queries: number;
    num_classes: number;
    with_box_refine: boolean;
    two_stage: boolean;
    image_size: [number, number];
  };
  images_nchw: number[][][][];
  mask: number[][][];
  pred_logits: number[][][];
  pred_boxes: number[][][];
  aux_logits: number[][][][];
  aux_boxes: number[][][][];
  enc_logits?: number[][][];
  enc_boxes?: number[][][];
}

export function parityFixture(variant: string): ParityFixture {
  return JSON.parse(readFileSync(fixturePath(`parity-${variant}.json`), 'utf8')) as ParityFixture;
}

/** The configuration fields both fixture scripts (DETR and Deformable DETR) write. */
export type SharedFixtureConfig = Pick<
  ParityFixture['config'],
  | 'backbone_width'
  | 'hidden_dim'
  | 'nheads'
  | 'enc_layers'
  | 'dec_layers'
  | 'dim_feedforward'
  | 'num_queries'
  | 'num_classes'
>;

/** The shared fields as our configs name them. */
export function sharedConfigOf(c: SharedFixtureConfig) {
  return {
    backbone: { depth: 18 as const, width: c.backbone_width },
    hiddenDim: c.hidden_dim,
    nHeads: c.nheads,
    encLayers: c.enc_layers,
    decLayers: c.dec_layers,
    dimFeedforward: c.dim_feedforward,
    dropout: 0.1,
    numQueries: c.num_queries,
    numClasses: c.num_classes,
    seed: 0,
  };
}

/** The fixture script's configuration as ours (its GroupNorm is upstream's 32 groups). */
export function configOf(f: ParityFixture): DeformableDetrConfig {
  const c = f.config;
  return {
    ...sharedConfigOf(c),
    numFeatureLevels: c.num_feature_levels,
    encNPoints: c.enc_n_points,
    decNPoints: c.dec_n_points,
    withBoxRefine: c.with_box_refine,
    twoStage: c.two_stage,
    groupNormGroups: 32,
  };
}

/** Loads a .pth state_dict into a module strictly (every key, every shape). */
export function loadPth(module: Module, name: string): void {
  const dict = stateDictOf(readPth(new Uint8Array(readFileSync(fixturePath(name))), name));
  loadWeights(module, dict, { strict: true });
}

/** NCHW nested lists -> an NHWC tensor. */
export function nhwc(images: number[][][][]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(images), [0, 2, 3, 1]) as tf.Tensor4D);
}
