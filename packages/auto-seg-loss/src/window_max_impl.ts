/**
 * The maximum over the (2r+1) x (2r+1) window around each pixel of NHWC data, out-of-image pixels left out,
 * and the flat input index it came from (the first maximum in row-major window order, as PyTorch's
 * max_pool2d picks). Plain array code, no tfjs: run on cpu and wasm through registerFusedKernel.
 */
export function windowMaxForward(
  x: Float32Array | Int32Array,
  y: Float32Array | Int32Array,
  argmax: Float32Array | Int32Array,
  shape: number[],
  radius: number,
): void {
  const [batch, height, width, channels] = shape;
  // Separable: the maximum along each row's window (keeping the first, i.e. leftmost, maximum), then along
  // each column's window over those (keeping the topmost): the first maximum in row-major window order.
  const rowMax = new Float32Array(x.length);
  const rowArg = new Int32Array(x.length);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      const row = (b * height + i) * width;
      for (let j = 0; j < width; j++) {
        const j0 = Math.max(0, j - radius);
        const j1 = Math.min(width - 1, j + radius);
        const out = (row + j) * channels;
        for (let c = 0; c < channels; c++) {
          let where = (row + j0) * channels + c;
          let best = x[where];
          for (let index = where + channels, v = j0 + 1; v <= j1; v++, index += channels) {
            if (x[index] > best) {
              best = x[index];
              where = index;
            }
          }
          rowMax[out + c] = best;
          rowArg[out + c] = where;
        }
      }
    }
  }
  const stride = width * channels;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      const i0 = Math.max(0, i - radius);
      const i1 = Math.min(height - 1, i + radius);
      for (let jc = 0; jc < stride; jc++) {
        let index = (b * height + i0) * stride + jc;
        let best = rowMax[index];
        let where = rowArg[index];
        for (let u = i0 + 1; u <= i1; u++) {
          index += stride;
          if (rowMax[index] > best) {
            best = rowMax[index];
            where = rowArg[index];
          }
        }
        const out = (b * height + i) * stride + jc;
        y[out] = best;
        argmax[out] = where;
      }
    }
  }
}

/** The gradient: each output's incoming gradient goes to the input element it took its maximum from. */
export function windowMaxBackward(
  dy: Float32Array | Int32Array,
  argmax: Float32Array | Int32Array,
  dx: Float32Array | Int32Array,
): void {
  for (let i = 0; i < dy.length; i++) dx[argmax[i]] += dy[i];
}
