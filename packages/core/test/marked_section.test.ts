import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeMarkedSection } from '../src/node';

const dir = mkdtempSync(join(tmpdir(), 'deformjs-marked-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const BEGIN = '<!-- table:begin (written by a script) -->';
const END = '<!-- table:end -->';

describe('writeMarkedSection', () => {
  it('replaces only the text between the markers, with one blank line on each side, and again the same way', () => {
    const file = join(dir, 'README.md');
    writeFileSync(file, `# title\n\n${BEGIN}\nold table\n${END}\n\nafter ${END}\n`);
    writeMarkedSection(file, BEGIN, END, '| a |\n|---|\n| 1 |\n');
    const once = readFileSync(file, 'utf8');
    expect(once).toBe(`# title\n\n${BEGIN}\n\n| a |\n|---|\n| 1 |\n\n${END}\n\nafter ${END}\n`);
    writeMarkedSection(file, BEGIN, END, '| a |\n|---|\n| 1 |');
    expect(readFileSync(file, 'utf8')).toBe(once);
    expect(readdirSync(dir)).toEqual(['README.md']);
  });

  it('refuses a file without both markers in order, naming the file and the markers, and leaves it alone', () => {
    const file = join(dir, 'other.md');
    for (const text of ['no markers\n', `${END}\n${BEGIN}\n`, `${BEGIN}\n`]) {
      writeFileSync(file, text);
      expect(() => writeMarkedSection(file, BEGIN, END, 'x')).toThrow(
        `${file}: expected a section between the markers ${BEGIN} and ${END}, found no`,
      );
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });
});
