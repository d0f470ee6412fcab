// What every trainer of the apps does around its steps, written once: the clocks of the training record, the
// record's views (JSON and loss curve) and the checkpoint write whose order makes a resume safe.
import { lineChartSvg, writeFileAtomic } from '@deformjs/core/node';
import { encodeCheckpoint, type TrainingState } from './checkpoint';
import type { RunFolder } from './run_folder';

/** Where fault-injection tests stop a process during `saveTrainingCheckpoint`. */
export type WritePoint = 'before-temp-write' | 'after-temp-write' | 'after-rename' | 'after-record-write';

/** The time fields of a training record: training only, summed over the trainer's segments. */
export interface TrainingTime {
  secondsTraining: number;
  /** Process CPU seconds (user + system, every thread): the wall time on idle cores, whatever the load was. */
  cpuSecondsTraining: number;
}

/**
 * Adds the wall and process-CPU seconds between `start` (or construction) and `stop` to a record: trainers stop
 * it around evaluation and checkpoint writes so both clocks count training alone.
 */
export class TrainingClock {
  private wallStarted = 0;
  private cpuStarted = process.cpuUsage();

  constructor(private readonly record: TrainingTime) {
    this.start();
  }

  start(): void {
    this.wallStarted = performance.now();
    this.cpuStarted = process.cpuUsage();
  }

  stop(): void {
    this.record.secondsTraining += (performance.now() - this.wallStarted) / 1000;
    const cpu = process.cpuUsage(this.cpuStarted);
    this.record.cpuSecondsTraining += (cpu.user + cpu.system) / 1e6;
  }
}

/**
 * The training record's views, rebuilt from the checkpoint's copy whenever they lag: `recordFile` (JSON) and
 * `loss.svg`, each written atomically.
 */
export function writeRunRecord(
  folder: RunFolder,
  recordFile: string,
  record: object,
  lossCurve: { title: string; series: string; points: [number, number][] },
): void {
  writeFileAtomic(folder.path(recordFile), JSON.stringify(record, null, 1) + '\n');
  writeFileAtomic(
    folder.path(LOSS_PLOT),
    lineChartSvg({
      title: lossCurve.title,
      xLabel: 'step',
      yLabel: 'loss',
      series: [{ name: lossCurve.series, points: lossCurve.points }],
      logY: true,
    }),
  );
}

export const LOSS_PLOT = 'loss.svg';

/**
 * Saves the checkpoint (weights, optimizer, generators and the record: one atomic file), then the record's views
 * (`writeViews`). A kill at any point leaves a checkpoint a resume can use, and the views are rewritten from it.
 * `onWritePoint` lets fault-injection tests stop the process at each point.
 */
export function saveTrainingCheckpoint(
  path: string,
  state: TrainingState,
  writeViews: () => void,
  onWritePoint?: (point: WritePoint) => void,
): void {
  onWritePoint?.('before-temp-write');
  writeFileAtomic(path, encodeCheckpoint(state), { afterTempWrite: () => onWritePoint?.('after-temp-write') });
  onWritePoint?.('after-rename');
  writeViews();
  onWritePoint?.('after-record-write');
}
