import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import * as sampling from '@deformjs/sampling';
import { MSDeformAttn } from '../src/index';

// Count how often the level layout is read and validated: once per MSDeformAttn.forward.
vi.mock('@deformjs/sampling', async (importOriginal) => {
  const original = await importOriginal<typeof sampling>();
  return {
    ...original,
    resolveLevels: vi.fn(original.resolveLevels),
    checkGatherArguments: vi.fn(original.checkGatherArguments),
  };
});

describe('MSDeformAttn level layout', () => {
  it('is resolved once per forward (the op below reuses it) and still rejects a wrong layout', async () => {
    await initBackend('cpu');
    const attn = new MSDeformAttn({ dModel: 8, nLevels: 2, nHeads: 2, nPoints: 2, rng: new Rng(1) });
    const rng = new Rng(2);
    const query = rng.normalTensor([1, 3, 8]);
    const reference = rng.uniformTensor([1, 3, 2, 2], 0, 1);
    const input = rng.normalTensor([1, 4 * 3 + 2 * 2, 8]);
    const shapes = tf.tensor2d([4, 3, 2, 2], [2, 2], 'int32');
    const starts = tf.tensor1d([0, 12], 'int32');
    vi.mocked(sampling.resolveLevels).mockClear();
    vi.mocked(sampling.checkGatherArguments).mockClear();
    const out = attn.forward(query, reference, input, shapes, starts);
    expect(out.shape).toEqual([1, 3, 8]);
    expect(vi.mocked(sampling.resolveLevels)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(sampling.checkGatherArguments)).not.toHaveBeenCalled();
    expect(() =>
      attn.forward(
        query,
        reference,
        input,
        [
          [4, 3],
          [2, 2],
        ],
        [0, 11],
      ),
    ).toThrow(/MSDeformAttn.*inputLevelStartIndex.*\[0, 12\]/);
    tf.dispose([out, query, reference, input, shapes, starts]);
    attn.dispose();
  });
});
