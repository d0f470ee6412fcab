import { argumentError } from './errors';

/**
 * Checks on single records of a dataset or result list. Every error names the op, the record (its index
 * and, when it has them, its ids) and the field, so a bad entry among millions can be found.
 */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A number that is neither NaN nor infinite (what every coordinate, size and score in a record must be). */
export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** An array of finite numbers; of exactly `length` elements when `length` is given. */
export function isFiniteNumbers(value: unknown, length?: number): value is number[] {
  return Array.isArray(value) && (length === undefined || value.length === length) && value.every(isFiniteNumber);
}

export function requireArray(op: string, name: string, value: unknown): unknown[] {
  if (!Array.isArray(value))
    throw argumentError(op, name, 'an array', typeof value === 'object' ? value : typeof value);
  return value;
}

export function requireRecord(op: string, name: string, value: unknown): Record<string, unknown> {
  if (!isRecord(value)) throw argumentError(op, name, 'an object', value);
  return value;
}

export function finiteField(op: string, record: Record<string, unknown>, name: string, field: string): number {
  const value = record[field];
  if (!isFiniteNumber(value)) {
    throw argumentError(
      op,
      `${name}.${field}`,
      field in record ? 'a finite number' : 'a finite number (the field is missing)',
      value,
    );
  }
  return value;
}

export function nonNegativeField(op: string, record: Record<string, unknown>, name: string, field: string): number {
  const value = finiteField(op, record, name, field);
  if (value < 0) throw argumentError(op, `${name}.${field}`, 'a finite number >= 0', value);
  return value;
}

/** A COCO box [x, y, w, h] of finite numbers with w, h >= 0. */
export function xywhField(
  op: string,
  record: Record<string, unknown>,
  name: string,
  field = 'bbox',
): [number, number, number, number] {
  const box = record[field];
  if (!isFiniteNumbers(box, 4)) {
    throw argumentError(
      op,
      `${name}.${field}`,
      `[x, y, w, h] of 4 finite numbers${field in record ? '' : ' (the field is missing)'}`,
      box,
    );
  }
  if (box[2] < 0 || box[3] < 0) throw argumentError(op, `${name}.${field}`, '[x, y, w, h] with w >= 0 and h >= 0', box);
  return box as [number, number, number, number];
}

/** A corner box [x1, y1, x2, y2] of finite numbers with x2 >= x1 and y2 >= y1. */
export function xyxyBox(op: string, name: string, box: unknown): [number, number, number, number] {
  if (!isFiniteNumbers(box, 4)) {
    throw argumentError(op, name, '[x1, y1, x2, y2] of 4 finite numbers', box);
  }
  if (box[2] < box[0] || box[3] < box[1])
    throw argumentError(op, name, '[x1, y1, x2, y2] with x2 >= x1 and y2 >= y1', box);
  return box as [number, number, number, number];
}
