import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BACKEND_NAMES, initBackend } from '@deformjs/core';
import { NORM_KINDS } from '@deformjs/nn';
import { UsageError, runCli, writeFileAtomic, type Flags } from '@deformjs/core/node';
import { RunFolder } from '@deformjs/weights/node';
import { loadDesign } from './checkpoint';
import { loadVideoData, type DataOptions } from './data';
import { inferenceSettings, type VideoDesignKind } from './design';
import { DESIGNS, designKind } from './designs';
import { DETECTOR_PRESETS } from './designs/common';
import { evaluateDesign, formatReport } from './evaluate';
import { DETECTIONS, runOnFrames } from './run';
import { ownedByTrainer, runTraining, type TrainOptions, type WritePoint } from './train';

const designHelp = DESIGNS.map((d) => {
  const options = Object.entries(d.inference).map(([name, o]) => `${name}=${o.default} (${o.help})`);
  return `${d.name.padEnd(10)} ${d.label}${options.length ? `; --infer ${options.join(', ')}` : ''}`;
}).join('\n         ');

const USAGE = `video-det: train, evaluate and run video object detectors (TensorFlow.js)

  video-det train --design ${DESIGNS.map((d) => d.name).join('|')} [--steps 300] [--out runs/train]
                  [--init runs/per-frame/checkpoint.safetensors] [--fresh] ...   (run again to resume)
  video-det eval  --checkpoint runs/train/checkpoint.safetensors [--infer name=value,...] [--report <file>]
                  VID mAP all / slow / medium / fast, fps, ms per frame and per component (JSON report)
  video-det run   --checkpoint <file> --frames <folder of JPEG/PNG frames> [--out runs/run] [--infer ...]
                  annotated frames (frame-<name>.png) and ${DETECTIONS}, fps and ms per component

designs  ${designHelp}
model    --preset ${DETECTOR_PRESETS.join('|')} (Faster R-CNN R18-FPN or MobileNet-FPN; default tiny, mobile for
         the mobile design)  --width <backbone width> (default the preset's)
         --norm ${NORM_KINDS.join('|')} (backbone norm, default the preset's; instance: per-image statistics
         in training and evaluation, what batch norm trains with on one image per step)
         --flow-width 8 (conv1 channels of FlowNet-S, or of Light Flow in the mobile design)
data     --vid <ILSVRC root with shape-class names> (default: generated shapes videos)
         --size 128 (longest side)  --train-count 24  --val-count 6 (videos)  --video-frames 20
         --motion-blur 0 (exposure in [0, 1])  --defocus 0 (focus events' blur radius, px at 256 px, [0, 16])
         --data-seed 0  --cache runs/data
training --steps 300  --lr 1e-3  --weight-decay 1e-4  --clip 10  --warmup 50 (steps)
         --lr-drop <step> (default 4/5 of --steps)  --checkpoint-every 50  --seed 0
         --init <checkpoint,...> (matching weights, e.g. a per-frame detector for DFF; not on resume)
         --no-eval (skip the validation report at the end)
         --fresh (discard the run in --out; refused if --out holds files the trainer did not write)
common   --backend wasm|cpu|auto (default wasm)  -h, --help  --version
exit     0 done, 1 runtime error, 2 usage error`;

const OPTIONS = {
  design: { type: 'string' },
  preset: { type: 'string' },
  width: { type: 'string' },
  norm: { type: 'string' },
  'flow-width': { type: 'string', default: '8' },
  out: { type: 'string' },
  checkpoint: { type: 'string' },
  frames: { type: 'string' },
  infer: { type: 'string' },
  report: { type: 'string' },
  vid: { type: 'string' },
  size: { type: 'string', default: '128' },
  'train-count': { type: 'string', default: '24' },
  'val-count': { type: 'string', default: '6' },
  'video-frames': { type: 'string', default: '20' },
  'motion-blur': { type: 'string', default: '0' },
  defocus: { type: 'string', default: '0' },
  'data-seed': { type: 'string', default: '0' },
  cache: { type: 'string', default: 'runs/data' },
  steps: { type: 'string', default: '300' },
  lr: { type: 'string', default: '1e-3' },
  'weight-decay': { type: 'string', default: '1e-4' },
  clip: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '50' },
  'lr-drop': { type: 'string' },
  'checkpoint-every': { type: 'string', default: '50' },
  seed: { type: 'string', default: '0' },
  init: { type: 'string' },
  'no-eval': { type: 'boolean', default: false },
  fresh: { type: 'boolean', default: false },
  backend: { type: 'string', default: 'wasm' },
} as const;

const COMMANDS = ['train', 'eval', 'run'] as const;

function dataOptions(flags: Flags, values: { vid?: string; cache: string }): DataOptions {
  return {
    vid: values.vid,
    cache: values.cache,
    size: flags.int('size', 64, 4096),
    trainCount: flags.int('train-count', 1, 100_000),
    valCount: flags.int('val-count', 1, 100_000),
    frames: flags.int('video-frames', 2, 10_000),
    dataSeed: flags.int('data-seed'),
    motionBlur: flags.number('motion-blur', 0, 1),
    defocus: flags.number('defocus', 0, 16),
  };
}

/**
 * `--infer keyInterval=5,radius=2`: a design's inference settings by name, checked against its declared options
 * (unknown names and values out of bounds are usage errors naming the option).
 */
