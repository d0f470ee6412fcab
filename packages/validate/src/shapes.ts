import { argumentError, describe } from './errors';

/**
 * One dimension of an expected shape: a fixed size, a symbol that must agree everywhere it appears
 * (`'N'`, `'Lq'`), or `null` for any size.
 */
export type Dim = number | string | null;

export interface ShapeCheck {
  readonly name: string;
  readonly shape: readonly number[];
  readonly expected: readonly Dim[];
}

/**
 * Checks several arguments' shapes at once, binding symbolic dimensions across them, and returns the bound
 * sizes. The first disagreement throws, naming the argument, the expected shape (with what is already bound)
 * and the actual one.
 */
export function checkShapes(
  op: string,
  checks: readonly ShapeCheck[],
  bound: Record<string, number> = {},
): Record<string, number> {
  const sizes: Record<string, number> = { ...bound };
  for (const { name, shape, expected } of checks) {
    const show = () => `shape [${expected.map((d) => showDim(d, sizes)).join(', ')}]`;
    if (shape.length !== expected.length) {
      throw argumentError(
        op,
        name,
        `rank ${expected.length}, ${show()}`,
        `rank ${shape.length}, shape ${describe(shape)}`,
      );
    }
    expected.forEach((dim, axis) => {
      const size = shape[axis];
      if (typeof dim === 'number' && size !== dim) {
        throw argumentError(op, name, `${show()} (dimension ${axis} = ${dim})`, `shape ${describe(shape)}`);
      }
      if (typeof dim === 'string') {
        if (dim in sizes && sizes[dim] !== size) {
          throw argumentError(
            op,
            name,
            `${show()} (dimension ${axis} = ${dim} = ${sizes[dim]})`,
            `shape ${describe(shape)}`,
          );
        }
        sizes[dim] = size;
      }
    });
  }
  return sizes;
}

function showDim(dim: Dim, sizes: Record<string, number>): string {
  if (dim === null) return '*';
  if (typeof dim === 'number') return String(dim);
  return dim in sizes ? `${dim}=${sizes[dim]}` : dim;
}

export function assertInteger(op: string, name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = [min > -Infinity ? `>= ${min}` : '', max < Infinity ? `<= ${max}` : ''].filter(Boolean).join(' and ');
    throw argumentError(op, name, `an integer${range ? ` ${range}` : ''}`, value);
  }
  return value;
}

export function assertPositive(op: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw argumentError(op, name, 'a finite number > 0', value);
  }
  return value;
}

export function assertOneOf<T extends string | number>(
  op: string,
  name: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value as T)) {
    throw argumentError(op, name, `one of ${allowed.map((a) => describe(a)).join(', ')}`, value);
  }
  return value as T;
}

export function assertDivides(op: string, name: string, divisor: number, total: number, totalName: string): void {
  if (!Number.isInteger(divisor) || divisor < 1 || total % divisor !== 0) {
    throw argumentError(op, name, `a positive integer dividing ${totalName} = ${total}`, divisor);
  }
}

export function assertDtype(op: string, name: string, dtype: string, allowed: readonly string[]): void {
  if (!allowed.includes(dtype)) throw argumentError(op, name, `dtype ${allowed.join(' or ')}`, dtype);
}

/** Expands `n` or `[a, b]` to a pair of positive integers, as conv attributes (strides, dilations) take them. */
export function pair(op: string, name: string, value: number | readonly [number, number], min = 1): [number, number] {
  const both: [number, number] = typeof value === 'number' ? [value, value] : [value[0], value[1]];
  if (!Array.isArray(value) && typeof value !== 'number') throw argumentError(op, name, 'a number or a pair', value);
  both.forEach((v) => assertInteger(op, name, v, min));
  return both;
}

/** The number of elements of a tensor of this shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
