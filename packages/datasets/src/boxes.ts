/**
 * Annotation tools round coordinates, so a box may overhang its image by up to this many pixels; it is then
 * clipped. A box further out means the annotation does not belong to this image and is an error.
 */
export const BOX_TOLERANCE_PX = 1;

/** Validates an xyxy box against its image and returns it clipped; `fail` gets what is wrong. */
export function checkBox(
  box: readonly [number, number, number, number],
  width: number,
  height: number,
  fail: (problem: string) => never,
): [number, number, number, number] {
  const [x0, y0, x1, y1] = box;
  if (![x0, y0, x1, y1].every(Number.isFinite)) fail(`box [${box.join(', ')}] is not finite`);
  if (x1 < x0 || y1 < y0) fail(`box [${box.join(', ')}] (xyxy) has negative width or height`);
  const t = BOX_TOLERANCE_PX;
  if (x0 < -t || y0 < -t || x1 > width + t || y1 > height + t) {
    fail(`box [${box.join(', ')}] (xyxy) lies outside the ${width}x${height} image`);
  }
  return [Math.max(0, x0), Math.max(0, y0), Math.min(width, x1), Math.min(height, y1)];
}

/** xyxy pixels -> cxcywh normalised by the image size, as DETR's targets. */
export function xyxyToNormalizedCxcywh(boxes: Float32Array, width: number, height: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = (boxes[i] + boxes[i + 2]) / 2 / width;
    out[i + 1] = (boxes[i + 1] + boxes[i + 3]) / 2 / height;
    out[i + 2] = (boxes[i + 2] - boxes[i]) / width;
    out[i + 3] = (boxes[i + 3] - boxes[i + 1]) / height;
  }
  return out;
}

/** The area of each xyxy box (rows of 4). */
export function xyxyAreas(boxes: ArrayLike<number>): Float32Array {
  const area = new Float32Array(boxes.length / 4);
  for (let i = 0; i < area.length; i++)
    area[i] = (boxes[4 * i + 2] - boxes[4 * i]) * (boxes[4 * i + 3] - boxes[4 * i + 1]);
  return area;
}

/** A record's box columns from the xyxy boxes and labels an annotation file lists (none of them crowd). */
export function boxColumns(boxes: readonly number[], labels: readonly number[]) {
  return {
    boxes: Float32Array.from(boxes),
    labels: Int32Array.from(labels),
    iscrowd: new Uint8Array(labels.length),
    area: xyxyAreas(boxes),
  };
}
