// Diagnostic: can the model bind a masked colour word to its RoI at all? Pre-trains on the captions of images with
// at most --max-objects objects (1: the caption's one colour word belongs to the image's one RoI), then reports
// masked colour/shape-word accuracy with real vs zeroed visual features on the validation captions kept likewise.
// npx tsx scripts/binding.ts --max-objects 1 --steps 600 --out runs/binding-1 [--count 300]
import { parseArgs } from 'node:util';
import { initBackend } from '@deformjs/core';
import { syntheticWorldTokenizer } from '@deformjs/vl-bert';
import { RunFolder } from '@deformjs/weights/node';
import { SHAPE_CLASSES, SHAPE_COLORS } from '@deformjs/datasets';
import { REGION_FEATURE_DIM, loadData, type CaptionItem } from '../src/data';
import { ownedByTrainer, runTask } from '../src/train';

const { values } = parseArgs({
  options: {
    'max-objects': { type: 'string', default: '1' },
    steps: { type: 'string', default: '600' },
    count: { type: 'string', default: '300' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: 'runs/binding' },
    data: { type: 'string', default: 'runs/data' },
    split: { type: 'boolean', default: false },
    'max-text': { type: 'string', default: '32' },
    'content-mask': { type: 'string', default: '0.15' },
  },
});
/** --split: every object of an image becomes an item of its own, its caption naming it alone. */
function singleObjectItems(item: CaptionItem): CaptionItem[] {
  const background = / on a \w+ background$/.exec(item.caption)![0];
  return item.boxes.map((box, r) => {
    const f = item.features[r];
    const color = SHAPE_COLORS[argMax(f.slice(5, 13))].name;
    const caption = `${/^[aeiou]/.test(color) ? 'an' : 'a'} ${color} ${SHAPE_CLASSES[item.classes[r]]}${background}`;
    return { ...item, boxes: [box], classes: [item.classes[r]], features: [f], caption };
  });
}
function argMax(x: number[]): number {
  return x.indexOf(Math.max(...x));
}

await initBackend('wasm');
const maxObjects = Number(values['max-objects']);
const data = await loadData({ dir: values.data, seed: 0, count: Number(values.count), size: 64, imageSize: 48 });
for (const split of ['train', 'val'] as const)
  data.captions[split] = values.split
    ? data.captions[split].flatMap(singleObjectItems)
    : data.captions[split].filter((c) => c.boxes.length <= maxObjects);
console.log(
  `captions with <= ${maxObjects} objects: ${data.captions.train.length} train, ${data.captions.val.length} val`,
);
const tokenizer = syntheticWorldTokenizer();
const seed = Number(values.seed);
const folder = RunFolder.open(values.out, { program: 'binding', owns: ownedByTrainer, fresh: true });
try {
  const record = await runTask(
    data,
    tokenizer,
    {
      task: 'pretrain',
      out: values.out,
      model: {
        vocabSize: tokenizer.vocabSize,
        hiddenSize: 64,
        numHiddenLayers: 2,
        numAttentionHeads: 4,
        intermediateSize: 128,
        maxPositionEmbeddings: Number(values['max-text']) + 2,
        regionFeatureDim: REGION_FEATURE_DIM,
        visualScaleInit: 1,
        roiSize: 2,
        geometryDim: 8,
        visualDim: 64,
        imgTokenId: tokenizer.id('[IMG]'),
        endTokenId: tokenizer.id('[END]'),
        seed,
      },
      steps: Number(values.steps),
      batch: 16,
      lr: 2e-3,
      warmup: 50,
      textOnlyEvery: 4,
      trainItems: 0,
      maxText: Number(values['max-text']),
      contentMask: Number(values['content-mask']),
      checkpointEvery: 1_000_000,
      seed,
      label: `binding <= ${maxObjects}`,
    },
    folder,
  );
  console.log(JSON.stringify(record.evaluation), `${record.cpuSecondsTraining.toFixed(0)} CPU s`);
} finally {
  folder.release();
}
