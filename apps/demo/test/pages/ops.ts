// The ops test page: every op case on a backend chosen by the test, in Chromium. Bundled by test/browser.ts.
import '@tensorflow/tfjs-backend-webgl';
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
      results[name] = runOpCase(name);
    } catch (error) {
      results[name] = { error: String(error) };
    }
  }
  return results;
}

(globalThis as Record<string, unknown>).deformjsOps = { run };
