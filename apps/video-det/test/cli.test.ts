import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Linear, Rng, initBackend } from '@deformjs/core';
import { FASTER_RCNN_TINY } from '@deformjs/dcnv2-rcnn';
import { encodeCheckpoint, readCheckpointModel } from '@deformjs/weights';
import { main } from '../src/main';
import type { EvalReport } from '../src/evaluate';
import type { Metrics } from '../src/train';
import type { DesignConfig } from '../src/designs/common';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((text: string) => void out.push(String(text)));
  vi.spyOn(console, 'error').mockImplementation((text: string) => void err.push(String(text)));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return { out, err };
}

const record = (out: string) => JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Metrics;

function modelTensors(out: string): Record<string, number[]> {
  const tensors = readCheckpointModel(new Uint8Array(readFileSync(join(out, 'checkpoint.safetensors'))));
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, Array.from(t.values as Float32Array)]));
}

describe('video-det CLI errors', () => {
  afterEach(() => vi.restoreAllMocks());
  const dir = mkdtempSync(join(tmpdir(), 'deformjs-video-det-cli-'));
  const paths = ['--out', join(dir, 'out'), '--cache', join(dir, 'data')];

  it('-h and --version exit 0', async () => {
    const { out } = capture();
    expect(await main(['--help'])).toBe(0);
    expect(out[0]).toContain('video-det train --design per-frame|dff|fgfa');
    expect(out[0]).toContain('keyInterval=10');
    expect(await main(['--version'])).toBe(0);
    expect(out[1]).toBe('video-det 0.0.0');
  });

  it.each([
    [['train', '--steps', 'abc'], '--steps expects an integer in [1, 10000000], got "abc"'],
    [['train', '--design', 'yolo'], '--design expects one of per-frame, dff, fgfa'],
    [['train', '--preset', 'huge'], '--preset expects one of tiny, small, mobile, got "huge"'],
    [['train', '--width', '0'], '--width expects an integer in [1, 512], got "0"'],
    [['train', '--motion-blur', '2'], '--motion-blur expects a number in [0, 1], got "2"'],
    [['train', '--defocus', '20'], '--defocus expects a number in [0, 16], got "20"'],
    [['train', '--init', join(dir, 'none.safetensors')], `--init ${join(dir, 'none.safetensors')} is not a file`],
    [['train', '--backend', 'gpu'], '--backend expects one of'],
    [['train', '--frobnicate'], "Unknown option '--frobnicate'"],
    [['fly'], 'expected one command (train, eval, run), got ["fly"]'],
    [[], 'expected one command'],
    [['eval'], 'video-det eval: --checkpoint <file> is required'],
    [['run', '--checkpoint', 'x'], 'video-det run: --frames <folder> is required'],
    [['eval', '--checkpoint', join(dir, 'none')], `--checkpoint ${join(dir, 'none')} is not a file`],
  ])('%j: usage error (exit 2) before any work', async (argv, message) => {
    const { err } = capture();
    expect(await main([...argv, ...paths])).toBe(2);
    expect(err.join('\n')).toContain(message);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a checkpoint whose configuration is out of bounds before building the model', async () => {
    await initBackend('cpu');
    const crafted = join(dir, 'crafted.safetensors');
    const model = new Linear(new Rng(0), 2, 2);
    const config = {
      detector: { ...FASTER_RCNN_TINY, numClasses: 3, fpnChannels: 3e6 },
      flownet: { width: 8, seed: 1 },
      seed: 2,
    };
    writeFileSync(
      crafted,
      encodeCheckpoint({ model, step: 0, epoch: 0, config: { design: 'dff', config, classes: ['a', 'b', 'c'] } }),
    );
    model.dispose();
    const { err } = capture();
    expect(await main(['run', '--checkpoint', crafted, '--frames', dir, '--backend', 'cpu'])).toBe(1);
    expect(err.join('\n')).toContain('detector.fpnChannels');
    expect(err.join('\n')).toContain('3000000');
  });
});

