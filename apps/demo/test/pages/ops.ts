// The ops test page: every op case on a backend chosen by the test, in Chromium. Bundled by test/browser.ts.
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { initBackend } from '@deformjs/core';
import type { BackendName } from '@deformjs/core';
import { runOpCase } from '../../src/op_cases';
import type { OpResult } from '../../src/op_cases';
import { wasmPaths } from '../../src/wasm_paths';

async function run(backend: BackendName, names: string[]): Promise<Record<string, OpResult | { error: string }>> {
  await initBackend(backend, { wasmPaths });
  const results: Record<string, OpResult | { error: string }> = {};
  for (const name of names) {
    try {
      results[name] = await runOpCase(name);
    } catch (error) {
      results[name] = { error: String(error) };
    }
  }
  return results;
}

/** The WebGPU adapter the page gets, or why there is none (so a missing adapter fails the test with a reason). */
async function webgpuAdapter(): Promise<string> {
  if (!navigator.gpu) return 'no navigator.gpu (WebGPU disabled: Linux Chromium needs --enable-unsafe-webgpu)';
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return 'navigator.gpu.requestAdapter() returned null';
  const info = (adapter as unknown as { info?: { vendor: string; architecture: string } }).info;
  return `adapter ${info?.vendor} ${info?.architecture}`;
}

(globalThis as Record<string, unknown>).deformjsOps = { run, webgpuAdapter };
