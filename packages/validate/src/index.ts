export { DeformjsArgumentError, argumentError, describe } from './errors';
export {
  checkShapes,
  assertInteger,
  assertPositive,
  assertOneOf,
  assertDivides,
  assertDtype,
  pair,
  sizeOf,
} from './shapes';
export type { Dim, ShapeCheck } from './shapes';
export {
  isRecord,
  isFiniteNumber,
  isFiniteNumbers,
  requireArray,
  requireRecord,
  finiteField,
  nonNegativeField,
  xywhField,
  xyxyBox,
} from './records';
