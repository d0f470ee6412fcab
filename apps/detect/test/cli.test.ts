import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Linear, Rng, initBackend } from '@deformjs/core';
import { DEFORMABLE_DETR_SMALL } from '@deformjs/deformable-detr';
import { encodeCheckpoint } from '@deformjs/weights';
import { main } from '../src/main';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((text: string) => void out.push(String(text)));
  vi.spyOn(console, 'error').mockImplementation((text: string) => void err.push(String(text)));
  return { out, err };
}

describe('detect CLI errors', () => {
  afterEach(() => vi.restoreAllMocks());
  const dir = mkdtempSync(join(tmpdir(), 'deformjs-detect-cli-'));
  const paths = ['--out', join(dir, 'out'), '--cache', join(dir, 'data')];

  it('-h and --version exit 0', async () => {
    const { out } = capture();
    expect(await main(['--help'])).toBe(0);
    expect(out[0]).toContain('detect train');
    expect(await main(['--version'])).toBe(0);
    expect(out[1]).toBe('detect 0.0.0');
  });

  it.each([
    [['train', '--epochs', 'abc'], '--epochs expects an integer in [1, 100000], got "abc"'],
    [['train', '--lr', '1e-3x'], '--lr expects a number >= 0, got "1e-3x"'],
    [['train', '--batch', '0'], '--batch expects an integer in [1, 4096], got "0"'],
    [['train', '--model', 'yolo'], '--model expects one of deformable-detr, detr, faster-rcnn, got "yolo"'],
    [['train', '--preset', 'huge'], '--preset expects one of small, r50, tiny, got "huge"'],
    [['train', '--backend', 'gpu'], '--backend expects one of'],
    [['train', '--frobnicate'], "Unknown option '--frobnicate'"],
    [['fly'], 'expected one command (train, eval, detect, compare, pretrain-backbone), got ["fly"]'],
    [
      ['train', '--set', 'numQueries'],
      '--set expects field=number or field=true|false, comma-separated, got "numQueries"',
    ],
    [['train', '--set', 'numQuerys=16'], "--set numQuerys: Deformable DETR's configuration has no such number or flag"],
    [['train', '--set', 'backbone=16'], "--set backbone: Deformable DETR's configuration has no such number or flag"],
    [['train', '--set', 'numQueries=0'], 'config.numQueries'],
    [
      ['train', '--backbone-weights', join(dir, 'none.safetensors')],
      `--backbone-weights ${join(dir, 'none.safetensors')} is not a file`,
    ],
    [['pretrain-backbone', '--model', 'faster-rcnn'], 'Faster R-CNN has no backbone to pretrain'],
    [['train', '--cls-loss-coef', '1000'], '--cls-loss-coef expects a number in [0, 100], got "1000"'],
    [['train', '--model', 'faster-rcnn', '--cls-loss-coef', '4'], 'Faster R-CNN takes no --cls-loss-coef'],
    [['pretrain-backbone', '--box-loss', '1000'], '--box-loss expects a number in [0, 100], got "1000"'],
    [[], 'expected one command'],
    [['detect', '--images', dir], '--checkpoint <file> is required'],
    [
      ['compare', '--models', 'detr,yolo'],
      '--models expects names among deformable-detr, detr, faster-rcnn, got "yolo"',
    ],
  ])('%j: usage error (exit 2) before any work', async (argv, message) => {
    const { err } = capture();
    expect(await main([...argv, ...paths])).toBe(2);
    expect(err.join('\n')).toContain(message);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a file as --out or --cache fails with a message before any work', async () => {
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'mine');
    const { err } = capture();
    expect(await main(['train', '--out', file, '--cache', join(dir, 'data')])).toBe(1);
    expect(err.join('\n')).toContain(`--out ${file} is a file, not a folder`);
    expect(await main(['train', '--out', join(dir, 'out'), '--cache', file])).toBe(2);
    expect(err.join('\n')).toContain(`--cache ${file} is a file`);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('a --cache that cannot be created exits 1 with a message, before any work', async () => {
    const file = join(dir, 'notes.txt');
    const { err } = capture();
    const out = join(dir, 'cache-out');
    const argv = ['train', '--out', out, '--cache', join(file, 'data'), '--backend', 'cpu', '--preset', 'tiny'];
    expect(await main(argv)).toBe(1);
    expect(err.join('\n')).toMatch(/^detect: .*notes\.txt\/data/m);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a checkpoint whose configuration is out of bounds before building the model', async () => {
    await initBackend('cpu');
    const crafted = join(dir, 'crafted.safetensors');
    const model = new Linear(new Rng(0), 2, 2);
    const config = { ...DEFORMABLE_DETR_SMALL, numQueries: 3e6 };
    const classes = ['a', 'b', 'c', 'd', 'e'];
    writeFileSync(
      crafted,
      encodeCheckpoint({
        model,
        step: 0,
        epoch: 0,
        config: { detector: 'deformable-detr', config, classes, categoryIds: [1, 2, 3, 4, 5], detectTransforms: [] },
      }),
    );
    model.dispose();
    const { err } = capture();
    const code = await main(['detect', '--checkpoint', crafted, '--images', dir, '--backend', 'cpu']);
    expect(err.join('\n')).toContain('config.numQueries');
    expect(err.join('\n')).toContain('3000000');
    expect(code).toBe(1);
  });
});
