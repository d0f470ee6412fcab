// Half of check_torch_export.py (which runs this): DEFORMABLE_DETR_SMALL with its seeded initial weights,
// exported as a PyTorch state_dict (safetensors: PyTorch names, OIHW convs, (out, in) linears), a seeded input
// batch and our outputs on it, written into the folder given as the argument.
//   npx tsx scripts/export_for_torch.ts <folder>
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { saveTorchStateDict } from '@deformjs/weights/node';
import { DEFORMABLE_DETR_SMALL, DeformableDETR, disposeOutputs } from '../src/index';

const out = process.argv[2];
if (!out) throw new Error('usage: tsx scripts/export_for_torch.ts <folder>');
await initBackend('cpu');
const model = new DeformableDETR(DEFORMABLE_DETR_SMALL);
model.eval();
saveTorchStateDict(join(out, 'small.safetensors'), model);

// Two 48x48 images, the second valid on 40x32 (padding bottom and right, zeroed), values rounded to 1e-3 so
// the JSON both sides read holds them exactly.
const rng = new Rng(7);
const [n, h, w] = [2, 48, 48];
const images = Array.from({ length: n }, (_, b) =>
  Array.from({ length: 3 }, () =>
    Array.from({ length: h }, (_, y) =>
      Array.from({ length: w }, (_, x) =>
        b === 1 && (y >= 40 || x >= 32) ? 0 : Math.round(rng.normal() * 1000) / 1000,
      ),
    ),
  ),
);
const mask = Array.from({ length: n }, (_, b) =>
  Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => (b === 1 && (y >= 40 || x >= 32) ? 1 : 0))),
);
const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(images), [0, 2, 3, 1]) as tf.Tensor4D);
const maskTensor = tf.tensor3d(mask, undefined, 'bool');
const result = model.forward(nhwc, maskTensor);
const c = DEFORMABLE_DETR_SMALL;
writeFileSync(
  join(out, 'input.json'),
  JSON.stringify({
    config: {
      backbone_width: c.backbone.width,
      hidden_dim: c.hiddenDim,
      nheads: c.nHeads,
      enc_layers: c.encLayers,
      dec_layers: c.decLayers,
      dim_feedforward: c.dimFeedforward,
      num_feature_levels: c.numFeatureLevels,
      enc_n_points: c.encNPoints,
      dec_n_points: c.decNPoints,
      num_queries: c.numQueries,
      num_classes: c.numClasses,
      with_box_refine: c.withBoxRefine,
      two_stage: c.twoStage,
      group_norm_groups: c.groupNormGroups,
    },
    images_nchw: images,
    mask,
    ours: { pred_logits: await result.predLogits.array(), pred_boxes: await result.predBoxes.array() },
  }),
);
disposeOutputs(result);
tf.dispose([nhwc, maskTensor]);
