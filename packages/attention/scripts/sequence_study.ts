/**
 * The paper's Transformer ablation at toy scale: the toy translation of scripts/translation.ts trained once per
 * attention configuration and seed, one run at a time. Every placement (encoder self-attention, encoder-decoder
 * attention, decoder self-attention) is varied alone while the other two keep all four terms ('1111'). Each run
 * writes <out>/<config>-s<seed>.json (atomically; existing runs are skipped, so the study resumes). Then
 * `npx tsx scripts/sequence_report.ts` writes the README table and the plots.
 * Usage (in packages/attention): npx tsx scripts/sequence_study.ts [--seeds 0,1] [--steps 300] [--only name,...]
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@deformjs/core';
import { UsageError, runCli, writeFileAtomic } from '@deformjs/core/node';
import { DEFAULT_MODEL, TranslationTransformer, train, type TranslationConfig } from './translation';

type Placement = 'encoderSelf' | 'encoderDecoder' | 'decoderSelf';
export const PLACEMENTS: Placement[] = ['encoderSelf', 'encoderDecoder', 'decoderSelf'];
/** The combinations tried in each placement (besides the shared '1111' baseline). */
export const VARIED = ['1100', '1000', '0100', '0010', '0001'];

export interface StudyConfig {
  name: string;
  placement: Placement | 'all';
  attentionType: string;
}

export const STUDY: StudyConfig[] = [
  { name: 'all-1111', placement: 'all', attentionType: '1111' },
  ...PLACEMENTS.flatMap((placement) =>
    VARIED.map((attentionType) => ({ name: `${placement}-${attentionType}`, placement, attentionType })),
  ),
];

const LENGTH = 16;
const BATCH = 32;

const usage = `sequence_study: trains the toy translation for every attention configuration and seed
  --seeds 0,1     seeds (comma separated)
  --steps 300     training steps per run
  --only a,b      only these configurations (${STUDY.map((c) => c.name).join(', ')})
  --out runs/sequence   output folder`;

process.exitCode = await runCli(
  {
    name: 'sequence_study',
    usage,
    packageJson: new URL('../package.json', import.meta.url),
    options: {
      seeds: { type: 'string', default: '0,1' },
      steps: { type: 'string', default: '300' },
      only: { type: 'string' },
      out: { type: 'string', default: 'runs/sequence' },
    },
  },
  process.argv.slice(2),
  async ({ values, flags }) => {
    const seeds = values.seeds!.split(',').map((s) => {
      if (!/^\d+$/.test(s))
        throw new UsageError(`sequence_study: --seeds expects integers like 0,1, got ${values.seeds}`);
      return Number(s);
    });
    const steps = flags.int('steps', 1);
    const names = values.only?.split(',');
    for (const name of names ?? []) {
      if (!STUDY.some((c) => c.name === name))
        throw new UsageError(`sequence_study: --only: unknown configuration ${name}`);
    }
    const configs = STUDY.filter((c) => !names || names.includes(c.name));
    await initBackend('wasm');
    for (const seed of seeds) {
      for (const study of configs) {
        const file = join(values.out!, `${study.name}-s${seed}.json`);
        if (existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).final) continue;
        const config: TranslationConfig = { ...DEFAULT_MODEL };
        if (study.placement !== 'all') config[study.placement] = study.attentionType;
        const loadBefore = loadavg();
        const model = new TranslationTransformer(config, seed);
        const result = train(model, { steps, batch: BATCH, length: LENGTH, lr: 1e-3, seed, evalEvery: 50 });
        const multiplyAdds = Object.fromEntries(
          PLACEMENTS.map((p) => [
            p,
            model
              .attentions()
              .filter((a) => a.placement === p)
              .reduce((sum, a) => sum + a.module.multiplyAdds(1, LENGTH, LENGTH), 0),
          ]),
        );
        model.dispose();
        const record = {
          ...study,
          seed,
          steps,
          batch: BATCH,
          length: LENGTH,
          config,
          multiplyAdds,
          loadBefore,
          loadAfter: loadavg(),
          ...result,
        };
        writeFileAtomic(file, `${JSON.stringify(record)}\n`);
        console.log(
          `${new Date().toISOString().slice(11, 19)} ${study.name} s${seed}: token ${result.final.tokenAccuracy.toFixed(3)}, ` +
            `sentence ${result.final.sentenceAccuracy.toFixed(3)}, ${(steps / result.secondsTraining).toFixed(2)} it/s, ` +
            `${result.cpuSecondsTraining.toFixed(0)} CPU s, load ${loadBefore.join(' ')}`,
        );
      }
    }
  },
);
