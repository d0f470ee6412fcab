// Runs the CLI and kills its own process (SIGKILL: no cleanup, no exit handlers) at the n-th time the trainer
// reaches a checkpoint write point. Started by train.test.ts through tsx: the app from its sources, the packages
// from their built dist (turbo builds them before this app's tests).
import { main } from '../src/main';
import type { WritePoint } from '../src/train';

const [killAt, nth, ...argv] = process.argv.slice(2);
let seen = 0;
const onWritePoint = (point: WritePoint) => {
  if (point === killAt && ++seen === Number(nth)) process.kill(process.pid, 'SIGKILL');
};
main(argv, { onWritePoint }).then((code) => {
  process.exitCode = code;
});
