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

/** How many elements of an array an error shows: a million bad indices make one readable line, not megabytes. */
const SHOWN_ELEMENTS = 32;

export function describe(value: unknown, depth = 0): string {
  if (Array.isArray(value)) {
    if (depth >= 4) return `[${value.length} elements]`;
    const shown = value.slice(0, SHOWN_ELEMENTS).map((v) => describe(v, depth + 1));
    if (value.length > SHOWN_ELEMENTS) shown.push(`... ${value.length - SHOWN_ELEMENTS} more`);
    return `[${shown.join(', ')}]`;
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (value !== null && typeof value === 'object' && 'shape' in value) {
    return `a tensor of shape ${describe((value as { shape: unknown }).shape)}`;
  }
  return String(value);
}
