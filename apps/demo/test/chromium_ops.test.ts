// Every sampling-core op, forward and gradients, in headless Chromium on wasm and webgl, against Node's wasm run of
// the same seeded case (src/op_cases.ts). The page is a real browser bundle (esbuild, the wasm files as emitted URLs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose } from '@deformjs/core/testing';
import { OP_NAMES, runOpCase } from '../src/op_cases';
import type { OpResult } from '../src/op_cases';
import { openPage } from './browser';
import type { OpenPage } from './browser';

type PageResults = Record<string, OpResult | { error: string }>;
let opened: OpenPage;
const node: Record<string, OpResult> = {};

beforeAll(async () => {
  await initBackend('wasm');
  for (const name of OP_NAMES) node[name] = await runOpCase(name);
  opened = await openPage(new URL('./pages/ops.ts', import.meta.url).pathname);
  await opened.page.waitForFunction(() => 'deformjsOps' in globalThis);
}, 400_000); // Generous: bundling, Node's runs and Chromium's start on a loaded 2-core machine.

afterAll(() => opened?.close());

function runInPage(backend: string): Promise<PageResults> {
  return opened.page.evaluate(
    ([b, names]) =>
      (globalThis as unknown as { deformjsOps: { run(b: string, n: string[]): Promise<PageResults> } }).deformjsOps.run(
        b,
        names,
      ),
    [backend, OP_NAMES] as const,
  );
}

function compare(results: PageResults, atol: number) {
  for (const name of OP_NAMES) {
    const got = results[name];
    expect('error' in got ? got.error : '', name).toBe('');
    for (const [key, expected] of Object.entries(node[name].outputs)) {
      assertAllClose((got as OpResult).outputs[key], expected, { atol, rtol: atol, name: `${name}: ${key}` });
    }
  }
}

describe('the ops in headless Chromium', () => {
  it('wasm: every op and its gradients equal Node wasm to 1e-5', async () => {
    compare(await runInPage('wasm'), 1e-5);
    expect(opened.errors).toEqual([]);
  });

  it('webgl: every op and its gradients match Node wasm to 1e-4', async () => {
    compare(await runInPage('webgl'), 1e-4);
  });

  // Headless Chromium here gets SwiftShader's WebGPU adapter; no adapter fails this test rather than skipping it.
  it('webgpu: every op and its gradients match Node wasm to 1e-4', async () => {
    const adapter = await opened.page.evaluate(() =>
      (globalThis as unknown as { deformjsOps: { webgpuAdapter(): Promise<string> } }).deformjsOps.webgpuAdapter(),
    );
    expect(adapter, 'WebGPU in headless Chromium').toMatch(/^adapter /);
    compare(await runInPage('webgpu'), 1e-4);
  });
});
