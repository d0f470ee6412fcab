import { Rng } from '@deformjs/core';
import { collate, maskWords, type VLExample, VLBert, type VLBertConfig, syntheticWorldTokenizer } from '../src/index';

export const tokenizer = syntheticWorldTokenizer();
export const SIZE = 32;

export const TINY: VLBertConfig = {
  vocabSize: tokenizer.vocabSize,
  hiddenSize: 16,
  numHiddenLayers: 1,
  numAttentionHeads: 2,
  intermediateSize: 24,
  maxPositionEmbeddings: 24,
  backbone: { depth: 18, width: 4, feature: 'C3' },
  roiSize: 2,
  geometryDim: 4,
  visualDim: 16,
  // Unit gain on the visual LayerNorms so the image matters from the start (upstream's 0 is tested apart).
  visualScaleInit: 1,
  imgTokenId: tokenizer.id('[IMG]'),
  endTokenId: tokenizer.id('[END]'),
  seed: 3,
};

export function tinyModel(extra: Partial<VLBertConfig> = {}): VLBert {
  return new VLBert({ ...TINY, ...extra });
}

/** Two random images with 3 and 1 RoIs, masked captions and labelled RoIs. */
export function tinyExamples(seed = 0): VLExample[] {
  const rng = new Rng(seed);
  const image = () => Float32Array.from({ length: SIZE * SIZE * 3 }, () => rng.normal());
  const captions = ['a red circle and two blue squares on a grey background', 'one green star'];
  const boxes = [
    [
      [2, 3, 12, 14],
      [16, 1, 30, 10],
      [5, 18, 20, 31],
    ],
    [[0, 0, 20, 16]],
  ];
  return captions.map((caption, b) => {
    const text = tokenizer.encode(caption, null, 16);
    const { ids, labels } = maskWords(rng, text, tokenizer, 0.4);
    labels[2] = text.ids[2]; // at least one labelled word in each example
    return {
      image: image(),
      boxes: boxes[b],
      ids,
      segmentIds: text.segmentIds,
      textLabels: labels,
      roiLabels: boxes[b].map((_, r) => (r === 0 ? b + 1 : -1)),
    };
  });
}

export function tinyBatch(seed = 0) {
  return collate(tinyExamples(seed), SIZE, tokenizer.id('[PAD]'));
}

/** VCR-style batches: per question its 4 answers, one sequence each over the same image and RoIs. */
export const ANSWERS = ['red', 'blue', 'two', 'a green star'];
export function vcrBatch(questions: string[][] = [ANSWERS]) {
  const [example] = tinyExamples();
  return collate(
    questions.flat().map((answer) => {
      const text = tokenizer.encode('what color is the circle?', answer, 16);
      return { image: example.image, boxes: example.boxes, ids: text.ids, segmentIds: text.segmentIds };
    }),
    SIZE,
    tokenizer.id('[PAD]'),
  );
}
