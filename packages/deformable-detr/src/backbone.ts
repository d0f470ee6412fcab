import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@deformjs/core';
import { ResNet, type FeatureName } from '@deformjs/nn';
import type { BackboneConfig } from './config';

/** DETR's Backbone: the ResNet under `body` (frozen batch norm), returning C3..C5 or C5 only. */
export class Backbone extends Module {
  readonly body: ResNet;
  readonly features: FeatureName[];
  readonly channels: number[];

  constructor(config: BackboneConfig, returnIntermediate: boolean, seed: number) {
    super();
    this.features = returnIntermediate ? ['C3', 'C4', 'C5'] : ['C5'];
    this.body = this.addModule(
      'body',
      new ResNet({ depth: config.depth, width: config.width, norm: 'frozen', returnFeatures: this.features, seed }),
    );
    this.channels = this.features.map((f) => this.body.channels[f]);
  }

  forward(images: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => {
      const out = this.body.forward(images);
      return this.features.map((f) => out[f]!);
    });
  }
}
