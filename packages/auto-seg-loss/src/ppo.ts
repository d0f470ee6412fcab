import { Rng, argumentError, assertInteger, assertPositive } from '@deformjs/core';
import { sampleTruncatedNormal, truncatedNormalLogProb } from './truncated_normal';

/**
 * The official Auto Seg-Loss search: every raw parameter theta_j in [0, 1] is drawn from its own normal
 * truncated to [0, 1], with mean sigmoid(logit_j) and a fixed std; each round draws `samplesPerRound` thetas,
 * sample 0 being the mean itself, whose reward is the baseline; then `updatesPerRound` Adam steps on the
 * logits maximise PPO's clipped objective mean_i min(r_ij A_i, clip(r_ij, 1 - eps, 1 + eps) A_i), summed over
 * parameters j, with r_ij the per-parameter probability ratio to the sampling distribution and
 * A_i = reward_i - reward_0.
 */
export interface PpoOptions {
  /** The number of raw parameters. */
  size: number;
  /** The starting mean in [0, 1] per parameter (the official searches start at the identity curves). */
  initialMean: readonly number[];
  rounds?: number;
  samplesPerRound?: number;
  updatesPerRound?: number;
  std?: number;
  learningRate?: number;
  clipEps?: number;
}

/** The paper's search: 12 rounds x 32 samples, 60 updates per round, std 0.2, Adam lr 0.2, eps 0.2. */
export const PPO_DEFAULTS = {
  rounds: 12,
  samplesPerRound: 32,
  updatesPerRound: 60,
  std: 0.2,
  learningRate: 0.2,
  clipEps: 0.2,
} as const;

export interface RoundRecord {
  round: number;
  /** The sampling mean of the round (raw theta). */
  mean: number[];
  thetas: number[][];
  rewards: number[];
  /** rewards[0]: the mean's reward. */
  baseline: number;
}

/** Everything a search needs to continue exactly where it stopped; plain JSON. */
export interface PpoState {
  version: 1;
  options: Required<PpoOptions>;
  logits: number[];
  adam: { m: number[]; v: number[]; step: number };
  rng: number[];
  round: number;
  /** The current round's thetas once drawn, with the rewards received so far. */
  pending: { thetas: number[][]; rewards: Array<number | null> } | null;
  history: RoundRecord[];
}

const OP = 'PpoSearch';

export class PpoSearch {
  private constructor(private readonly s: PpoState) {}

  static create(options: PpoOptions, seed: number): PpoSearch {
    const size = assertInteger(OP, 'size', options.size, 1);
    const full: Required<PpoOptions> = {
      size,
      initialMean: Array.from(options.initialMean),
      rounds: assertInteger(OP, 'rounds', options.rounds ?? PPO_DEFAULTS.rounds, 1),
      samplesPerRound: assertInteger(OP, 'samplesPerRound', options.samplesPerRound ?? PPO_DEFAULTS.samplesPerRound, 2),
      updatesPerRound: assertInteger(OP, 'updatesPerRound', options.updatesPerRound ?? PPO_DEFAULTS.updatesPerRound, 1),
      std: assertPositive(OP, 'std', options.std ?? PPO_DEFAULTS.std),
      learningRate: assertPositive(OP, 'learningRate', options.learningRate ?? PPO_DEFAULTS.learningRate),
      clipEps: assertPositive(OP, 'clipEps', options.clipEps ?? PPO_DEFAULTS.clipEps),
    };
    if (full.initialMean.length !== size)
      throw argumentError(OP, 'initialMean', `${size} numbers`, `${full.initialMean.length} numbers`);
    full.initialMean.forEach((m, i) => {
      if (!(m > 0 && m < 1)) throw argumentError(OP, `initialMean[${i}]`, 'a number in (0, 1)', m);
    });
    return new PpoSearch({
      version: 1,
      options: full,
      logits: full.initialMean.map((m) => Math.log(m / (1 - m))),
      adam: { m: new Array(size).fill(0), v: new Array(size).fill(0), step: 0 },
      rng: new Rng(seed).state(),
      round: 0,
      pending: null,
      history: [],
    });
  }

  static restore(state: PpoState): PpoSearch {
    if (state?.version !== 1) throw argumentError(OP, 'state.version', '1', state?.version);
    return new PpoSearch(structuredClone(state));
  }

  /** A deep copy of the state, for a checkpoint. */
  state(): PpoState {
    return structuredClone(this.s);
  }

  get done(): boolean {
    return this.s.round >= this.s.options.rounds;
  }

  get round(): number {
    return this.s.round;
  }

  get history(): readonly RoundRecord[] {
    return this.s.history;
  }

  /** The current sampling mean (raw theta). */
  mean(): number[] {
    return this.s.logits.map(sigmoid);
  }

