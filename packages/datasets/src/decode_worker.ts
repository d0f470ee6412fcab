import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { decodeAndTransform, sampleBuffers, serializeError, type DecodeTask } from './pipeline';

// Each worker is one of several decoding threads: libvips must not start a thread pool of its own per worker.
sharp.concurrency(1);
sharp.cache(false);

parentPort!.on('message', (task: DecodeTask) => {
  decodeAndTransform(task).then(
    (sample) => {
      parentPort!.postMessage({ id: task.id, sample }, sampleBuffers(sample));
    },
    (error: unknown) => parentPort!.postMessage({ id: task.id, error: serializeError(error) }),
  );
});
