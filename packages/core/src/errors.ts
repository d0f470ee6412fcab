/** Every bad-argument error in deformjs: it names the op, the argument, what was expected and what came. */
export class DeformjsArgumentError extends Error {
  constructor(
    readonly op: string,
    readonly argument: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${op}: argument '${argument}' expected ${expected}, got ${actual}`);
    this.name = 'DeformjsArgumentError';
  }
}

export function argumentError(op: string, argument: string, expected: string, actual: unknown): DeformjsArgumentError {
  return new DeformjsArgumentError(op, argument, expected, describe(actual));
}

export function describe(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value !== null && typeof value === 'object' && 'shape' in value) {
    return `a tensor of shape ${describe((value as { shape: unknown }).shape)}`;
  }
  return String(value);
}
