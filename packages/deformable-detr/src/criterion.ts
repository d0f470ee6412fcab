import * as tf from '@tensorflow/tfjs-core';
import { argumentError } from '@deformjs/core';
import { boxCxcywhToXyxy, generalizedBoxIouPaired } from '@deformjs/nn';
import type { DetectionOutputs, Predictions } from './misc';
import {
  hungarianMatch,
  type ClassificationKind,
  type DetectionTarget,
  type Match,
  type MatcherOptions,
} from './matcher';

/**
 * torchvision.ops.sigmoid_focal_loss summed over every element: -alpha_t (1 - p_t)^gamma log(p_t), with
 * the log taken stably from the logits (binary_cross_entropy_with_logits).
 */
export function sigmoidFocalLoss(logits: tf.Tensor, targets: tf.Tensor, alpha = 0.25, gamma = 2): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.sigmoid(logits);
    const ce = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    const pT = tf.add(tf.mul(p, targets), tf.mul(tf.sub(1, p), tf.sub(1, targets)));
    let loss = tf.mul(ce, tf.pow(tf.sub(1, pT), gamma));
    if (alpha >= 0) loss = tf.mul(loss, tf.add(tf.mul(targets, alpha), tf.mul(tf.sub(1, targets), 1 - alpha)));
    return tf.sum(loss) as tf.Scalar;
  });
}

export interface CriterionOptions {
  /** Classes the model scores (without DETR's "no object"). */
  numClasses: number;
  /** 'focal' (Deformable DETR, default) or 'softmax' (DETR, with a "no object" class last). */
  kind?: ClassificationKind;
  /** Loss weights (Deformable DETR: 2, 5, 2; DETR: 1, 5, 2). */
  weightCe?: number;
  weightBbox?: number;
  weightGiou?: number;
  /** Matcher costs; default equal to the loss weights, as upstream's arguments. */
  matcher?: MatcherOptions;
  focalAlpha?: number;
  /** DETR's weight of the "no object" class in the cross-entropy. */
  eosCoef?: number;
}

/** The total loss to differentiate and every weighted-in term by upstream's name (loss_ce, loss_bbox_0, loss_giou_enc, ...). */
export interface CriterionResult {
  loss: tf.Scalar;
  components: Record<string, tf.Scalar>;
}

/**
 * SetCriterion: Hungarian-match each decoder layer's predictions (and, two-stage, the encoder proposals
 * against class-agnostic targets) to the ground truth, then classification loss over all queries plus L1 and
 * GIoU losses on matched boxes, each normalised by the number of ground-truth boxes in the batch.
 */
export class SetCriterion {
  readonly kind: ClassificationKind;
  readonly weights: { ce: number; bbox: number; giou: number };
  readonly matcher: MatcherOptions;
  readonly focalAlpha: number;
  readonly eosCoef: number;

  constructor(readonly options: CriterionOptions) {
    const { numClasses, kind = 'focal' } = options;
    if (!Number.isInteger(numClasses) || numClasses < 1)
      throw argumentError('SetCriterion', 'numClasses', 'a positive integer', numClasses);
    this.kind = kind;
    const ce = options.weightCe ?? (kind === 'focal' ? 2 : 1);
    this.weights = { ce, bbox: options.weightBbox ?? 5, giou: options.weightGiou ?? 2 };
    this.matcher = {
      kind,
      costClass: ce,
      costBbox: this.weights.bbox,
      costGiou: this.weights.giou,
      ...options.matcher,
    };
    this.focalAlpha = options.focalAlpha ?? 0.25;
    this.eosCoef = options.eosCoef ?? 0.1;
  }

  /** Matches one layer's predictions (reads them back: matching runs on the CPU, as upstream's scipy). */
  match(pred: Predictions, targets: readonly DetectionTarget[]): Match[] {
    const [n, q, c] = pred.predLogits.shape;
    return hungarianMatch(pred.predLogits.dataSync(), pred.predBoxes.dataSync(), { n, q, c }, targets, this.matcher);
  }

