/**
 * The bilinear gather as WGSL compute programs for tfjs's webgpu backend (through core's registerWebGPUKernel), the
 * GPU twin of bilinear_gather_impl.ts with the same math and layouts: one program for the forward pass, one per
 * gradient. Sizes come from the inputs' shape uniforms, so one compiled shader serves every size; only the flags
 * are baked in (and named in the shader key).
 *
 * The value gradient is a scatter-add, as on cpu: one thread per (sample, channel) adds its four corner terms with
 * an atomic float add (a compare-exchange loop on the f32 bit pattern, WGSL having integer atomics only). That costs
 * one pass over the samples, where WebGL's gather (bilinear_gather_webgl.ts) loops over Q * P samples for every
 * value element. The price: the order of the adds into one element varies from run to run, so the value gradient
 * can differ in the last bits between runs (the other outputs are deterministic).
 */
import type { WebGPUProgram } from '@deformjs/core';
import type { GatherFlags } from './bilinear_gather_impl';

/**
 * The inputs a program reads, by the kernel's input names. Exactly those: tfjs compiles with an automatic layout,
 * which has no binding for an input the shader never reads (the weights gradient does not read the weights, the
 * value gradient not the value).
 */
interface Reads {
  value: boolean;
  weights: boolean;
  dy: boolean;
}

function inputNames(reads: Reads): string[] {
  return [
    ...(reads.value ? ['value'] : []),
    'spatialShapes',
    'levelStartIndex',
    'locations',
    ...(reads.weights ? ['weights'] : []),
    ...(reads.dy ? ['dy'] : []),
  ];
}

/**
 * Sizes read from the shape uniforms: [B, S, G, C] from value's (or from the output's, in the value gradient,
 * which does not read value), [Q, L, P] from the locations' [B, Q, G, L, P, 2].
 */
function dims(reads: Reads): string {
  const valueShape = reads.value ? 'valueShape' : 'outShape';
  return `
    fn dimS() -> i32 { return uniforms.${valueShape}.y; }
    fn dimG() -> i32 { return uniforms.${valueShape}.z; }
    fn dimC() -> i32 { return uniforms.${valueShape}.w; }
    fn dimQ() -> i32 { return uniforms.locationsShape.y; }
    fn dimL() -> i32 { return uniforms.locationsShape.w; }
    fn dimP() -> i32 { return uniforms.locationsShape.u; }
  `;
}

/** Shared WGSL: a sample's place and corners, with zero padding. */
function sampleHelpers(flags: GatherFlags, reads: Reads): string {
  return `
    ${dims(reads)}

    // Sample s = (((b * Q + q) * G + g) * L + l) * P + p, as locations and weights are laid out.
    struct Sample { b : i32, q : i32, g : i32, l : i32, p : i32 }

    fn sampleOf(s : i32) -> Sample {
      let P = dimP();
      let L = dimL();
      let G = dimG();
      let Q = dimQ();
      return Sample(s / (P * L * G * Q), (s / (P * L * G)) % Q, (s / (P * L)) % G, (s / P) % L, s % P);
    }

    fn levelH(l : i32) -> i32 { return spatialShapes[2 * l]; }
    fn levelW(l : i32) -> i32 { return spatialShapes[2 * l + 1]; }

    // Sample s's (x, y) in pixels of its level l.
    fn pixelOf(s : i32, l : i32) -> vec2<f32> {
      let xy = vec2<f32>(locations[2 * s], locations[2 * s + 1]);
      ${flags.normalized ? 'return xy * vec2<f32>(f32(levelW(l)), f32(levelH(l))) - 0.5;' : 'return xy;'}
    }

    // False when the point lies outside (-1, W) x (-1, H) and is not sampled at all.
    fn sampled(xy : vec2<f32>, l : i32) -> bool {
      return xy.y > -1.0 && xy.y < f32(levelH(l)) && xy.x > -1.0 && xy.x < f32(levelW(l));
    }

    // The index into value of pixel (yi, xi) of level l, channel c of (b, g); -1 outside the level.
    fn cornerIndex(b : i32, l : i32, g : i32, c : i32, yi : i32, xi : i32) -> i32 {
      let W = levelW(l);
      if (yi < 0 || yi >= levelH(l) || xi < 0 || xi >= W) { return -1; }
      return ((b * dimS() + levelStartIndex[l] + yi * W + xi) * dimG() + g) * dimC() + c;
    }

    ${
      reads.value
        ? `fn corner(b : i32, l : i32, g : i32, c : i32, yi : i32, xi : i32) -> f32 {
      let i = cornerIndex(b, l, g, c, yi, xi);
      if (i < 0) { return 0.0; }
      return value[i];
    }`
        : ''
    }

    fn weightOf(s : i32) -> f32 {
      return ${reads.weights ? 'weights[s]' : '1.0'};
    }

    // Where sample (b, q, g, l, p)'s channel c sits in the forward output (and in its gradient dy).
    fn outIndex(smp : Sample, c : i32) -> i32 {
      ${
        flags.reduce === 'sum'
          ? 'return ((smp.b * dimQ() + smp.q) * dimG() + smp.g) * dimC() + c;'
          : 'return (((smp.b * dimQ() + smp.q) * dimL() * dimP() + smp.l * dimP() + smp.p) * dimG() + smp.g) * dimC() + c;'
      }
    }
  `;
}

