import type { RgbImage } from './types';

/** Detections to draw: K scores, class labels and K x 4 xyxy boxes in the image's pixels. */
export interface DrawnDetections {
  scores: Float32Array;
  labels: Int32Array;
  boxes: Float32Array;
}

const PALETTE: [number, number, number][] = [
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
];

function drawBox(image: RgbImage, [x1, y1, x2, y2]: number[], color: [number, number, number], thickness = 2): void {
  const { width, height, data } = image;
  const clampX = (v: number) => Math.max(0, Math.min(width - 1, Math.round(v)));
  const clampY = (v: number) => Math.max(0, Math.min(height - 1, Math.round(v)));
  const [a, b, c, d] = [clampX(x1), clampY(y1), clampX(x2), clampY(y2)];
  const paint = (x: number, y: number) => data.set(color, (y * width + x) * 3);
  for (let t = 0; t < thickness; t++) {
    for (let x = a; x <= c; x++) {
      paint(x, Math.min(height - 1, b + t));
      paint(x, Math.max(0, d - t));
    }
    for (let y = b; y <= d; y++) {
      paint(Math.min(width - 1, a + t), y);
      paint(Math.max(0, c - t), y);
    }
  }
}

/**
 * Draws on `image` the detections scoring at least `threshold`, and at least the `minBoxes` best (a young
 * model scores low), colour by class.
 */
export function drawBoxes(image: RgbImage, det: DrawnDetections, threshold = 0.5, minBoxes = 3): void {
  const floor = [...det.scores].sort((a, b) => b - a)[Math.min(minBoxes, det.scores.length) - 1] ?? Infinity;
  det.scores.forEach((score, i) => {
    if (score >= Math.min(threshold, floor))
      drawBox(image, Array.from(det.boxes.subarray(4 * i, 4 * i + 4)), PALETTE[det.labels[i] % PALETTE.length]);
  });
}
