import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readSafetensors } from '@deformjs/weights';
import { RunFolder } from '@deformjs/weights/node';
import { fileURLToPath } from 'node:url';
import { main } from '../src/main';
import { README_END, README_START, readCompareRuns, resultsTable } from '../src/report';
import type { RunRecord } from '../src/train';

// A tiny world and model: 4 training images of 32 px shown at 16 px, hidden 16, one layer, batch 2, 3 steps
// with a checkpoint after every step, so the whole pipeline runs in seconds on cpu.
const dir = mkdtempSync(join(tmpdir(), 'deformjs-vl-bert-'));
const data = ['--data', join(dir, 'data'), '--count', '4', '--size', '32', '--image-size', '16'];
const model = ['--hidden', '16', '--layers', '1', '--heads', '2', '--backbone-width', '4', '--max-text', '20'];
const training = ['--steps', '3', '--batch', '2', '--warmup', '1', '--checkpoint-every', '1', '--lr', '1e-3'];
const tiny = [...data, ...model, ...training, '--backend', 'cpu'];
// Seconds each on an idle machine; minutes when the tests run at low priority beside trainings.
const SLOW = { timeout: 900_000 };

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((text: string) => void out.push(String(text)));
  vi.spyOn(console, 'error').mockImplementation((text: string) => void err.push(String(text)));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return { out, err };
}

const record = (out: string) => JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as RunRecord;

/** Every tensor of a run's checkpoint: the model's and the optimizer's. */
const checkpointTensors = (out: string) =>
  readSafetensors(new Uint8Array(readFileSync(join(out, 'checkpoint.safetensors')))).tensors;

describe('vl-bert CLI errors', () => {
  afterEach(() => vi.restoreAllMocks());
  const empty = mkdtempSync(join(tmpdir(), 'deformjs-vl-bert-cli-'));
  const paths = ['--out', join(empty, 'out'), '--data', join(empty, 'data')];

  it('-h and --version exit 0', async () => {
    const { out } = capture();
    expect(await main(['-h'])).toBe(0);
    expect(out[0]).toContain('vl-bert pretrain');
    expect(await main(['--version'])).toBe(0);
    expect(out[1]).toBe('vl-bert 0.0.0');
  });

  it.each([
    [['pretrain', '--steps', 'abc'], '--steps expects an integer in [1, 10000000], got "abc"'],
    [['pretrain', '--lr', '1e-3x'], '--lr expects a number >= 0, got "1e-3x"'],
    [['pretrain', '--batch', '0'], '--batch expects an integer in [1, 4096], got "0"'],
    [['pretrain', '--backend', 'gpu'], '--backend expects one of'],
    [['pretrain', '--frobnicate'], "Unknown option '--frobnicate'"],
    [['pretrain', '--init', 'x.safetensors'], '--init is for finetune'],
    [['finetune'], '--task vqa|grounding'],
    [['finetune', '--task', 'captioning'], '--task expects one of vqa, grounding, vcr'],
    [['evaluate'], '--checkpoint <file> is required'],
    [['compare', '--seeds', '0,x'], '--seeds expects integers like 0,1,2, got "0,x"'],
    [['report'], '--runs <compare folder> is required'],
    [['fly'], 'expected one command (pretrain, finetune, evaluate, compare, report), got ["fly"]'],
    [[], 'expected one command'],
  ])('%j: usage error (exit 2) before any work', async (argv, message) => {
    const { err } = capture();
    expect(await main([...argv, ...paths])).toBe(2);
    expect(err.join('\n')).toContain(message);
    expect(err.join('\n')).toContain('vl-bert --help shows the usage');
    expect(readdirSync(empty)).toEqual([]);
  });

  it('a file as --out fails with a message (exit 1) before any data is generated', async () => {
    const file = join(empty, 'notes.txt');
    writeFileSync(file, 'mine');
    const { err } = capture();
    expect(await main(['pretrain', '--out', file, '--data', join(empty, 'data'), '--backend', 'cpu'])).toBe(1);
    expect(err.join('\n')).toContain(`--out ${file} is a file, not a folder`);
    expect(readdirSync(empty)).toEqual(['notes.txt']);
  });
});

