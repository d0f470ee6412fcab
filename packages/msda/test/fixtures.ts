import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface OpFixture {
  N: number;
  M: number;
  D: number;
  Lq: number;
  L: number;
  P: number;
  S: number;
  spatialShapes: number[][];
  levelStartIndex: number[];
  value: number[];
  samplingLocations: number[];
  attentionWeights: number[];
  output: number[];
  gradOutput: number[];
  gradValue: number[];
  gradSamplingLocations: number[];
  gradAttentionWeights: number[];
}

export function loadFixture<T = OpFixture>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`./fixtures/${name}.json`, import.meta.url)), 'utf8')) as T;
}

export const OP_FIXTURES = ['tiny', 'd30', 'd32', 'd64', 'd71', 'far', 'batch2', 'level1x1'];
