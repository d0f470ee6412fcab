import { backend_util } from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { convGeometry, convTapGrid } from '../src/index';
import { geometryFromConvInfo } from '../src/kernels/conv_info';

type Pair = [number, number];
const CASES: Array<{ input: number[]; kernel: Pair; out: number; stride: Pair; padding: Pair; dilation: Pair }> = [
  { input: [2, 7, 5, 3], kernel: [3, 3], out: 4, stride: [1, 1], padding: [1, 1], dilation: [1, 1] },
  { input: [1, 9, 6, 2], kernel: [3, 2], out: 5, stride: [2, 3], padding: [1, 0], dilation: [1, 1] },
  { input: [3, 8, 11, 1], kernel: [2, 3], out: 1, stride: [3, 2], padding: [2, 1], dilation: [2, 3] },
];

describe('convGeometry', () => {
  it("resolves every size as tfjs's own conv info does (explicit symmetric padding)", () => {
    for (const c of CASES) {
      const g = convGeometry('op', c.input, { kernel: c.kernel, outChannels: c.out, arg: 'weight' }, c);
      const [ph, pw] = c.padding;
      const info = backend_util.computeConv2DInfo(
        c.input as [number, number, number, number],
        [c.kernel[0], c.kernel[1], c.input[3], c.out],
        c.stride,
        c.dilation,
        [
          [0, 0],
          [ph, ph],
          [pw, pw],
          [0, 0],
        ],
      );
      const { channelsLast, ...expected } = geometryFromConvInfo(info);
      expect(channelsLast).toBe(true);
      expect(g).toEqual(expected);
    }
  });

  it('blames the kernel argument when the dilated kernel exceeds the padded input', () => {
    const attrs = { stride: [1, 1] as Pair, padding: [1, 0] as Pair, dilation: [2, 2] as Pair };
    expect(() =>
      convGeometry('deformConv2d', [1, 4, 4, 1], { kernel: [3, 3], outChannels: 1, arg: 'weight' }, attrs),
    ).toThrow(
      'deformConv2d: argument \'weight\' expected a dilated kernel (5 x 5) no bigger than the padded input (6 x 4), got "kernel 3 x 3 with dilations [2, 2]"',
    );
  });

  it('places the undeformed taps at (wo*sw - pw + j*dw, ho*sh - ph + i*dh)', () => {
    const g = convGeometry(
      'op',
      [1, 5, 6, 1],
      { kernel: [2, 3], outChannels: 1, arg: 'weight' },
      {
        stride: [2, 1],
        padding: [1, 0],
        dilation: [3, 2],
      },
    );
    expect([g.outHeight, g.outWidth]).toEqual([2, 2]);
    const grid = convTapGrid(g);
    expect(grid.length).toBe(2 * 2 * 6 * 2);
    // Output (1, 1), tap (1, 2): x = 1*1 - 0 + 2*2 = 5, y = 1*2 - 1 + 1*3 = 4.
    const tap = (1 * 2 + 1) * 6 + (1 * 3 + 2);
    expect([grid[2 * tap], grid[2 * tap + 1]]).toEqual([5, 4]);
    // Output (0, 0), tap (0, 0): the top-left corner of the padded input.
    expect([grid[0], grid[1]]).toEqual([0, -1]);
  });
});
