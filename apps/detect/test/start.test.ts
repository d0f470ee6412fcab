import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { readSafetensors } from '@deformjs/weights';
import { detectorKind } from '../src/detectors';
import { loadBackboneWeights } from '../src/pretrain';

// `pnpm start` trains from a committed backbone; `pnpm pretrain:start` is the command that regenerates it.
const app = fileURLToPath(new URL('..', import.meta.url));
const scripts = (JSON.parse(readFileSync(`${app}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts;

/** The value of `--flag` in a package script's command line. */
function flag(script: string, name: string): string {
  const match = new RegExp(`--${name} (\\S+)`).exec(scripts[script]);
  if (!match) throw new Error(`package.json scripts.${script} has no --${name}`);
  return match[1];
}

describe('the committed start backbone', () => {
  const path = flag('start', 'backbone-weights');

  it('is the file pretrain:start writes, small, and made with the options that script passes', () => {
    expect(flag('pretrain:start', 'out')).toBe(path);
    // A ResNet-18 of width 16 in float16 is 1.4 MB: a bigger file would be another network.
    expect(statSync(`${app}${path}`).size).toBeLessThan(1.5e6);
    const { metadata } = readSafetensors(new Uint8Array(readFileSync(`${app}${path}`)), path);
    const saved = JSON.parse(metadata['deformjs.backbone']);
    expect(saved).toMatchObject({
      steps: Number(flag('pretrain:start', 'steps')),
      boxLoss: Number(flag('pretrain:start', 'box-loss')),
      seed: Number(flag('pretrain:start', 'seed')),
      batchSize: Number(flag('pretrain:start', 'batch')),
    });
    // The same shapes world: a training split of at least the start's images (the generator draws image i the
    // same whatever the count, so the start's are its first ones) and the start's validation images, which
    // pretraining only scores.
    expect(Number(flag('pretrain:start', 'train-count'))).toBeGreaterThanOrEqual(Number(flag('start', 'train-count')));
    expect(flag('pretrain:start', 'val-count')).toBe(flag('start', 'val-count'));
  });

  it('loads strictly into the backbone of the detector the start trains, and leaks nothing', async () => {
    await initBackend('cpu');
    const kind = detectorKind('deformable-detr');
    const config = kind.config({ preset: kind.presets[0], variant: flag('start', 'variant'), numClasses: 5, seed: 0 });
    const detector = kind.build(config);
    try {
      await assertNoTensorLeak(() =>
        loadBackboneWeights(detector.model, kind.backbone!.prefix, kind.backbone!.shape(config), `${app}${path}`),
      );
    } finally {
      detector.model.dispose();
    }
  });
});