describe('vl-bert pretrain, resume, finetune, evaluate and report on a tiny world', SLOW, () => {
  afterEach(() => vi.restoreAllMocks());
  const reference = join(dir, 'pretrain');
  beforeAll(async () => {
    capture();
    expect(await main(['pretrain', '--out', reference, ...tiny])).toBe(0);
    vi.restoreAllMocks();
  }, SLOW.timeout);

  it('records every step once and writes the checkpoint (with its record), run.json and loss.svg', () => {
    const r = record(reference);
    expect(r.loss.map(([step]) => step)).toEqual([1, 2, 3]);
    expect(r.loss.every(([, loss]) => Number.isFinite(loss) && loss > 0)).toBe(true);
    expect(r.segments).toEqual([{ fromStep: 0, options: { steps: 3, lr: 1e-3, warmup: 1, checkpointEvery: 1 } }]);
    expect(Object.keys(r.evaluation!).sort()).toEqual(
      ['color', 'shape']
        .flatMap((w) =>
          ['count', 'real', 'zeroed', 'settled_count', 'settled_real', 'settled_zeroed'].map((k) => `${w}_${k}`),
        )
        .sort(),
    );
    expect(readdirSync(reference).sort()).toEqual(['checkpoint.safetensors', 'loss.svg', 'run.json']);
    const metadata = readSafetensors(new Uint8Array(readFileSync(join(reference, 'checkpoint.safetensors')))).metadata;
    expect(JSON.parse(metadata['deformjs.checkpoint']).record.loss).toEqual(r.loss);
  });

  it('a run interrupted after its second checkpoint resumes there and ends as the uninterrupted run', async () => {
    const out = join(dir, 'interrupted');
    capture();
    const crash = (step: number) => {
      if (step === 2) throw new Error('simulated crash');
    };
    expect(await main(['pretrain', '--out', out, ...tiny], { onCheckpoint: crash })).toBe(1);
    expect(record(out).loss.map(([step]) => step)).toEqual([1, 2]);
    expect(await main(['pretrain', '--out', out, ...tiny])).toBe(0);
    const r = record(out);
    expect(r.segments.map((s) => s.fromStep)).toEqual([0, 2]);
    expect(r.loss).toEqual(record(reference).loss);
    expect(r.evaluation).toEqual(record(reference).evaluation);
    expect(checkpointTensors(out)).toEqual(checkpointTensors(reference));
    expect(readdirSync(out).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('a whole command (training steps, checkpoints, evaluation) leaves the tensor count flat', async () => {
    capture();
    const before = tf.memory().numTensors;
    expect(await main(['pretrain', '--out', join(dir, 'leak'), ...tiny])).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fine-tunes VQA from the checkpoint and grounding from scratch, then evaluates the VQA checkpoint', async () => {
    const { out } = capture();
    const init = join(reference, 'checkpoint.safetensors');
    const vqa = join(dir, 'vqa');
    expect(await main(['finetune', '--task', 'vqa', '--init', init, '--out', vqa, ...tiny])).toBe(0);
    const v = record(vqa);
    expect(v.options.init).toBe(init);
    expect(v.evaluation).toMatchObject({ overall: expect.any(Number), perAnswerType: expect.any(Object) });
    const grounding = join(dir, 'grounding');
    expect(await main(['finetune', '--task', 'grounding', '--out', grounding, ...tiny])).toBe(0);
    expect(record(grounding).evaluation).toMatchObject({ accuracy: expect.any(Number) });
    const vcr = join(dir, 'vcr');
    expect(await main(['finetune', '--task', 'vcr', '--init', init, '--out', vcr, ...tiny])).toBe(0);
    const e = record(vcr).evaluation!;
    expect(e).toMatchObject({ qa: expect.any(Number), qar: expect.any(Number), qToAr: expect.any(Number) });
    expect(e.qToAr as number).toBeLessThanOrEqual(Math.min(e.qa as number, e.qar as number));
    out.length = 0;
    const checkpoint = join(vqa, 'checkpoint.safetensors');
    expect(await main(['evaluate', '--checkpoint', checkpoint, ...data, '--backend', 'cpu'])).toBe(0);
    expect(out.join('\n')).toContain(`vqa (pre-trained) seed 0: ${JSON.stringify(v.evaluation)}`);
  });

  it('refuses a locked --out, a resume with another model or data, and --fresh over foreign files', async () => {
    const { err } = capture();
    const held = RunFolder.open(reference, { program: 'test', owns: () => true });
    try {
      expect(await main(['pretrain', '--out', reference, ...tiny])).toBe(1);
    } finally {
      held.release();
    }
    expect(err.join('\n')).toMatch(/in use by another trainer \(pid \d+\)/);
    expect(await main(['pretrain', '--out', reference, ...tiny, '--hidden', '8', '--heads', '1'])).toBe(1);
    expect(err.join('\n')).toContain('model.hiddenSize: 16 in the checkpoint, 8 now');
    expect(await main(['pretrain', '--out', reference, ...tiny, '--data-seed', '5'])).toBe(1);
    expect(err.join('\n')).toContain('data.seed: 0 in the checkpoint, 5 now');
    const foreign = join(dir, 'foreign');
    RunFolder.open(foreign, { program: 'test', owns: () => true }).release();
    writeFileSync(join(foreign, 'thesis.tex'), 'mine');
    expect(await main(['pretrain', '--out', foreign, '--fresh', ...tiny])).toBe(1);
    expect(err.join('\n')).toContain('thesis.tex');
    expect(readdirSync(foreign)).toEqual(['thesis.tex']);
  });

  it('--fresh discards only the trainer files and starts over', async () => {
    capture();
    const out = join(dir, 'fresh');
    expect(await main(['pretrain', '--out', out, ...tiny, '--steps', '1'])).toBe(0);
    expect(await main(['pretrain', '--out', out, ...tiny, '--fresh'])).toBe(0);
    expect(record(out).segments.map((s) => s.fromStep)).toEqual([0]);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
  });
});

describe('compare and report', SLOW, () => {
  afterEach(() => vi.restoreAllMocks());

  it('compare trains every run per seed and writes the table, whose cells are mean ± std over seeds', async () => {
    const { out, err } = capture();
    const root = join(dir, 'compare');
    // Here on precomputed region features, fine-tuning on the first 3 items of each set (the low-data regime).
    const lowData = ['--region-features', '--finetune-items', '3', '--visual-scale-init', '0.5'];
    const argv = [
      'compare',
      '--seeds',
      '0,1',
      '--out',
      root,
      ...tiny,
      ...lowData,
      '--steps',
      '1',
      '--pretrain-steps',
      '2',
    ];
    expect(await main(argv)).toBe(0);
    expect(readdirSync(root).sort()).toEqual([
      'grounding-loss.svg',
      'results.json',
      'results.md',
      'seed0',
      'seed1',
      'vcr-loss.svg',
      'vqa-loss.svg',
    ]);
    const runs = ['grounding-pretrained', 'grounding-scratch', 'pretrain', 'vcr-pretrained', 'vcr-scratch'];
    runs.push('vqa-pretrained', 'vqa-scratch');
    expect(readdirSync(join(root, 'seed1')).sort()).toEqual(runs);
    const overall = [0, 1].map((s) => record(join(root, `seed${s}`, 'vqa-pretrained')).evaluation!.overall as number);
    const mean = (overall[0] + overall[1]) / 2;
    const std = Math.abs(overall[0] - overall[1]) / Math.SQRT2;
    const table = readFileSync(join(root, 'results.md'), 'utf8');
    expect(table).toContain(`| pre-trained     | ${(100 * mean).toFixed(1)} ± ${(100 * std).toFixed(1)}`);
    expect(table).toContain('text up to 20 tokens. Pre-training 2 steps, colour and shape words masked with');
    expect(table).toContain(
      'probability 0.15 (other words 0.15), fine-tuning 1 steps (each task) on the first 3 training items',
    );
    expect(table).toContain('| colour words the image settles   |');
    expect(table).toContain("RoI appearance: the generator's precomputed 64-wide region features");
    expect(table).toContain('visual LayerNorm gain at init 0.5');
    const pretrained = record(join(root, 'seed0', 'vqa-pretrained'));
    expect(pretrained.options.trainItems).toBe(3);
    expect(record(join(root, 'seed0', 'pretrain')).options.trainItems).toBe(0);
    const names = Object.keys(checkpointTensors(join(root, 'seed0', 'vqa-pretrained')));
    expect(names.some((n) => n.includes('backbone'))).toBe(false);
    const vqaOut = join(root, 'seed0', 'vqa-scratch');
    const again = ['finetune', '--task', 'vqa', '--out', vqaOut, ...tiny, ...lowData, '--steps', '1'];
    expect(await main([...again, '--finetune-items', '2'])).toBe(1);
    expect(err.join('\n')).toContain('trainItems: 3 in the checkpoint, 2 now');
    expect(table).toContain('| fine-tuned from | VCR Q->A');
    expect(out.join('\n')).toContain(table);

    // report rewrites the table from the run folders alone, and into a README's markers.
    const readme = join(dir, 'README.md');
    writeFileSync(readme, `# runs\n\n${README_START}\nold\n${README_END}\n\nafter\n`);
    expect(await main(['report', '--runs', root, '--readme', readme])).toBe(0);
    expect(readFileSync(readme, 'utf8')).toBe(`# runs\n\n${README_START}\n\n${table}\n${README_END}\n\nafter\n`);
    writeFileSync(readme, 'no markers');
    expect(await main(['report', '--runs', root, '--readme', readme])).toBe(1);
  });

  it("the app README's results table is what report writes from the committed runs", () => {
    const here = fileURLToPath(new URL('..', import.meta.url));
    const table = resultsTable(readCompareRuns(join(here, 'results', 'content-mask')));
    const readme = readFileSync(join(here, 'README.md'), 'utf8');
    expect(readme).toContain(`${README_START}\n\n${table}\n${README_END}`);
  });
});
