// The video latency page: the mobile video design's per-frame cases (the same as @deformjs/video-det's Node bench,
// bench/frame_cases.ts) timed round by round in Chromium on a backend chosen by scripts/video_latency.ts. Bundled by
// test/browser.ts (esbuild).
import '@tensorflow/tfjs-backend-webgl';
import { initBackend, wasmThreads } from '@deformjs/core';
import type { BackendName } from '@deformjs/core';
import { checkFlat, mobileFrameCases } from '../../../../packages/video-det/bench/frame_cases';
import { wasmPaths } from '../../src/wasm_paths';

export interface VideoLatencyRequest {
  backend: BackendName;
  /** MobileNet stem width = Light Flow conv1 width (the app's `--width w --flow-width w`). */
  widths: number[];
  size: number;
  /** Case names of bench/frame_cases.ts's `mobileFrameCases`. */
  cases: string[];
  warmup: number;
  rounds: number;
}

export interface VideoLatencyResult {
  backend: string;
  /** The wasm backend's thread count (null on other backends). */
  threads: number | null;
  crossOriginIsolated: boolean;
  /** `w<width>: <case>` -> ms of each timed round, in round order. */
  times: Record<string, number[]>;
}

async function run(request: VideoLatencyRequest): Promise<VideoLatencyResult> {
  // One thread asked for: the page is not cross-origin isolated, so the threaded build could not start anyway.
  await initBackend(request.backend, { wasmPaths, threads: 1 });
  const built = request.widths.map((width) => ({ width, ...mobileFrameCases(width, width, request.size) }));
  const times: Record<string, number[]> = {};
  try {
    for (const { cases } of built) checkFlat(Object.fromEntries(request.cases.map((c) => [c, cases[c]])));
    for (let round = -request.warmup; round < request.rounds; round++) {
      for (const { width, cases } of built) {
        for (const name of request.cases) {
          const start = performance.now();
          cases[name]();
          const ms = performance.now() - start;
          if (round >= 0) (times[`w${width}: ${name}`] ??= []).push(ms);
        }
      }
    }
  } finally {
    for (const b of built) b.dispose();
  }
  return {
    backend: request.backend,
    threads: request.backend === 'wasm' ? wasmThreads() : null,
    crossOriginIsolated,
    times,
  };
}

(globalThis as Record<string, unknown>).deformjsVideoLatency = { run };
