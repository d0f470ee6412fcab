import { defineConfig } from 'vite';

// The demo page (index.html, src/main.ts). `pnpm --filter @deformjs/demo-app dev` serves it; the tests build it.
export default defineConfig({
  build: { outDir: 'dist', chunkSizeWarningLimit: 4096 },
});
