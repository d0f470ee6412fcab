// tfjs-core registers its op gradients only from extensionless ESM files, which plain Node cannot load (its
// CommonJS main has no gradients). Core's build bundles those gradient definitions alone, importing everything
// else from the public tfjs-core entry (tfjs_gradients_plugin.ts), so autodiff works the same in Node ESM and
// CJS, in bundlers and in tests, with one tfjs-core in the process.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { registerGradient } from '@tensorflow/tfjs-core';
import { batchMatMulGradConfig } from './matmul_grad';

// Replaces tfjs's BatchMatMul gradient (registered just above) by the same products without transposed
// operands, which the wasm backend multiplies much faster.
registerGradient(batchMatMulGradConfig);
