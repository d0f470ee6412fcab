import { readFileSync } from 'node:fs';
import { Rng } from '@deformjs/core';
import { assertAllClose } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import { PpoSearch, runPpoSearch, identityTheta, type PpoState } from '../src';
import {
  normalCdf,
  normalPdf,
  normalQuantile,
  sampleTruncatedNormal,
  truncatedNormalLogProb,
} from '../src/truncated_normal';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/ppo.json', import.meta.url), 'utf8'));

describe('truncated normal on [0, 1]', () => {
  it('inverts the normal CDF', () => {
    for (const x of [-4, -2.5, -1, -0.1, 0, 0.3, 1.7, 3.9]) expect(normalQuantile(normalCdf(x))).toBeCloseTo(x, 5);
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 6);
  });

  it("samples inside [0, 1] with the truncated distribution's mean", () => {
    const rng = new Rng(4);
    for (const [mean, std] of [
      [0.3, 0.2],
      [0.95, 0.2],
      [0.5, 0.5],
    ]) {
      const n = 20000;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const x = sampleTruncatedNormal(mean, std, rng.next());
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(1);
        sum += x;
      }
      const alpha = -mean / std;
      const beta = (1 - mean) / std;
      const expected = mean + (std * (normalPdf(alpha) - normalPdf(beta))) / (normalCdf(beta) - normalCdf(alpha));
      expect(Math.abs(sum / n - expected)).toBeLessThan(0.005);
    }
  });

  it('differentiates the log density with respect to the mean', () => {
    for (const [x, mean] of [
      [0.1, 0.3],
      [0.9, 0.6],
      [0.5, 0.02],
    ]) {
      const h = 1e-5;
      const numeric =
        (truncatedNormalLogProb(x, mean + h, 0.2).logProb - truncatedNormalLogProb(x, mean - h, 0.2).logProb) / (2 * h);
      expect(truncatedNormalLogProb(x, mean, 0.2).dMean).toBeCloseTo(numeric, 3);
    }
  });
});

describe('PPO search', () => {
  it('reproduces one round of the official PyTorch update (fixed thetas and rewards, 60 Adam steps)', () => {
    const search = PpoSearch.create(
      {
        size: 6,
        initialMean: fixture.initialMean,
        samplesPerRound: fixture.thetas.length,
        std: fixture.std,
        learningRate: fixture.learningRate,
        clipEps: fixture.clipEps,
        updatesPerRound: fixture.updatesPerRound,
        rounds: 2,
      },
      0,
    );
    const state = search.state();
    state.pending = { thetas: fixture.thetas, rewards: fixture.rewards };
    const restored = PpoSearch.restore(state);
    restored.finishRound();
    assertAllClose(restored.mean(), fixture.meanAfter, { atol: 2e-5, rtol: 1e-4, name: 'mean after the round' });
  });

  it('starts from the mean as sample 0 and improves a known toy reward', async () => {
    const target = [0.85, 0.15, 0.7, 0.3, 0.9, 0.6];
    const distance = (theta: number[]) => Math.sqrt(theta.reduce((s, v, j) => s + (v - target[j]) ** 2, 0));
    const start = distance(identityTheta(2));
    const finals: number[] = [];
    for (const seed of [1, 2, 123]) {
      const search = PpoSearch.create(
        { size: 6, initialMean: identityTheta(2), rounds: 10, samplesPerRound: 16 },
        seed,
      );
      expect(search.roundSamples()[0]).toEqual(search.mean());
      await runPpoSearch(search, (theta) => -distance(theta));
      expect(search.history).toHaveLength(10);
      expect(
        search.history.every((r) => r.baseline === r.rewards[0] && r.thetas[0].every((v, j) => v === r.mean[j])),
      ).toBe(true);
      // The search is noisy round to round (lr 0.2, 60 updates), but every run ends nearer than it began.
      finals.push(distance(search.mean()));
      expect(finals[finals.length - 1]).toBeLessThan(start);
      expect(search.best()!.reward).toBeGreaterThan(-0.5 * start);
    }
    expect(finals.reduce((a, b) => a + b) / finals.length).toBeLessThan(0.6 * start);
  });

  it('resumes from any checkpoint to the same result as an uninterrupted run', async () => {
    const options = { size: 4, initialMean: [0.5, 0.5, 0.5, 0.5], rounds: 4, samplesPerRound: 5, updatesPerRound: 20 };
    const reward = (theta: number[], where: { round: number; sample: number }) =>
      Math.sin(3 * theta[0]) + theta[1] * theta[2] - theta[3] ** 2 + 0.01 * where.sample;
    const full = await runPpoSearch(PpoSearch.create(options, 99), reward);

    for (const crashAfter of [1, 7, 10, 13]) {
      let saved = '';
      let calls = 0;
      const crashing = (theta: number[], where: { round: number; sample: number }) => {
        if (++calls > crashAfter) throw new Error('simulated crash');
        return reward(theta, where);
      };
      await expect(
        runPpoSearch(PpoSearch.create(options, 99), crashing, (s) => void (saved = JSON.stringify(s.state()))),
      ).rejects.toThrow('simulated crash');
      const resumed = await runPpoSearch(PpoSearch.restore(JSON.parse(saved) as PpoState), reward);
      expect(resumed.state()).toEqual(full.state());
    }
  });

  it('rejects bad options and out-of-order calls with clear errors', () => {
    expect(() => PpoSearch.create({ size: 3, initialMean: [0.5, 0.5] }, 0)).toThrow(
      /PpoSearch: argument 'initialMean' expected 3 numbers/,
    );
    expect(() => PpoSearch.create({ size: 2, initialMean: [0.5, 1] }, 0)).toThrow(
      /initialMean\[1\]' expected a number in \(0, 1\), got 1/,
    );
    expect(() => PpoSearch.create({ size: 1, initialMean: [0.5], samplesPerRound: 1 }, 0)).toThrow(
      /samplesPerRound' expected an integer >= 2/,
    );
    const search = PpoSearch.create({ size: 1, initialMean: [0.5], samplesPerRound: 3 }, 0);
    expect(() => search.setReward(0, 1)).toThrow(/call roundSamples\(\) before setReward\(\)/);
    search.roundSamples();
    search.setReward(0, 1);
    expect(() => search.finishRound()).toThrow(/round 0 still lacks rewards for samples \[1, 2\]/);
    expect(() => search.setReward(1, Number.NaN)).toThrow(/argument 'reward' expected a finite number, got NaN/);
  });
});