/** Shared WGSL of the per-sample gradients: the output gradient's dot products with the four corners. */
function gradHelpers(flags: GatherFlags, reads: Reads): string {
  return `
    ${sampleHelpers(flags, reads)}

    // (d00, d01, d10, d11): sum over channels of dy times each corner (0 outside the level).
    fn cornerDots(smp : Sample, xy : vec2<f32>) -> vec4<f32> {
      let x0 = i32(floor(xy.x));
      let y0 = i32(floor(xy.y));
      var dots = vec4<f32>(0.0);
      for (var c = 0; c < dimC(); c++) {
        dots += dy[outIndex(smp, c)] * vec4<f32>(corner(smp.b, smp.l, smp.g, c, y0, x0), corner(smp.b, smp.l, smp.g, c, y0, x0 + 1),
                               corner(smp.b, smp.l, smp.g, c, y0 + 1, x0), corner(smp.b, smp.l, smp.g, c, y0 + 1, x0 + 1));
      }
      return dots;
    }
  `;
}

function keyOf(pass: string, flags: GatherFlags): string {
  return `bilinearGather_${pass}_${flags.normalized}_${flags.reduce}_${flags.weighted}`;
}

/** Forward: out [B, Q, G, C] ('sum') or [B, Q, L*P, G, C] ('none'), one thread per output element. */
export function forwardProgram(outputShape: number[], flags: GatherFlags): WebGPUProgram {
  const sum = flags.reduce === 'sum';
  const reads = { value: true, weights: flags.weighted, dy: false };
  return {
    variableNames: inputNames(reads),
    outputShape,
    shaderKey: keyOf('forward', flags),
    userCode: `
      ${sampleHelpers(flags, reads)}

      fn sampleOne(s : i32, b : i32, g : i32, c : i32, l : i32) -> f32 {
        let xy = pixelOf(s, l);
        if (!sampled(xy, l)) { return 0.0; }
        let low = floor(xy);
        let frac = xy - low;
        let x0 = i32(low.x);
        let y0 = i32(low.y);
        let v = (1.0 - frac.y) * ((1.0 - frac.x) * corner(b, l, g, c, y0, x0) + frac.x * corner(b, l, g, c, y0, x0 + 1))
              + frac.y * ((1.0 - frac.x) * corner(b, l, g, c, y0 + 1, x0) + frac.x * corner(b, l, g, c, y0 + 1, x0 + 1));
        return weightOf(s) * v;
      }

      fn run(index : i32) {
        let C = dimC();
        let G = dimG();
        let L = dimL();
        let P = dimP();
        let c = index % C;
        let g = (index / C) % G;
        ${
          sum
            ? `let bq = index / (C * G);
        var acc = 0.0;
        for (var l = 0; l < L; l++) {
          for (var p = 0; p < P; p++) {
            acc += sampleOne(((bq * G + g) * L + l) * P + p, bq / dimQ(), g, c, l);
          }
        }
        setOutputAtIndex(index, acc);`
            : `let lp = (index / (C * G)) % (L * P);
        let bq = index / (C * G * L * P);
        let l = lp / P;
        setOutputAtIndex(index, sampleOne((bq * G + g) * L * P + lp, bq / dimQ(), g, c, l));`
        }
      }
    `,
  };
}

