import * as tf from '@tensorflow/tfjs-core';
import { argumentError } from '@deformjs/core';
import { optimizationStep, type AdamW, type OptimizationStep } from '@deformjs/nn';
import { binaryCrossEntropyWithLogits } from './losses';
import type { VLBatch } from './pretraining';
import type { VLBert } from './vl_bert';

function requireHead<T>(head: T | null, op: string, option: string): T {
  if (!head) throw argumentError(op, 'model', `a VLBert built with config.${option}`, 'none');
  return head;
}

/** VQA answer logits [B, A] from the hidden state of each question's [MASK] token (flat text position b*T + t). */
export function vqaLogits(model: VLBert, batch: VLBatch, maskPositions: readonly number[]): tf.Tensor {
  const head = requireHead(model.vqa_head, 'vqaLogits', 'numAnswers');
  return tf.tidy(() => {
    const text = model.forward(batch).text;
    const [B, T, H] = text.shape;
    if (maskPositions.length !== B)
      throw argumentError('vqaLogits', 'maskPositions', `one [MASK] position per example (${B})`, maskPositions.length);
    return head.forward(tf.gather(tf.reshape(text, [B * T, H]), tf.tensor1d(Array.from(maskPositions), 'int32')));
  });
}

/** Referring-expression scores [B, R], one per RoI (padding RoIs included; mask them with batch.roiMask). */
export function groundingScores(model: VLBert, batch: VLBatch): tf.Tensor {
  const head = requireHead(model.grounding_head, 'groundingScores', 'grounding');
  return tf.tidy(() => head.forward(model.forward(batch).rois));
}

/**
 * VCR-style choice scores [B, C]: the batch holds each question's C candidate sequences one after the other
 * (`[CLS] question [SEP] answer [SEP]`, or for rationales `[CLS] question answer [SEP] rationale [SEP]`), each
 * scored from its [CLS] hidden state by `vcr_head`, as upstream. Train with `crossEntropy` over the C choices.
 */
export function vcrLogits(model: VLBert, batch: VLBatch, choices = 4): tf.Tensor {
  const head = requireHead(model.vcr_head, 'vcrLogits', 'vcr');
  const B = batch.textIds.shape[0]!;
  if (B % choices !== 0)
    throw argumentError('vcrLogits', 'batch', `a multiple of ${choices} sequences (${choices} per question)`, B);
  return tf.tidy(() => {
    const cls = tf.squeeze(tf.slice(model.forward(batch).text, [0, 0, 0], [B, 1, -1]), [1]);
    return tf.reshape(head.forward(cls), [B / choices, choices]);
  });
}

/** Upstream RefCOCO's loss: BCE per real RoI, target 1 where the RoI overlaps the referred box at IoU > 0.5. */
export function groundingLoss(scores: tf.Tensor, targets: tf.Tensor, roiMask: tf.Tensor): tf.Scalar {
  return binaryCrossEntropyWithLogits(scores, targets, roiMask);
}

/** IoU of two xyxy boxes. */
export function xyxyIou(a: readonly number[], b: readonly number[]): number {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

export type StepResult = OptimizationStep;

/**
 * One optimisation step over `model.trainingVariables()` (the backbone left out when frozen): nn's
 * `optimizationStep` (gradients of `lossFn`, clipped to `clipMaxNorm` (0 = none), then AdamW).
 */
export function trainStep(model: VLBert, optimizer: AdamW, lossFn: () => tf.Scalar, clipMaxNorm = 1): StepResult {
  model.train();
  return optimizationStep(
    () => ({ loss: lossFn(), components: {} }),
    model.trainingVariables(),
    optimizer,
    clipMaxNorm,
  );
}
