import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, Module, Rng, fromTorchLayout, toTorchLayout } from '../src/index';
import { assertNoTensorLeak } from '../src/testing';

class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(rng: Rng, inFeatures: number, outFeatures: number) {
    super();
    this.weight = this.addParameter('weight', rng.normalTensor([inFeatures, outFeatures]), 'linear');
    this.bias = this.addParameter('bias', tf.zeros([outFeatures]));
  }
}

class Net extends Module {
  readonly fc: Linear;
  readonly runningMean: tf.Variable;
  constructor(rng: Rng) {
    super();
    this.fc = this.addModule('fc', new Linear(rng, 3, 2));
    this.runningMean = this.addBuffer('running_mean', tf.zeros([2]));
  }
}

describe('Module', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('names parameters like a PyTorch state_dict and separates buffers', () => {
    const net = new Net(new Rng(1));
    expect(net.namedParameters().map(([n]) => n)).toEqual(['running_mean', 'fc.weight', 'fc.bias']);
    expect(net.trainableVariables()).toHaveLength(2);
    net.dispose();
  });

  it('lists a module shared under two names once among the trainable variables, as parameters() does', () => {
    const rng = new Rng(2);
    const shared = new Linear(rng, 3, 2);
    const net = new (class extends Module {
      constructor() {
        super();
        this.addModule('a', shared);
        this.addModule('b', shared);
      }
    })();
    expect(net.namedParameters().map(([n]) => n)).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    expect(net.trainableVariables()).toEqual([shared.weight, shared.bias]);
    shared.dispose();
  });

  it('round-trips through the torch layout and refuses wrong shapes and keys', async () => {
    const net = new Net(new Rng(2));
    const other = new Net(new Rng(3));
    await assertNoTensorLeak(() => {
      const dict = net.stateDict({ torchLayout: true });
      expect(dict['fc.weight'].shape).toEqual([2, 3]);
      other.loadStateDict(dict, { torchLayout: true });
      expect(Array.from(other.fc.weight.dataSync())).toEqual(Array.from(net.fc.weight.dataSync()));
      expect(() => other.loadStateDict(dict)).toThrow(/'fc.weight' expected shape \[3, 2\], got \[2, 3\]/);
      const partial = { ...dict };
      delete partial['fc.bias'];
      expect(() => other.loadStateDict(partial)).toThrow(/missing keys \[fc.bias\]/);
      tf.dispose(Object.values(dict));
    });
    net.dispose();
    other.dispose();
  });

  it('converts conv and depthwise layouts both ways', () => {
    tf.tidy(() => {
      const torchConv = tf.reshape(tf.range(0, 2 * 3 * 4 * 5), [2, 3, 4, 5]);
      const ours = fromTorchLayout(torchConv, 'conv2d');
      expect(ours.shape).toEqual([4, 5, 3, 2]);
      // torch weight[o, i, h, w] == ours[h, w, i, o]
      const t = torchConv.arraySync() as number[][][][];
      const o = ours.arraySync() as number[][][][];
      expect(o[1][2][0][1]).toBe(t[1][0][1][2]);
      expect(Array.from(toTorchLayout(ours, 'conv2d').dataSync())).toEqual(Array.from(torchConv.dataSync()));
      const torchDw = tf.reshape(tf.range(0, 6 * 1 * 3 * 3), [6, 1, 3, 3]);
      const dw = fromTorchLayout(torchDw, 'depthwise');
      expect(dw.shape).toEqual([3, 3, 6, 1]);
      expect((dw.arraySync() as number[][][][])[2][1][4][0]).toBe((torchDw.arraySync() as number[][][][])[4][0][2][1]);
      expect(Array.from(toTorchLayout(dw, 'depthwise').dataSync())).toEqual(Array.from(torchDw.dataSync()));
    });
  });
});
