import type { TensorInfo } from '@tensorflow/tfjs-core';
import { argumentError, sizeOf } from '@deformjs/validate';
import type { ArrayBackend } from '../backend_arrays';
import { unsortedSegmentSum as segmentSumImpl } from './unsorted_segment_sum_impl';

/**
 * UnsortedSegmentSum: output [numSegments, ...x.shape[ids.rank:]]. segmentIds' shape must be a prefix of x's
 * (tfjs's ops and gradients pass 1-D ids over x's first axis). Ids outside [0, numSegments) are dropped, as on
 * tfjs's cpu backend. The output keeps x's dtype.
 */
export function unsortedSegmentSum(
  arrays: ArrayBackend,
  x: TensorInfo,
  segmentIds: TensorInfo,
  attrs: { numSegments: number },
): TensorInfo {
  const op = 'UnsortedSegmentSum';
  const { numSegments } = attrs;
  if (!Number.isInteger(numSegments) || numSegments < 0)
    throw argumentError(op, 'numSegments', 'an integer >= 0', numSegments);
  if (segmentIds.dtype !== 'int32') throw argumentError(op, 'segmentIds', "dtype 'int32'", segmentIds.dtype);
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw argumentError(op, 'x', "dtype 'float32' or 'int32'", x.dtype);
  const idsRank = segmentIds.shape.length;
  if (idsRank > x.shape.length || segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw argumentError(op, 'segmentIds', `a shape that begins x's shape [${x.shape.join(', ')}]`, segmentIds.shape);
  }
  const innerShape = x.shape.slice(idsRank);
  const out = arrays.alloc([numSegments, ...innerShape], x.dtype);
  const view = x.dtype === 'int32' ? arrays.viewInt : arrays.view;
  segmentSumImpl(view(x), arrays.viewInt(segmentIds), sizeOf(innerShape), numSegments, view(out));
  return out;
}
