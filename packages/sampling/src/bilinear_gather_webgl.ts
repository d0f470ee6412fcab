/**
 * The bilinear gather as WebGL shader programs (tfjs-backend-webgl's GPGPUProgram form, unpacked), the GPU twin of
 * bilinear_gather_impl.ts with the same math and layouts: one program for the forward pass, one per gradient.
 * A texel computes one output value, so no tensor is ever bigger than an input or an output (rank <= 6).
 *
 * WebGL has no scatter-add: the value gradient is gathered instead. Each texel of it (b, s, g, c) finds its level
 * and pixel and loops over the level's samples of (b, g) that can touch it, so its cost is Q * P per texel rather
 * than the cpu kernel's one pass over the samples.
 */
import type { WebGLProgram } from '@deformjs/core';
import type { GatherDims, GatherFlags } from './bilinear_gather_impl';

const LEVEL_INPUTS = ['value', 'spatialShapes', 'levelStartIndex', 'locations'];

/** Shared GLSL: one sample's location in pixels and its corners, with zero padding. */
function sampleHelpers(d: GatherDims, flags: GatherFlags): string {
  return `
    int levelH(int l) { return int(getSpatialShapes(l, 0)); }
    int levelW(int l) { return int(getSpatialShapes(l, 1)); }

    // The sample's (x, y) in pixels of level l.
    vec2 pixelOf(int b, int q, int g, int l, int p) {
      vec2 xy = vec2(getLocations(b, q, g, l, p, 0), getLocations(b, q, g, l, p, 1));
      ${flags.normalized ? 'xy = xy * vec2(float(levelW(l)), float(levelH(l))) - 0.5;' : ''}
      return xy;
    }

    bool sampled(vec2 xy, int l) {
      return xy.y > -1.0 && xy.y < float(levelH(l)) && xy.x > -1.0 && xy.x < float(levelW(l));
    }

    // value at pixel (yi, xi) of level l, 0 outside it.
    float corner(int b, int l, int g, int c, int yi, int xi) {
      int H = levelH(l);
      int W = levelW(l);
      if (yi < 0 || yi >= H || xi < 0 || xi >= W) return 0.0;
      return getValue(b, int(getLevelStartIndex(l)) + yi * W + xi, g, c);
    }

    float weightOf(int b, int q, int g, int l, int p) {
      return ${flags.weighted ? 'getWeights(b, q, g, l, p)' : '1.0'};
    }
  `;
}

/** Shared GLSL of the backward programs (which have the output gradient \`dy\` as their last input). */
function gradHelpers(d: GatherDims, flags: GatherFlags): string {
  return `
    ${sampleHelpers(d, flags)}

    // The output gradient of sample (b, q, g, l, p) at channel c.
    float gradOutOf(int b, int q, int g, int l, int p, int c) {
      return ${flags.reduce === 'sum' ? 'getDy(b, q, g, c)' : `getDy(b, q, l * ${d.P} + p, g, c)`};
    }

    // Dot products of the output gradient with each corner's channels: (d00, d01, d10, d11).
    vec4 cornerDots(int b, int q, int g, int l, int p, vec2 xy) {
      int x0 = int(floor(xy.x));
      int y0 = int(floor(xy.y));
      vec4 dots = vec4(0.0);
      for (int c = 0; c < ${d.C}; c++) {
        float go = gradOutOf(b, q, g, l, p, c);
        dots += go * vec4(corner(b, l, g, c, y0, x0), corner(b, l, g, c, y0, x0 + 1),
                          corner(b, l, g, c, y0 + 1, x0), corner(b, l, g, c, y0 + 1, x0 + 1));
      }
      return dots;
    }
  `;
}

function inputNames(flags: GatherFlags, backward: boolean): string[] {
  return [...LEVEL_INPUTS, ...(flags.weighted ? ['weights'] : []), ...(backward ? ['dy'] : [])];
}

/** Forward: out [B, Q, G, C] ('sum') or [B, Q, L*P, G, C] ('none'). */
export function forwardProgram(d: GatherDims, flags: GatherFlags): WebGLProgram {
  const sum = flags.reduce === 'sum';
  return {
    variableNames: inputNames(flags, false),
    outputShape: sum ? [d.B, d.Q, d.G, d.C] : [d.B, d.Q, d.L * d.P, d.G, d.C],
    userCode: `
      ${sampleHelpers(d, flags)}

      float sampleOne(int b, int q, int g, int c, int l, int p) {
        vec2 xy = pixelOf(b, q, g, l, p);
        if (!sampled(xy, l)) return 0.0;
        vec2 low = floor(xy);
        vec2 frac = xy - low;
        int x0 = int(low.x);
        int y0 = int(low.y);
        float v = (1.0 - frac.y) * ((1.0 - frac.x) * corner(b, l, g, c, y0, x0) + frac.x * corner(b, l, g, c, y0, x0 + 1))
                + frac.y * ((1.0 - frac.x) * corner(b, l, g, c, y0 + 1, x0) + frac.x * corner(b, l, g, c, y0 + 1, x0 + 1));
        return weightOf(b, q, g, l, p) * v;
      }

      void main() {
        ${
          sum
            ? `ivec4 o = getOutputCoords();
        float acc = 0.0;
        for (int l = 0; l < ${d.L}; l++) {
          for (int p = 0; p < ${d.P}; p++) acc += sampleOne(o.x, o.y, o.z, o.w, l, p);
        }
        setOutput(acc);`
            : `ivec5 o = getOutputCoords();
        setOutput(sampleOne(o.x, o.y, o.w, o.u, o.z / ${d.P}, o.z - (o.z / ${d.P}) * ${d.P}));`
        }
      }
    `,
  };
}

