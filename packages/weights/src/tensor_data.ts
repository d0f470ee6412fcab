import * as tf from '@tensorflow/tfjs-core';

/**
 * A tensor read from a file, before it becomes a tfjs tensor: tfjs has only float32, int32 and bool, so
 * every stored dtype converts to one of these (see `convertStored` for the rule).
 */
export interface TensorData {
  dtype: 'float32' | 'int32' | 'bool';
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
}

export function isTensorData(value: unknown): value is TensorData {
  return (
    value !== null &&
    typeof value === 'object' &&
    'dtype' in value &&
    'shape' in value &&
    'values' in value &&
    ArrayBuffer.isView((value as TensorData).values)
  );
}

/**
 * An empty record without a prototype: names read from files ('__proto__', 'constructor') are plain keys
 * in it, never a prototype to replace or an inherited property.
 */
export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

export function toTensor(data: TensorData): tf.Tensor {
  return tf.tensor(data.values, data.shape, data.dtype);
}

/** Converts a record of TensorData to tfjs tensors (the caller owns and disposes them). */
export function toTensors(record: Record<string, TensorData>): Record<string, tf.Tensor> {
  const out = emptyRecord<tf.Tensor>();
  for (const [name, data] of Object.entries(record)) out[name] = toTensor(data);
  return out;
}
