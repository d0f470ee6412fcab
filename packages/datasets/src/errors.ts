/**
 * A file that does not hold what its format promises. The message names the file, the record inside it
 * (`annotations[12] (id 345)`, `object 2`, `line 7`) and what is wrong, so a broken dataset is found, not
 * loaded silently wrong.
 */
export class DatasetFormatError extends Error {
  constructor(
    readonly file: string,
    readonly record: string,
    readonly problem: string,
  ) {
    super(`${file}: ${record ? `${record}: ` : ''}${problem}`);
    this.name = 'DatasetFormatError';
  }
}

export function formatError(file: string, record: string, problem: string): DatasetFormatError {
  return new DatasetFormatError(file, record, problem);
}