function inferenceFlags(kind: VideoDesignKind, text: string | undefined): Record<string, number> {
  if (text === undefined) return {};
  const given = Object.fromEntries(
    text.split(',').map((item) => {
      const match = /^([A-Za-z]\w*)=(.+)$/.exec(item.trim());
      const value = match ? Number(match[2]) : NaN;
      if (!match || !Number.isFinite(value))
        throw new UsageError(`video-det: --infer expects name=number, comma-separated, got ${JSON.stringify(item)}`);
      return [match[1], value];
    }),
  );
  try {
    inferenceSettings(kind, given);
  } catch (error) {
    throw new UsageError(`video-det: --infer: ${error instanceof Error ? error.message : String(error)}`);
  }
  return given;
}

/**
 * The command line, as a function returning the exit code (tests run it in-process). Every flag is read and
 * checked before the backend starts or any file is written. `onWritePoint` is for fault-injection tests.
 */
export function main(argv: string[], hooks: { onWritePoint?: (point: WritePoint) => void } = {}): Promise<number> {
  return runCli(
    { name: 'video-det', usage: USAGE, packageJson: new URL('../package.json', import.meta.url), options: OPTIONS },
    argv,
    async ({ positionals, values, flags }) => {
      const command = positionals[0];
      if (!COMMANDS.includes(command as never) || positionals.length !== 1)
        throw new UsageError(
          `video-det: expected one command (${COMMANDS.join(', ')}), got ${JSON.stringify(positionals)}`,
        );
      const backend = flags.oneOf('backend', BACKEND_NAMES);
      const data = dataOptions(flags, values);
      if (!data.vid && statSync(data.cache, { throwIfNoEntry: false })?.isFile())
        throw new UsageError(`video-det: --cache ${data.cache} is a file; the shapes videos need a folder`);

      if (command === 'eval' || command === 'run') {
        if (!values.checkpoint) throw new UsageError(`video-det ${command}: --checkpoint <file> is required`);
        if (command === 'run' && !values.frames) throw new UsageError('video-det run: --frames <folder> is required');
        if (!statSync(values.checkpoint, { throwIfNoEntry: false })?.isFile())
          throw new UsageError(`video-det: --checkpoint ${values.checkpoint} is not a file`);
        await initBackend(backend);
        const { kind, design, saved } = loadDesign(values.checkpoint, { design: values.design });
        try {
          const given = inferenceFlags(kind, values.infer);
          if (command === 'run') {
            const out = values.out ?? 'runs/run';
            const report = await runOnFrames(design, kind, saved.classes, values.frames!, out, given);
            console.log(
              `${kind.label}: ${report.detections} detections${report.tracks === undefined ? '' : ` in ${report.tracks} tracks`} on ${report.frames} frames (${report.keyFrames} key frames), ${report.fps.toFixed(2)} fps, in ${join(out, DETECTIONS)}`,
            );
            return;
          }
          const loaded = await loadVideoData(data);
          if (loaded.classes.length !== saved.classes.length)
            throw new Error(
              `${values.checkpoint} detects ${saved.classes.length} classes, the data has ${loaded.classes.length}`,
            );
          const report = await evaluateDesign(design, kind, loaded.val, given, loaded.classes.length, loaded.valSpeeds);
          console.log(formatReport(report));
          const settings = Object.entries(report.inference).map(([k, v]) => `-${k}${v}`);
          const file = values.report ?? join(values.checkpoint, '..', `eval-${kind.name}${settings.join('')}.json`);
          const folder = RunFolder.open(join(file, '..'), { program: 'eval', owns: ownedByTrainer });
          try {
            writeFileAtomic(file, JSON.stringify(report, null, 1) + '\n');
          } finally {
            folder.release();
          }
          console.log(`wrote ${file}`);
        } finally {
          design.model.dispose();
        }
        return;
      }

      const kind =
        values.design === undefined
          ? DESIGNS[0]
          : designKind(
              flags.oneOf(
                'design',
                DESIGNS.map((d) => d.name),
              ),
            );
      const steps = flags.int('steps', 1, 10_000_000);
      const options: TrainOptions = {
        steps,
        lr: flags.number('lr'),
        weightDecay: flags.number('weight-decay'),
        clipMaxNorm: flags.number('clip'),
        warmupSteps: flags.int('warmup'),
        lrDropStep: flags.optionalInt('lr-drop', 1) ?? Math.max(1, Math.round((steps * 4) / 5)),
        checkpointEvery: flags.int('checkpoint-every', 1),
        seed: flags.int('seed', 0, 0xffffffff),
        init: values.init === undefined ? [] : values.init.split(','),
      };
      for (const file of options.init)
        if (!statSync(file, { throwIfNoEntry: false })?.isFile())
          throw new UsageError(`video-det: --init ${file} is not a file`);
      const choice = {
        preset: values.preset === undefined ? undefined : flags.oneOf('preset', DETECTOR_PRESETS),
        width: flags.optionalInt('width', 1, 512),
        norm: values.norm === undefined ? undefined : flags.oneOf('norm', NORM_KINDS),
        flowWidth: flags.int('flow-width', 1, 256),
        seed: options.seed,
      };
      const out = values.out ?? 'runs/train';
      const folder = RunFolder.open(out, { program: 'train', owns: ownedByTrainer, fresh: values.fresh });
      try {
        await initBackend(backend);
        const loaded = await loadVideoData(data);
        const config = kind.validate(kind.config({ ...choice, numClasses: loaded.classes.length }), 'train');
        const metrics = await runTraining(loaded, options, {
          kind,
          config,
          folder,
          evaluate: !values['no-eval'],
          ...hooks,
        });
        console.log(
          `\n${kind.label}: ${options.steps} steps in ${metrics.secondsTraining.toFixed(0)} s (${metrics.cpuSecondsTraining.toFixed(0)} CPU s)`,
        );
        if (metrics.final) console.log(formatReport(metrics.final));
      } finally {
        folder.release();
      }
    },
  );
}