  /** The thetas of the current round (drawn on first call), sample 0 being the mean. */
  roundSamples(): number[][] {
    if (this.done) throw new Error(`${OP}: the search is done (${this.s.round} rounds)`);
    if (!this.s.pending) {
      const { samplesPerRound, std } = this.s.options;
      const rng = new Rng(this.s.rng);
      const mean = this.mean();
      const thetas = [
        mean,
        ...Array.from({ length: samplesPerRound - 1 }, () =>
          mean.map((m) => sampleTruncatedNormal(m, std, rng.next())),
        ),
      ];
      this.s.rng = rng.state();
      this.s.pending = { thetas, rewards: new Array(samplesPerRound).fill(null) };
    }
    return structuredClone(this.s.pending.thetas);
  }

  /** Indices of this round's samples still without a reward. */
  missingRewards(): number[] {
    const pending = this.s.pending;
    if (!pending) return [];
    return pending.rewards.flatMap((r, i) => (r === null ? [i] : []));
  }

  setReward(sample: number, reward: number): void {
    const pending = this.s.pending;
    if (!pending) throw new Error(`${OP}: call roundSamples() before setReward()`);
    assertInteger(OP, 'sample', sample, 0, pending.rewards.length - 1);
    if (!Number.isFinite(reward)) throw argumentError(OP, 'reward', 'a finite number', reward);
    pending.rewards[sample] = reward;
  }

  /** Once every sample has its reward: the PPO updates; the round is recorded and the next one begins. */
  finishRound(): RoundRecord {
    const pending = this.s.pending;
    const missing = this.missingRewards();
    if (!pending || missing.length > 0)
      throw new Error(`${OP}: round ${this.s.round} still lacks rewards for samples [${missing.join(', ')}]`);
    const rewards = pending.rewards as number[];
    const record: RoundRecord = {
      round: this.s.round,
      mean: this.mean(),
      thetas: pending.thetas,
      rewards,
      baseline: rewards[0],
    };
    this.update(pending.thetas, rewards);
    this.s.history.push(record);
    this.s.pending = null;
    this.s.round++;
    return record;
  }

  /** The sample with the highest reward over all rounds. */
  best(): { theta: number[]; reward: number; round: number } | null {
    let best: { theta: number[]; reward: number; round: number } | null = null;
    for (const r of this.s.history) {
      r.rewards.forEach((reward, i) => {
        if (!best || reward > best.reward) best = { theta: r.thetas[i], reward, round: r.round };
      });
    }
    return best;
  }

  private update(thetas: number[][], rewards: number[]): void {
    const { std, clipEps, learningRate, updatesPerRound, size } = this.s.options;
    const n = thetas.length;
    const advantages = rewards.map((r) => r - rewards[0]);
    const mean0 = this.mean();
    const logProb0 = thetas.map((theta) => theta.map((x, j) => truncatedNormalLogProb(x, mean0[j], std).logProb));
    const { adam } = this.s;
    const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
    for (let it = 0; it < updatesPerRound; it++) {
      const mean = this.mean();
      const grad = new Array(size).fill(0);
      for (let i = 0; i < n; i++) {
        const a = advantages[i];
        if (a === 0) continue;
        for (let j = 0; j < size; j++) {
          const { logProb, dMean } = truncatedNormalLogProb(thetas[i][j], mean[j], std);
          const ratio = Math.exp(logProb - logProb0[i][j]);
          // The clipped term's gradient is zero outside [1 - eps, 1 + eps]; min() follows whichever term is
          // smaller (inside the interval the two are equal and both carry the full gradient).
          const inside = ratio >= 1 - clipEps && ratio <= 1 + clipEps;
          const unclippedSmaller = ratio * a < Math.min(Math.max(ratio, 1 - clipEps), 1 + clipEps) * a;
          if (inside || unclippedSmaller) grad[j] -= (a * ratio * dMean * mean[j] * (1 - mean[j])) / n;
        }
      }
      // Adam (PyTorch's defaults) minimising -objective.
      adam.step++;
      const c1 = 1 - beta1 ** adam.step;
      const c2 = 1 - beta2 ** adam.step;
      for (let j = 0; j < size; j++) {
        adam.m[j] = beta1 * adam.m[j] + (1 - beta1) * grad[j];
        adam.v[j] = beta2 * adam.v[j] + (1 - beta2) * grad[j] * grad[j];
        this.s.logits[j] -= ((learningRate / c1) * adam.m[j]) / (Math.sqrt(adam.v[j]) / Math.sqrt(c2) + eps);
      }
    }
  }
}

/**
 * Runs a search to the end, asking `reward` for every sample not yet rewarded and calling `checkpoint` after
 * each reward and each round, so a crash loses at most one proxy training. A search restored from a
 * checkpoint continues exactly as the uninterrupted run would.
 */
export async function runPpoSearch(
  search: PpoSearch,
  reward: (theta: number[], where: { round: number; sample: number }) => number | Promise<number>,
  checkpoint: (search: PpoSearch, event: { round: number; sample: number | null }) => void | Promise<void> = () => {},
): Promise<PpoSearch> {
  while (!search.done) {
    const thetas = search.roundSamples();
    for (const sample of search.missingRewards()) {
      search.setReward(sample, await reward(thetas[sample], { round: search.round, sample }));
      await checkpoint(search, { round: search.round, sample });
    }
    const { round } = search.finishRound();
    await checkpoint(search, { round, sample: null });
  }
  return search;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}
