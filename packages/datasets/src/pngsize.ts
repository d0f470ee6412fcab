import { closeSync, openSync, readSync } from 'node:fs';
import { formatError } from './errors';

/** Width and height from a PNG's IHDR, reading 24 bytes (so a loader knows sizes without decoding). */
export function pngSize(path: string, record: string): { width: number; height: number } {
  const header = new Uint8Array(24);
  let read: number;
  try {
    const fd = openSync(path, 'r');
    try {
      read = readSync(fd, header, 0, 24, 0);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw formatError(
      path,
      record,
      `cannot read the image (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const isPng =
    read === 24 &&
    header[0] === 137 &&
    header[1] === 80 &&
    header[2] === 78 &&
    header[3] === 71 &&
    String.fromCharCode(...header.subarray(12, 16)) === 'IHDR';
  if (!isPng) throw formatError(path, record, 'not a PNG file (no PNG signature and IHDR)');
  const view = new DataView(header.buffer);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
