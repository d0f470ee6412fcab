import * as tf from '@tensorflow/tfjs-core';
import { Module, plainConv3x3 } from '@deformjs/core';
import { deformConv3x3 } from '@deformjs/dcn';
import { FPN, MobileNet, ResNet } from '@deformjs/nn';
import { SparseResNet } from '@deformjs/sparse-interp';
import type { FasterRcnnConfig } from './config';

/** FPN level strides of P2..P6 ('0', '1', '2', '3', 'pool' in torchvision). */
export const LEVEL_STRIDES = [4, 8, 16, 32, 64];

/**
 * torchvision's BackboneWithFPN (resnet_fpn_backbone): the ResNet under `body` returning C2..C5, and `fpn` with
 * LastLevelMaxPool, giving P2..P6 with `fpnChannels` channels. DCN stages swap the 3x3 convs of layer2..layer4
 * for deformable ones (mmdet's keys: `body.layer2.0.conv2.conv_offset.weight`). `backbone.arch` 'mobilenet' puts
 * a MobileNet v1 under `body` instead (the same C2..C5 interface). A sparse backbone (`config.backbone.sparse`) is
 * the SparseResNet of spatially adaptive inference (arXiv 2003.08866): its bottlenecks compute conv1 and conv2 at
 * sampled positions in evaluation, and training adds its sparsity loss.
 */
export class BackboneWithFPN extends Module {
  readonly body: ResNet | MobileNet | SparseResNet;
  readonly fpn: FPN;

  constructor(config: FasterRcnnConfig) {
    super();
    const { backbone, dcn, seed } = config;
    const conv3x3 =
      dcn.stages === 'none'
        ? plainConv3x3
        : deformConv3x3({ stages: ['C3', 'C4', 'C5'], version: dcn.version, deformGroups: dcn.deformGroups });
    const { depth, width, norm, sparse } = backbone;
    this.body = this.addModule(
      'body',
      backbone.arch === 'mobilenet'
        ? new MobileNet({ width, norm, seed })
        : sparse
          ? new SparseResNet({
              depth: depth as 50 | 101,
              width,
              norm: norm as 'batch' | 'frozen',
              sparseLossWeight: sparse.lossWeight,
              seed,
            })
          : new ResNet({ depth, width, norm, conv3x3, seed }),
    );
    const channels = sparse
      ? [1, 2, 4, 8].map((m) => width * m * 4)
      : (['C2', 'C3', 'C4', 'C5'] as const).map((f) => (this.body as ResNet | MobileNet).channels[f]);
    this.fpn = this.addModule('fpn', new FPN(channels, config.fpnChannels, { lastLevelMaxPool: true, seed: seed + 1 }));
  }

  /** NHWC images [N, H, W, 3] -> P2..P6. */
  forward(images: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => {
      const { features, sparsityLoss } = this.forwardWithLoss(images);
      sparsityLoss.dispose();
      return features;
    });
  }

  /** P2..P6 and the sparse backbone's weighted sparsity loss (0 for a dense backbone). */
  forwardWithLoss(images: tf.Tensor): { features: tf.Tensor[]; sparsityLoss: tf.Scalar } {
    return tf.tidy(() => {
      const { features: c, loss } =
        this.body instanceof SparseResNet
          ? this.body.forwardWithLoss(images)
          : { features: this.body.forward(images), loss: tf.scalar(0) };
      const p = this.fpn.forward({ C2: c.C2!, C3: c.C3!, C4: c.C4!, C5: c.C5! });
      return { features: [p.C2, p.C3, p.C4, p.C5, p.pool], sparsityLoss: loss };
    });
  }
}
