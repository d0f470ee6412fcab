import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { formatError } from './errors';
import type { RgbImage } from './types';

/**
 * Decodes any image sharp reads (JPEG, PNG, WebP, ...) to HWC RGB uint8; errors name the file. With `expected`
 * (the annotation's size and file), the header is read first and a size that disagrees is refused before any
 * pixel is decoded. Corrupt data is an error, not a silently damaged image: sharp fails on decoder warnings
 * too (a JPEG with garbage in its scan, a PNG chunk with a bad CRC).
 */
export async function decodeImage(
  path: string,
  record = '',
  expected?: { width: number; height: number; source: string },
): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw formatError(
      path,
      record,
      `cannot read the image (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  if (expected) {
    let header: { width?: number; height?: number };
    try {
      header = await sharp(bytes).metadata();
    } catch (error) {
      throw formatError(path, record, `cannot decode the image (${(error as Error).message})`);
    }
    if (header.width !== expected.width || header.height !== expected.height)
      throw formatError(
        path,
        record,
        `decoded size ${header.width}x${header.height} differs from the annotated ${expected.width}x${expected.height} (in ${expected.source})`,
      );
  }
  try {
    const { data, info } = await sharp(bytes, { failOn: 'warning' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    // A copy into a plain ArrayBuffer of its own, which (unlike native or pooled Buffer memory) can be
    // transferred between threads.
    return { data: new Uint8Array(data), width: info.width, height: info.height };
  } catch (error) {
    throw formatError(path, record, `cannot decode the image (${(error as Error).message})`);
  }
}

/** Encodes HWC RGB uint8 as JPEG (quality 90, 4:4:4 so thin shapes keep their colour) or PNG. */
export async function encodeImage(image: RgbImage, format: 'jpeg' | 'png'): Promise<Uint8Array> {
  const input = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
  const encoded =
    format === 'jpeg' ? input.jpeg({ quality: 90, chromaSubsampling: '4:4:4' }) : input.png({ compressionLevel: 6 });
  return new Uint8Array(await encoded.toBuffer());
}