/** Gradient of the locations [B, Q, G, L, P, 2], one thread per sample. */
export function locationsGradProgram(outputShape: number[], flags: GatherFlags): WebGPUProgram {
  const reads = { value: true, weights: flags.weighted, dy: true };
  return {
    variableNames: inputNames(reads),
    outputShape,
    threads: outputShape.slice(0, 5).reduce((a, b) => a * b, 1),
    shaderKey: keyOf('locationsGrad', flags),
    userCode: `
      ${gradHelpers(flags, reads)}

      fn run(s : i32) {
        let smp = sampleOf(s);
        let xy = pixelOf(s, smp.l);
        if (!sampled(xy, smp.l)) {
          setOutputAtIndex(2 * s, 0.0);
          setOutputAtIndex(2 * s + 1, 0.0);
          return;
        }
        let d = cornerDots(smp, xy);
        let frac = xy - floor(xy);
        let a = weightOf(s);
        var grad = vec2<f32>(a * ((1.0 - frac.y) * (d.y - d.x) + frac.y * (d.w - d.z)),
                             a * ((1.0 - frac.x) * (d.z - d.x) + frac.x * (d.w - d.y)));
        ${flags.normalized ? 'grad *= vec2<f32>(f32(levelW(smp.l)), f32(levelH(smp.l)));' : ''}
        setOutputAtIndex(2 * s, grad.x);
        setOutputAtIndex(2 * s + 1, grad.y);
      }
    `,
  };
}

/** Gradient of the weights [B, Q, G, L, P] (weighted gathers only), one thread per sample. */
export function weightsGradProgram(outputShape: number[], flags: GatherFlags): WebGPUProgram {
  const reads = { value: true, weights: false, dy: true };
  return {
    variableNames: inputNames(reads),
    outputShape,
    shaderKey: keyOf('weightsGrad', flags),
    userCode: `
      ${gradHelpers(flags, reads)}

      fn run(s : i32) {
        let smp = sampleOf(s);
        let xy = pixelOf(s, smp.l);
        if (!sampled(xy, smp.l)) {
          setOutputAtIndex(s, 0.0);
          return;
        }
        let frac = xy - floor(xy);
        let rest = 1.0 - frac;
        setOutputAtIndex(s, dot(vec4<f32>(rest.y * rest.x, rest.y * frac.x, frac.y * rest.x, frac.y * frac.x), cornerDots(smp, xy)));
      }
    `,
  };
}

/** Gradient of the value [B, S, G, C], scattered: one thread per (sample, channel) adds to its four corners. */
export function valueGradProgram(outputShape: number[], samples: number, flags: GatherFlags): WebGPUProgram {
  const reads = { value: false, weights: flags.weighted, dy: true };
  return {
    variableNames: inputNames(reads),
    outputShape,
    threads: samples * outputShape[3],
    atomic: true,
    shaderKey: keyOf('valueGrad', flags),
    userCode: `
      ${sampleHelpers(flags, reads)}

      fn addTo(i : i32, v : f32) {
        if (i >= 0) { atomicAddFloat(i, v); }
      }

      fn run(index : i32) {
        let C = dimC();
        let s = index / C;
        let c = index % C;
        let smp = sampleOf(s);
        let xy = pixelOf(s, smp.l);
        if (!sampled(xy, smp.l)) { return; }
        let low = floor(xy);
        let frac = xy - low;
        let x0 = i32(low.x);
        let y0 = i32(low.y);
        let gradOut = weightOf(s) * dy[outIndex(smp, c)];
        addTo(cornerIndex(smp.b, smp.l, smp.g, c, y0, x0), (1.0 - frac.y) * (1.0 - frac.x) * gradOut);
        addTo(cornerIndex(smp.b, smp.l, smp.g, c, y0, x0 + 1), (1.0 - frac.y) * frac.x * gradOut);
        addTo(cornerIndex(smp.b, smp.l, smp.g, c, y0 + 1, x0), frac.y * (1.0 - frac.x) * gradOut);
        addTo(cornerIndex(smp.b, smp.l, smp.g, c, y0 + 1, x0 + 1), frac.y * frac.x * gradOut);
      }
    `,
  };
}
