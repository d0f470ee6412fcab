import { describe, expect, it } from 'vitest';
import { createProgress, lineChartSvg, markdownTable } from '../src/report';

describe('createProgress', () => {
  it('prints steps, rate and values as lines on a non-TTY stream', () => {
    const lines: string[] = [];
    const progress = createProgress({
      total: 4,
      label: 'train',
      logEveryMs: 0,
      stream: { write: (t: string) => lines.push(t), isTTY: false },
    });
    progress.update(1, { loss: 1.5, lr: 2e-4 });
    progress.update(4, { loss: 0.25 });
    progress.done({ loss: 0.25 });
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^train \[#{6}-{18}\] 1\/4 .*it\/s.*loss 1\.5000 {2}lr 2\.00e-4\n$/);
    expect(lines[2]).toMatch(/4\/4/);
  });
});

describe('lineChartSvg', () => {
  it('draws one path per series with a legend, escaping text', () => {
    const svg = lineChartSvg({
      title: 'loss <train>',
      xLabel: 'step',
      yLabel: 'loss',
      logY: true,
      series: [
        {
          name: 'deformable',
          points: [
            [0, 2],
            [1, 1],
            [2, 0.5],
          ],
        },
        {
          name: 'detr',
          points: [
            [0, 2],
            [1, 0],
            [2, 1.5],
          ],
        },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('loss &lt;train>');
    expect(svg).toContain('>deformable</text>');
    // The zero in a log-scale series is skipped, not drawn at -Infinity.
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});

describe('markdownTable', () => {
  it('pads every column to its widest cell, right-aligning the columns asked for', () => {
    const table = markdownTable(
      ['run', 'AP', 'note'],
      [
        ['seed 0', '0.156', ''],
        ['mean +- std', '0.18 +- 0.03', 'two seeds'],
      ],
      ['left', 'right'],
    );
    expect(table).toBe(
      [
        '| run         |           AP | note      |',
        '| ----------- | -----------: | --------- |',
        '| seed 0      |        0.156 |           |',
        '| mean +- std | 0.18 +- 0.03 | two seeds |',
      ].join('\n'),
    );
    expect(markdownTable(['a'], [])).toBe('| a   |\n| --- |');
  });

  it('refuses a row with another number of cells than the header, naming the row', () => {
    expect(() => markdownTable(['a', 'b'], [['1', '2'], ['3']])).toThrow(
      "markdownTable: rows[1] must have 2 cells (the header's), got 1",
    );
  });
});
