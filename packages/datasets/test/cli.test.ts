import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cocoPaths, loadCoco } from '../src/coco';
import { ensureShapesDataset } from '../src/shapes/generate';
import { loadVideoMotion } from '../src/motion';
import { loadImagenetVid } from '../src/vid';
import { SHAPE_CLASSES } from '../src/shapes/raster';
import { tempDir } from './helpers';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const dir = tempDir('cli');

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: packageDir,
    encoding: 'utf8',
    env: { ...process.env, TSX_TSCONFIG_PATH: join(packageDir, 'tsconfig.src-worker.json') },
  });
}

describe('deformjs-shapes CLI', () => {
  it('writes a dataset the loaders read', () => {
    const out = join(dir, 'det');
    const run = cli('detection', '--out', out, '--seed', '4', '--count', '5', '--val-count', '2', '--size', '64');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/wrote detection to .* in \d+\.\d s/);
    const ds = loadCoco({
      annotationFile: join(out, 'annotations', 'instances_train.json'),
      imageDir: join(out, 'train'),
    });
    expect(ds.records.length).toBe(5);
    expect(ds.records.every((r) => Math.max(r.width, r.height) === 64)).toBe(true);
    const png = join(dir, 'png');
    expect(
      cli('detection', '--out', png, '--count', '2', '--val-count', '0', '--size', '48', '--format', 'png').status,
    ).toBe(0);
    expect(
      loadCoco({ annotationFile: join(png, 'annotations', 'instances_train.json'), imageDir: join(png, 'train') })
        .records[0].imagePath,
    ).toMatch(/000000000001\.png$/);
    const video = join(dir, 'vid');
    expect(
      cli(
        'video',
        ...['--out', video, '--count', '1', '--val-count', '0', '--frames', '3', '--size', '48'],
        ...['--motion-blur', '0.5', '--defocus', '4', '--flow-offsets=-1,2'],
      ).status,
    ).toBe(0);
    const vid = loadImagenetVid({ root: video, split: 'train', classes: SHAPE_CLASSES });
    expect(vid.videos.map((v) => v.frames.length)).toEqual([3]);
    const motion = join(video, 'Motion', 'VID', 'train', vid.videos[0].name);
    expect(readdirSync(motion).sort()).toEqual(
      ['000000_000002', '000001_000000', '000002_000001'].flatMap((n) => [`${n}.flo`, `${n}.png`]).concat('poses.json'),
    );
    expect(loadVideoMotion(video, 'train', vid.videos[0].name).defocus?.length).toBe(3);
  });

  // Each check spawns the CLI (seconds under load): split over two tests to stay inside the per-test budget.
  const usage = (...args: string[]) => {
    const run = cli(...args);
    expect(run.status).toBe(2);
    return run.stderr;
  };
  const untouched = join(dir, 'untouched');

  it('explains bad usage with exit code 2, before writing anything', () => {
    const unknown = cli('pictures', '--out', dir);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(
      /deformjs-shapes: expected one kind \(detection, segmentation, cityscapes, video, vqa, captions\), got \["pictures"\]/,
    );
    expect(unknown.stderr).toContain('deformjs-shapes --help shows the usage');
    expect(usage('detection', '--out', untouched, '--count', 'many')).toMatch(
      /--count expects an integer >= 1, got "many"/,
    );
    expect(usage('detection', '--out', untouched, '--size', '8')).toMatch(
      /--size expects an integer in \[32, 8192\], got "8"/,
    );
    expect(usage('detection')).toMatch(/--out DIR is required/);
    expect(usage('detection', '--out', untouched, '--format', 'gif')).toMatch(
      /--format expects one of jpeg, png, got "gif"/,
    );
    expect(usage('detection', '--out', untouched, '--colour')).toMatch(/Unknown option '--colour'/);
    expect(readdirSync(dir)).not.toContain('untouched');
  });

  it('explains bad video options with exit code 2, before writing anything', () => {
    expect(usage('detection', '--out', untouched, '--frames', '3')).toMatch(/--frames applies to 'video' only/);
    expect(usage('video', '--out', untouched, '--motion-blur', '2')).toMatch(
      /--motion-blur expects a number in \[0, 1\], got "2"/,
    );
    expect(usage('video', '--out', untouched, '--defocus', '20')).toMatch(
      /--defocus expects a number in \[0, 16\], got "20"/,
    );
    expect(usage('detection', '--out', untouched, '--defocus', '2')).toMatch(/--defocus applies to 'video' only/);
    expect(usage('video', '--out', untouched, '--flow-offsets', '1,0')).toMatch(
      /--flow-offsets expects non-zero integers like -1,5, got "1,0"/,
    );
    expect(readdirSync(dir)).not.toContain('untouched');
  });

  it('-h and --version exit 0', () => {
    const help = cli('-h');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: deformjs-shapes <kind> --out DIR');
    const version = cli('--version');
    expect(version.status).toBe(0);
    expect(version.stdout).toMatch(/^deformjs-shapes \d+\.\d+\.\d+/);
  });
});

