#!/usr/bin/env node
import { UsageError, runCli } from '@deformjs/core/node';
import { generateShapes, SHAPES_KINDS, type ShapesKind } from './shapes/generate';

const USAGE = `usage: deformjs-shapes <kind> --out DIR [--seed N] [--count N] [--size N] [--val-count N] [--frames N] [--motion-blur E] [--defocus R]
                       [--flow-offsets D,D] [--format jpeg|png]

Writes a synthetic shapes-world dataset in a real dataset's format:
  detection     COCO (annotations/instances_{train,val}.json, train/, val/)
  segmentation  PASCAL VOC 2012 (JPEGImages, SegmentationClass palette PNGs with 255 void, Annotations, ImageSets)
  cityscapes    Cityscapes (leftImg8bit, gtFine *_labelIds.png)
  video         ImageNet VID (Data/VID, Annotations/VID; --count is the number of videos, --frames per video)
  vqa           VQA v2 (questions and annotations JSON, COCO-named images)
  captions      Conceptual Captions TSV with precomputed boxes and RoI features

  --seed       generator seed (default 0)
  --count      training images or videos (default 200)
  --val-count  validation images or videos (default count / 5, at least 2)
  --size       longest image side in pixels (default 256)
  --frames     frames per video (video only, default 16)
  --motion-blur   exposure as a fraction of the frame interval, 0..1 (video only, default 0: sharp)
  --defocus       largest blur-disk radius of focus events, pixels at 256 px, 0..16 (video only, default 0:
               always in focus; events are more frequent in videos with fast tracks)
  --flow-offsets  comma-separated frame offsets d: ground-truth flow from every frame t to t + d, written
               to Motion/VID/<split>/<video>/<t>_<t+d>.flo with a valid-mask PNG (video only; write --flow-offsets=-1,5 when the first is negative)
  --format     image encoding (detection only, default jpeg)
  -h, --help   this text;  --version  the package version

exit codes: 0 done, 1 runtime error, 2 usage error`;

const OPTIONS = {
  out: { type: 'string' },
  seed: { type: 'string' },
  count: { type: 'string' },
  'val-count': { type: 'string' },
  size: { type: 'string' },
  frames: { type: 'string' },
  'motion-blur': { type: 'string' },
  defocus: { type: 'string' },
  'flow-offsets': { type: 'string' },
  format: { type: 'string' },
} as const;

const SPEC = {
  name: 'deformjs-shapes',
  usage: USAGE,
  packageJson: new URL('../package.json', import.meta.url),
  options: OPTIONS,
};

runCli(SPEC, process.argv.slice(2), async ({ values, positionals, flags }) => {
  const kind = positionals[0];
  if (positionals.length !== 1 || !(SHAPES_KINDS as readonly string[]).includes(kind))
    throw new UsageError(
      `deformjs-shapes: expected one kind (${SHAPES_KINDS.join(', ')}), got ${JSON.stringify(positionals)}`,
    );
  if (!values.out) throw new UsageError('deformjs-shapes: --out DIR is required');
  for (const flag of ['frames', 'motion-blur', 'defocus', 'flow-offsets'] as const)
    if (values[flag] !== undefined && kind !== 'video')
      throw new UsageError(`deformjs-shapes: --${flag} applies to 'video' only, not ${JSON.stringify(kind)}`);
  const flowOffsets = values['flow-offsets']?.split(',').map((d) => {
    if (!/^\s*-?\d+\s*$/.test(d) || Number(d) === 0)
      throw new UsageError(
        `deformjs-shapes: --flow-offsets expects non-zero integers like -1,5, got ${JSON.stringify(values['flow-offsets'])}`,
      );
    return Number(d);
  });
  if (values.format !== undefined && kind !== 'detection')
    throw new UsageError(`deformjs-shapes: --format applies to 'detection' only, not ${JSON.stringify(kind)}`);
  const options = {
    out: values.out,
    seed: flags.optionalInt('seed'),
    count: flags.optionalInt('count', 1),
    valCount: flags.optionalInt('val-count'),
    size: flags.optionalInt('size', 32, 8192),
    frames: flags.optionalInt('frames', 1),
    motionBlur: values['motion-blur'] === undefined ? undefined : flags.number('motion-blur', 0, 1),
    defocus: values.defocus === undefined ? undefined : flags.number('defocus', 0, 16),
    flowOffsets,
    format: values.format === undefined ? undefined : flags.oneOf('format', ['jpeg', 'png'] as const),
  };
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as typeof options;
  const start = performance.now();
  await generateShapes(kind as ShapesKind, defined);
  console.log(`wrote ${kind} to ${values.out} in ${((performance.now() - start) / 1000).toFixed(1)} s`);
}).then((code) => {
  process.exitCode = code;
});