describe('video-det train, eval, run', () => {
  afterEach(() => vi.restoreAllMocks());
  const dir = mkdtempSync(join(tmpdir(), 'deformjs-video-det-train-'));
  const data = ['--cache', join(dir, 'data'), '--size', '64', '--train-count', '2', '--val-count', '1'];
  const common = [...data, '--video-frames', '6', '--backend', 'wasm', '--warmup', '0'];

  it('a resumed run continues exactly; eval and run write their reports; --init carries the detector', async () => {
    const { err } = capture();
    const straight = join(dir, 'straight');
    const resumed = join(dir, 'resumed');
    expect(await main(['train', '--steps', '3', '--out', straight, '--no-eval', ...common]), err.join('\n')).toBe(0);
    expect(await main(['train', '--steps', '2', '--out', resumed, '--no-eval', ...common])).toBe(0);
    expect(await main(['train', '--steps', '3', '--out', resumed, '--no-eval', ...common]), err.join('\n')).toBe(0);
    expect(record(resumed).loss).toEqual(record(straight).loss);
    expect(record(resumed).segments.map((s) => s.fromStep)).toEqual([0, 2]);
    expect(modelTensors(resumed)).toEqual(modelTensors(straight));
    // Another design in the same folder is refused, naming the difference.
    expect(await main(['train', '--design', 'dff', '--steps', '3', '--out', straight, ...common])).toBe(1);
    expect(err.join('\n')).toContain('was trained on something else');

    // DFF initialised from the per-frame run: its detector starts as the per-frame one.
    const dff = join(dir, 'dff');
    const init = join(straight, 'checkpoint.safetensors');
    expect(
      await main(['train', '--design', 'dff', '--steps', '1', '--lr', '0', '--out', dff, '--init', init, ...common]),
    ).toBe(0);
    const perFrame = modelTensors(straight);
    const carried = modelTensors(dff);
    const rpnConv = 'detector.rpn.head.conv.0.0.weight';
    expect(perFrame[rpnConv]).toBeDefined();
    expect(carried[rpnConv]).toEqual(perFrame[rpnConv]);
    expect(Object.keys(carried).some((name) => name.startsWith('flownet.'))).toBe(true);
    const final = record(dff).final!;
    expect(final.ranges.map((r) => r.label)).toEqual(['all', 'fast', 'medium', 'slow']);
    // By the generator's speed: every ground-truth object falls in exactly one bin.
    const [all, ...bins] = final.speedRanges!.map((r) => r.positives);
    expect(all).toBeGreaterThan(0);
    expect(bins.reduce((a, b) => a + b, 0)).toBe(all);
    expect(final.frames).toBe(6);
    expect(final.keyFrameFraction).toBeCloseTo(1 / 6);
    expect(Object.keys(final.components).sort()).toEqual(['features', 'flow', 'task', 'warp']);

    const checkpoint = join(dff, 'checkpoint.safetensors');
    const report = join(dir, 'reports', 'dff-k2.json');
    expect(
      await main(['eval', '--checkpoint', checkpoint, '--infer', 'keyInterval=2', '--report', report, ...common]),
    ).toBe(0);
    const evaluated = JSON.parse(readFileSync(report, 'utf8')) as EvalReport;
    expect(evaluated.inference).toEqual({ keyInterval: 2 });
    expect(evaluated.keyFrameFraction).toBe(0.5);
    // The one validation video, binned by its fastest track.
    expect(evaluated.videoSpeeds).toHaveLength(1);
    expect(evaluated.videoSpeeds![0]).toMatchObject({ videos: 1, frames: 6, keyFrameFraction: 0.5 });

    const frames = join(dir, 'data', readdirSync(join(dir, 'data'))[0], 'Data', 'VID', 'val', 'shapes_val_00000000');
    const out = join(dir, 'run');
    expect(
      await main(['run', '--checkpoint', checkpoint, '--frames', frames, '--out', out, '--infer', 'keyInterval=3']),
    ).toBe(0);
    const written = JSON.parse(readFileSync(join(out, 'detections.json'), 'utf8'));
    expect(written.perFrame.map((f: { keyFrame: boolean }) => f.keyFrame)).toEqual([
      true,
      false,
      false,
      true,
      false,
      false,
    ]);
    expect(readdirSync(out).filter((f) => f.startsWith('frame-')).length).toBe(6);
    expect(await main(['run', '--checkpoint', checkpoint, '--frames', frames, '--out', frames])).toBe(1);
    expect(err.join('\n')).toContain('--out must differ from --frames');
    expect(await main(['run', '--checkpoint', checkpoint, '--frames', frames, '--infer', 'radius=2'])).toBe(2);
    expect(err.join('\n')).toContain("argument 'radius' expected one of keyInterval");
    expect(existsSync(join(frames, 'detections.json'))).toBe(false);

    // The unified design: adaptive keys from its quality map, the recomputed fraction reported.
    const unified = join(dir, 'unified');
    expect(
      await main([
        'train',
        '--design',
        'unified',
        '--steps',
        '1',
        '--out',
        unified,
        '--no-eval',
        '--init',
        init,
        ...common,
      ]),
    ).toBe(0);
    const adaptive = join(dir, 'reports', 'unified-adaptive.json');
    const argv = ['--checkpoint', join(unified, 'checkpoint.safetensors'), '--report', adaptive, ...common];
    expect(await main(['eval', ...argv, '--infer', 'adaptive=1,gamma=1'])).toBe(0);
    const never = JSON.parse(readFileSync(adaptive, 'utf8')) as EvalReport;
    expect(never.keyFrameFraction).toBeCloseTo(1 / 6);
    expect(never.updatedFraction).toBeGreaterThanOrEqual(0);
    expect(never.videoSpeeds![0].updatedFraction).toBeCloseTo(never.updatedFraction!, 12);
    expect(await main(['eval', ...argv, '--infer', 'adaptive=1,gamma=0,tau=1e9'])).toBe(0);
    expect((JSON.parse(readFileSync(adaptive, 'utf8')) as EvalReport).keyFrameFraction).toBe(1);
  }, 600_000);

  it('the mobile design: a MobileNet per-frame detector, then Light Flow + GRU initialised from it', async () => {
    const { err } = capture();
    const perFrame = join(dir, 'mobile-per-frame');
    const width = ['--width', '8', '--flow-width', '4'];
    expect(
      await main(['train', '--preset', 'mobile', ...width, '--steps', '1', '--out', perFrame, '--no-eval', ...common]),
      err.join('\n'),
    ).toBe(0);
    expect((record(perFrame).config as DesignConfig).detector.backbone).toMatchObject({ arch: 'mobilenet', width: 8 });
    const mobile = join(dir, 'mobile');
    const init = ['--init', join(perFrame, 'checkpoint.safetensors')];
    expect(
      await main([
        'train',
        '--design',
        'mobile',
        ...width,
        '--steps',
        '2',
        '--lr',
        '0',
        '--out',
        mobile,
        ...init,
        ...common,
      ]),
      err.join('\n'),
    ).toBe(0);
    // The design picks the MobileNet preset itself; the detector's parameters start as the per-frame ones (batch-norm
    // statistics move in train mode even at learning rate 0).
    expect((record(mobile).config as DesignConfig).detector.backbone).toMatchObject({ arch: 'mobilenet', width: 8 });
    const carried = modelTensors(mobile);
    const stem = Object.keys(modelTensors(perFrame)).filter(
      (name) => name.startsWith('detector.') && /\.(weight|bias)$/.test(name),
    );
    expect(stem.length).toBeGreaterThan(0);
    for (const name of stem) expect(carried[name], name).toEqual(modelTensors(perFrame)[name]);
    expect(Object.keys(carried).some((name) => name.startsWith('flownet.encoder.'))).toBe(true);
    expect(Object.keys(carried).some((name) => name.startsWith('gru.gates.'))).toBe(true);
    expect(record(mobile).loss.length).toBe(2);
    // Default key interval 10: one key frame in 6, so the GRU never runs.
    const final = record(mobile).final!;
    expect(final.keyFrameFraction).toBeCloseTo(1 / 6);
    expect(Object.keys(final.components).sort()).toEqual(['features', 'flow', 'task', 'warp']);
    const report = join(dir, 'reports', 'mobile-k2.json');
    const checkpoint = join(mobile, 'checkpoint.safetensors');
    expect(
      await main(['eval', '--checkpoint', checkpoint, '--infer', 'keyInterval=2', '--report', report, ...common]),
    ).toBe(0);
    const evaluated = JSON.parse(readFileSync(report, 'utf8')) as EvalReport;
    expect(evaluated.keyFrameFraction).toBe(0.5);
    expect(Object.keys(evaluated.components).sort()).toEqual(['aggregate', 'features', 'flow', 'task', 'warp']);
    expect(await main(['eval', '--checkpoint', checkpoint, '--design', 'dff', ...common])).toBe(1);
    expect(err.join('\n')).toContain('holds a mobile (Light Flow + GRU) model (mobile), not the dff asked for');
  }, 600_000);

  it('tracklet-conditioned detection: trains with the detector, reports CLEAR MOT, IDF1 and jitter, draws tracks', async () => {
    const { err } = capture();
    const out = join(dir, 'tracking');
    expect(
      await main(['train', '--design', 'tracking', '--steps', '2', '--out', out, '--no-eval', ...common]),
      err.join('\n'),
    ).toBe(0);
    expect(record(out).loss.length).toBe(2);
    expect(Object.keys(modelTensors(out)).some((name) => name.startsWith('embedding.fc1.'))).toBe(true);
    const checkpoint = join(out, 'checkpoint.safetensors');
    // An untrained detector scores low: every detection starts or joins a track and is reported.
    const open = 'birthScore=0,outputScore=0';
    const evaluated: EvalReport[] = [];
    for (const condition of [0, 1]) {
      const report = join(dir, 'reports', `tracking-condition${condition}.json`);
      const argv = ['eval', '--checkpoint', checkpoint, '--infer', `condition=${condition},${open}`];
      expect(await main([...argv, '--report', report, ...common]), err.join('\n')).toBe(0);
      evaluated.push(JSON.parse(readFileSync(report, 'utf8')) as EvalReport);
    }
    const [plain, conditioned] = evaluated.map((r) => r.tracking!);
    expect(plain.falseNegatives).toBeLessThanOrEqual(evaluated[0].ranges[0].positives);
    expect(plain.mota).toBeLessThanOrEqual(1);
    expect(plain.falsePositives + plain.falseNegatives).toBeGreaterThan(0);
    // With every detection reported, conditioning changes the scores, never the boxes or the identities.
    for (const key of ['mota', 'idf1', 'idSwitches', 'falsePositives', 'falseNegatives', 'jitter'] as const)
      expect(conditioned[key], key).toBe(plain[key]);
    expect(Object.keys(evaluated[1].components).sort()).toEqual(['embed', 'features', 'task', 'track']);

    const frames = join(dir, 'data', readdirSync(join(dir, 'data'))[0], 'Data', 'VID', 'val', 'shapes_val_00000000');
    const run = join(dir, 'run-tracking');
    expect(await main(['run', '--checkpoint', checkpoint, '--frames', frames, '--out', run, '--infer', open])).toBe(0);
    const written = JSON.parse(readFileSync(join(run, 'detections.json'), 'utf8'));
    const perFrame = written.perFrame as { scores: number[]; trackIds: number[] }[];
    expect(perFrame.length).toBe(6);
    for (const frame of perFrame) expect(frame.trackIds.length).toBe(frame.scores.length);
    expect(written.tracks).toBe(new Set(perFrame.flatMap((f) => f.trackIds)).size);
    expect(written.tracks).toBeGreaterThan(0);
    expect(readdirSync(run).filter((f) => f.startsWith('frame-')).length).toBe(6);
  }, 600_000);
});