/** Gradient of the locations [B, Q, G, L, P, 2]. */
export function locationsGradProgram(d: GatherDims, flags: GatherFlags): WebGLProgram {
  return {
    variableNames: inputNames(flags, true),
    outputShape: [d.B, d.Q, d.G, d.L, d.P, 2],
    userCode: `
      ${gradHelpers(d, flags)}

      void main() {
        ivec6 o = getOutputCoords();
        int b = o.x, q = o.y, g = o.z, l = o.w, p = o.u;
        vec2 xy = pixelOf(b, q, g, l, p);
        if (!sampled(xy, l)) {
          setOutput(0.0);
          return;
        }
        vec4 dots = cornerDots(b, q, g, l, p, xy);
        vec2 frac = xy - floor(xy);
        float a = weightOf(b, q, g, l, p);
        float grad = o.v == 0
          ? a * ((1.0 - frac.y) * (dots.y - dots.x) + frac.y * (dots.w - dots.z))
          : a * ((1.0 - frac.x) * (dots.z - dots.x) + frac.x * (dots.w - dots.y));
        ${flags.normalized ? 'grad *= float(o.v == 0 ? levelW(l) : levelH(l));' : ''}
        setOutput(grad);
      }
    `,
  };
}

/** Gradient of the weights [B, Q, G, L, P] (weighted gathers only). */
export function weightsGradProgram(d: GatherDims, flags: GatherFlags): WebGLProgram {
  return {
    variableNames: inputNames(flags, true),
    outputShape: [d.B, d.Q, d.G, d.L, d.P],
    userCode: `
      ${gradHelpers(d, flags)}

      void main() {
        ivec5 o = getOutputCoords();
        vec2 xy = pixelOf(o.x, o.y, o.z, o.w, o.u);
        if (!sampled(xy, o.w)) {
          setOutput(0.0);
          return;
        }
        vec4 dots = cornerDots(o.x, o.y, o.z, o.w, o.u, xy);
        vec2 frac = xy - floor(xy);
        vec2 rest = 1.0 - frac;
        setOutput(dot(vec4(rest.y * rest.x, rest.y * frac.x, frac.y * rest.x, frac.y * frac.x), dots));
      }
    `,
  };
}

/** Gradient of the value [B, S, G, C], gathered: each texel sums what the samples touching it owe it. */
export function valueGradProgram(d: GatherDims, flags: GatherFlags): WebGLProgram {
  return {
    variableNames: inputNames(flags, true),
    outputShape: [d.B, d.S, d.G, d.C],
    userCode: `
      ${gradHelpers(d, flags)}

      void main() {
        ivec4 o = getOutputCoords();
        int b = o.x, s = o.y, g = o.z, c = o.w;
        // The level holding row s, and the pixel (yi, xi) it is.
        int l = 0;
        for (int k = 1; k < ${d.L}; k++) {
          if (s >= int(getLevelStartIndex(k))) l = k;
        }
        int W = levelW(l);
        int offset = s - int(getLevelStartIndex(l));
        int yi = offset / W;
        int xi = offset - yi * W;
        float acc = 0.0;
        for (int q = 0; q < ${d.Q}; q++) {
          for (int p = 0; p < ${d.P}; p++) {
            vec2 xy = pixelOf(b, q, g, l, p);
            if (!sampled(xy, l)) continue;
            vec2 low = floor(xy);
            int dx = xi - int(low.x);
            int dy = yi - int(low.y);
            if (dx < 0 || dx > 1 || dy < 0 || dy > 1) continue;
            vec2 frac = xy - low;
            float wx = dx == 0 ? 1.0 - frac.x : frac.x;
            float wy = dy == 0 ? 1.0 - frac.y : frac.y;
            acc += weightOf(b, q, g, l, p) * wx * wy * gradOutOf(b, q, g, l, p, c);
          }
        }
        setOutput(acc);
      }
    `,
  };
}
