import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@deformjs/core';
import { writeSafetensors } from './safetensors';

/**
 * A Module's state_dict in PyTorch's names and layouts (OIHW convs, (out, in) linears, buffers included) as
 * safetensors bytes: `model.load_state_dict(safetensors.torch.load_file(path), strict=True)` in the upstream
 * PyTorch code takes it, so training can move to PyTorch (a cluster, DDP) and come back through `loadWeights`.
 */
export function encodeTorchStateDict(module: Module, metadata: Record<string, string> = {}): Uint8Array {
  const dict = module.stateDict({ torchLayout: true });
  try {
    return writeSafetensors(dict, { format: 'pt', ...metadata });
  } finally {
    tf.dispose(Object.values(dict));
  }
}