describe('ensureShapesDataset', () => {
  it('generates once into the cache and reuses a complete copy', async () => {
    const cache = join(dir, 'cache');
    const first = await ensureShapesDataset('segmentation', cache, { seed: 1, count: 3, size: 48 });
    expect(first).toBe(join(cache, 'segmentation-seed1-n3-s48'));
    const stamp = statSync(join(first, 'deformjs-shapes.json')).mtimeMs;
    const again = await ensureShapesDataset('segmentation', cache, { seed: 1, count: 3, size: 48 });
    expect(again).toBe(first);
    expect(statSync(join(first, 'deformjs-shapes.json')).mtimeMs).toBe(stamp);
    expect(await ensureShapesDataset('segmentation', cache, { seed: 2, count: 3, size: 48 })).not.toBe(first);
    // Concurrent callers end with one complete copy and no staging folders.
    const [a, b] = await Promise.all(
      [1, 2].map(() => ensureShapesDataset('detection', cache, { seed: 3, count: 2, size: 48 })),
    );
    expect(a).toBe(b);
    expect(loadCoco(cocoPaths(a, 'train')).records.length).toBe(2);
    expect(readdirSync(cache).sort()).toEqual([
      'detection-seed3-n2-s48',
      'segmentation-seed1-n3-s48',
      'segmentation-seed2-n3-s48',
    ]);

    // A kind's own options name their own copy: 8 frames never reuse the 4-frame videos.
    const short = await ensureShapesDataset('video', cache, { seed: 1, count: 1, valCount: 1, size: 48, frames: 4 });
    expect(short).toBe(join(cache, 'video-seed1-n1-s48-v1-frames4'));
    const long = await ensureShapesDataset('video', cache, { seed: 1, count: 1, valCount: 1, size: 48, frames: 8 });
    expect(long).toBe(join(cache, 'video-seed1-n1-s48-v1-frames8'));
    expect(readdirSync(join(long, 'Data', 'VID', 'train', 'shapes_train_00000000')).length).toBe(8);
    const opts = { seed: 1, count: 1, valCount: 1, size: 48, frames: 4 };
    const defocused = await ensureShapesDataset('video', cache, { ...opts, defocus: 6 });
    expect(defocused).toBe(join(cache, 'video-seed1-n1-s48-v1-defocus6-frames4'));
    expect(loadVideoMotion(defocused, 'train', 'shapes_train_00000000').defocus?.length).toBe(4);
    expect(loadVideoMotion(short, 'train', 'shapes_train_00000000').defocus).toBeUndefined();
    await expect(ensureShapesDataset('pictures' as never, cache)).rejects.toThrow(
      /ensureShapesDataset: argument 'kind' expected one of "detection", "segmentation"/,
    );
  });
});