  forward(outputs: DetectionOutputs, targets: readonly DetectionTarget[]): CriterionResult {
    const [n, , c] = outputs.predLogits.shape;
    if (targets.length !== n)
      throw argumentError('SetCriterion', 'targets', `one target per image (${n})`, `${targets.length} targets`);
    const expectedC = this.kind === 'focal' ? this.options.numClasses : this.options.numClasses + 1;
    if (c !== expectedC)
      throw argumentError(
        'SetCriterion',
        'outputs.predLogits',
        `${expectedC} classes in the last dimension (${this.kind})`,
        outputs.predLogits.shape,
      );
    targets.forEach((t, i) => {
      for (const label of t.labels)
        if (!(label >= 0 && label < this.options.numClasses))
          throw argumentError(
            'SetCriterion',
            `targets[${i}].labels`,
            `labels in [0, ${this.options.numClasses})`,
            label,
          );
    });
    const numBoxes = Math.max(
      1,
      targets.reduce((s, t) => s + t.labels.length, 0),
    );
    const components: Record<string, tf.Scalar> = {};
    const loss = tf.tidy(() => {
      const terms: tf.Scalar[] = [];
      const add = (suffix: string, pred: Predictions, layerTargets: readonly DetectionTarget[]) => {
        const parts = this.layerLosses(pred, layerTargets, this.match(pred, layerTargets), numBoxes);
        for (const [name, value] of Object.entries(parts)) {
          components[`${name}${suffix}`] = tf.keep(value);
          terms.push(
            tf.mul(
              value,
              this.weights[name === 'loss_ce' ? 'ce' : name === 'loss_bbox' ? 'bbox' : 'giou'],
            ) as tf.Scalar,
          );
        }
      };
      add('', outputs, targets);
      outputs.aux.forEach((aux, i) => add(`_${i}`, aux, targets));
      if (outputs.enc) {
        add(
          '_enc',
          outputs.enc,
          targets.map((t) => ({ boxes: t.boxes, labels: new Int32Array(t.labels.length) })),
        );
      }
      return tf.addN(terms) as tf.Scalar;
    });
    return { loss, components };
  }

  /** loss_ce, loss_bbox, loss_giou of one layer given its matching (unweighted). */
  layerLosses(
    pred: Predictions,
    targets: readonly DetectionTarget[],
    matches: Match[],
    numBoxes: number,
  ): Record<'loss_ce' | 'loss_bbox' | 'loss_giou', tf.Scalar> {
    const [n, q, c] = pred.predLogits.shape;
    return tf.tidy(() => {
      const matchedRows: number[] = [];
      const matchedBoxes: number[] = [];
      const classes = new Int32Array(n * q).fill(this.kind === 'focal' ? -1 : c - 1);
      matches.forEach((m, b) => {
        m.queries.forEach((query, k) => {
          const j = m.targets[k];
          matchedRows.push(b * q + query);
          classes[b * q + query] = targets[b].labels[j];
          for (let e = 0; e < 4; e++) matchedBoxes.push(targets[b].boxes[4 * j + e]);
        });
      });
      let lossCe: tf.Scalar;
      if (this.kind === 'focal') {
        const onehot = new Float32Array(n * q * c);
        classes.forEach((label, row) => {
          if (label >= 0) onehot[row * c + label] = 1;
        });
        lossCe = tf.div(
          sigmoidFocalLoss(pred.predLogits, tf.tensor3d(onehot, [n, q, c]), this.focalAlpha),
          numBoxes,
        ) as tf.Scalar;
      } else {
        // F.cross_entropy with class weights (1, ..., 1, eos_coef): the weighted mean over queries.
        const weights = Float32Array.from(classes, (label) => (label === c - 1 ? this.eosCoef : 1));
        const logp = tf.reshape(tf.logSoftmax(pred.predLogits), [n * q, c]);
        const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(classes, 'int32'), c)), 1);
        const w = tf.tensor1d(weights);
        lossCe = tf.div(tf.neg(tf.sum(tf.mul(picked, w))), tf.sum(w)) as tf.Scalar;
      }
      if (matchedRows.length === 0) {
        const zero = tf.mul(tf.sum(pred.predBoxes), 0) as tf.Scalar;
        return { loss_ce: lossCe, loss_bbox: zero, loss_giou: tf.clone(zero) };
      }
      const src = tf.gather(tf.reshape(pred.predBoxes, [n * q, 4]), tf.tensor1d(matchedRows, 'int32'));
      const tgt = tf.tensor2d(matchedBoxes, [matchedRows.length, 4]);
      const lossBbox = tf.div(tf.sum(tf.abs(tf.sub(src, tgt))), numBoxes) as tf.Scalar;
      const giou = generalizedBoxIouPaired(boxCxcywhToXyxy(src), boxCxcywhToXyxy(tgt));
      const lossGiou = tf.div(tf.sum(tf.sub(1, giou)), numBoxes) as tf.Scalar;
      return { loss_ce: lossCe, loss_bbox: lossBbox, loss_giou: lossGiou };
    });
  }
}
