/**
 * The maximum over the (2r+1) x (2r+1) window around each pixel of NHWC data, out-of-image pixels left out,
 * and the flat input index it came from (the first maximum in row-major window order, as PyTorch's
 * max_pool2d picks). Plain array code, no tfjs: run on cpu and wasm through registerFusedKernel.
 */
export function windowMaxForward(x: Float32Array | Int32Array, y: Float32Array | Int32Array, argmax: Float32Array | Int32Array, shape: number[], radius: number): void {
  const [batch, height, width, channels] = shape;
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      const i0 = Math.max(0, i - radius);
      const i1 = Math.min(height - 1, i + radius);
      for (let j = 0; j < width; j++) {
        const j0 = Math.max(0, j - radius);
        const j1 = Math.min(width - 1, j + radius);
        const out = ((b * height + i) * width + j) * channels;
        for (let c = 0; c < channels; c++) {
          let best = -Infinity;
          let where = -1;
          for (let u = i0; u <= i1; u++) {
            let index = ((b * height + u) * width + j0) * channels + c;
            for (let v = j0; v <= j1; v++, index += channels) {
              const value = x[index];
              if (value > best || where < 0) {
                best = value;
                where = index;
              }
            }
          }
          y[out + c] = best;
          argmax[out + c] = where;
        }
      }
    }
  }
}

/** The gradient: each output's incoming gradient goes to the input element it took its maximum from. */
export function windowMaxBackward(dy: Float32Array | Int32Array, argmax: Float32Array | Int32Array, dx: Float32Array | Int32Array): void {
  for (let i = 0; i < dy.length; i++) dx[argmax[i]] += dy[i];
}
