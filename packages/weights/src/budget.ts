export interface ReadPthOptions {
  /**
   * The most bytes reading may allocate: inflated zip entries plus the values of every tensor (a strided or
   * expanded view is materialised, so a few stored floats can declare gigabytes). Default: 4 x the file size,
   * at least 64 MiB. Raise it for a checkpoint that really expands that much.
   */
  maxMemoryBytes?: number;
}

/** Counts what a reader allocates against `maxMemoryBytes`, refusing the allocation that would exceed it. */
export interface MemoryBudget {
  take(bytes: number, what: string): void;
}

export function memoryBudget(fileBytes: number, fileName: string, options: ReadPthOptions): MemoryBudget {
  const limit = options.maxMemoryBytes ?? Math.max(4 * fileBytes, 64 * 2 ** 20);
  if (!(limit >= 0)) throw new Error(`readPth: maxMemoryBytes must be a number >= 0, got ${String(limit)}`);
  let used = 0;
  return {
    take(bytes, what) {
      if (!(used + bytes <= limit))
        throw new Error(
          `${fileName}: ${what} needs ${bytes} bytes, past the ${limit}-byte limit for this file (${used} already used); pass a larger maxMemoryBytes if the file is trusted`,
        );
      used += bytes;
    },
  };
}
