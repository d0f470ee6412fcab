// Bundles a page for the browser (esbuild, as an app would, or the demo app with Vite), serves it on 127.0.0.1 and
// opens it in the system's Chromium through playwright-core. Headless Chromium renders WebGL2 with SwiftShader (no GPU
// needed), and with --enable-unsafe-webgpu (Linux ships WebGPU behind it) gives a SwiftShader WebGPU adapter to this
// 127.0.0.1 page.
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { build as viteBuild, createLogger } from 'vite';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const appDir = fileURLToPath(new URL('..', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
};

export interface OpenPage {
  page: Page;
  /** Chromium's version. */
  browserVersion: string;
  /** Messages the page logged as errors. */
  errors: string[];
  close(): Promise<void>;
}

/** Bundles `entry` into a temporary folder with an index.html, serves it and opens it in headless Chromium. */
export function openPage(entry: string): Promise<OpenPage> {
  return openBuilt(async (dir) => {
    const result = await build({
      entryPoints: { page: entry },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      outdir: dir,
      loader: { '.wasm': 'file' },
      logLevel: 'silent',
    });
    if (result.warnings.length) throw new Error(`bundling ${entry} warned: ${result.warnings.map((w) => w.text)}`);
    writeFileSync(
      join(dir, 'index.html'),
      '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="page.js"></script>',
    );
  });
}

/** Builds the demo app with Vite (its own vite.config.ts; a warning fails), serves it and opens it in Chromium. */
export function openDemo(): Promise<OpenPage> {
  return openBuilt(async (dir) => {
    const warnings: string[] = [];
    const logger = createLogger('warn');
    logger.warn = (message) => void warnings.push(message);
    logger.warnOnce = logger.warn;
    await viteBuild({
      root: appDir,
      logLevel: 'warn',
      customLogger: logger,
      build: { outDir: dir, emptyOutDir: true },
    });
    if (warnings.length) throw new Error(`Vite warned building the demo: ${warnings.join('\n')}`);
  });
}

async function openBuilt(buildInto: (dir: string) => Promise<void>): Promise<OpenPage> {
  const dir = mkdtempSync(join(appDir, '.page-'));
  let server: Server | undefined;
  let browser: Browser | undefined;
  try {
    await buildInto(dir);
    server = createServer((request, response) => {
      const file = join(dir, normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)));
      try {
        const body = readFileSync(file.endsWith('/') ? join(file, 'index.html') : file);
        response.writeHead(200, { 'content-type': TYPES[extname(file) || '.html'] ?? 'application/octet-stream' });
        response.end(body);
      } catch {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--enable-unsafe-webgpu'],
    });
    const page = await browser.newPage();
    // Playwright's actions return once the page has handled them; a page busy with a model (webgl's first call
    // compiles its shaders on SwiftShader) can hold them far beyond the 30 s default on a loaded machine.
    page.setDefaultTimeout(300_000);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    await page.goto(`http://127.0.0.1:${port}/`);
    const opened = { browser, server };
    return {
      page,
      browserVersion: browser.version(),
      errors,
      close: async () => {
        await opened.browser.close();
        await new Promise((resolve) => opened.server.close(resolve));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await browser?.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
