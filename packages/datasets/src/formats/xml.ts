import { formatError } from '../errors';

/** One element of a parsed XML document: its name, attributes, child elements and its own text. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Annotation files nest 4 levels; a bound keeps a crafted file from overflowing the parser's stack. */
const MAX_DEPTH = 1000;

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;

/**
 * A small strict XML parser for annotation files (PASCAL VOC, ImageNet VID): elements, attributes, text,
 * comments, CDATA, processing instructions, a DOCTYPE (its internal subset is skipped: entities it declares
 * are not expanded, so a reference to one is an error, and no entity can expand exponentially) and the five
 * named plus numeric entities. Anything malformed (unclosed or mismatched tags, stray text after the root, bad
 * entities, nesting deeper than 1000 elements) throws naming the file, line and column. Linear in the size.
 */
export function parseXml(source: string, file: string): XmlElement {
  const reader = new XmlReader(source, file);
  reader.skipMisc();
  if (reader.atEnd()) reader.fail('no root element');
  const root = reader.element(1);
  reader.skipMisc();
  if (!reader.atEnd()) reader.fail('content after the root element');
  return root;
}

/** The parser's cursor over one document: each method reads one construct from `pos` on, or fails. */
class XmlReader {
  private pos: number;

  constructor(
    private readonly source: string,
    private readonly file: string,
  ) {
    this.pos = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  }

  atEnd(): boolean {
    return this.pos >= this.source.length;
  }

  fail(problem: string, at = this.pos): never {
    const before = this.source.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    throw formatError(this.file, `line ${line}, column ${column}`, `malformed XML: ${problem}`);
  }

  /** White space, comments, processing instructions and a DOCTYPE, as may stand around the root element. */
  skipMisc(): void {
    for (;;) {
      this.skipSpace();
      if (this.at('<?')) this.skipPast('?>', 'processing instruction');
      else if (this.at('<!--')) this.skipPast('-->', 'comment');
      else if (this.at('<!DOCTYPE')) this.skipDoctype();
      else return;
    }
  }

  /** An element and everything in it, its start tag at `pos`. */
  element(depth: number): XmlElement {
    if (this.source[this.pos] !== '<') this.fail('expected an element');
    if (depth > MAX_DEPTH) this.fail(`elements nested deeper than ${MAX_DEPTH} levels`);
    this.pos++;
    const name = this.readName();
    const { attributes, empty } = this.attributes(name);
    if (empty) return { name, attributes, children: [], text: '' };
    return { name, attributes, ...this.content(name, depth) };
  }

  private at(text: string): boolean {
    return this.source.startsWith(text, this.pos);
  }

  private skipSpace(): void {
    while (/\s/.test(this.source[this.pos] ?? '')) this.pos++;
  }

  /** Moves past the next `close` (ending a construct called `what`); returns where `close` starts. */
  private skipPast(close: string, what: string): number {
    const end = this.source.indexOf(close, this.pos);
    if (end < 0) this.fail(`unterminated ${what}`);
    this.pos = end + close.length;
    return end;
  }

  // `<!DOCTYPE name ["a>b" [<!ENTITY x "]>"> <!-- ]> -->]>`: quoted strings and comments may hold ] and >.
  private skipDoctype(): void {
    const { source } = this;
    const start = this.pos;
    let inSubset = false;
    for (this.pos += '<!DOCTYPE'.length; this.pos < source.length; this.pos++) {
      const c = source[this.pos];
      if (c === '"' || c === "'") {
        const end = source.indexOf(c, this.pos + 1);
        if (end < 0) break;
        this.pos = end;
      } else if (inSubset && this.at('<!--')) {
        const end = source.indexOf('-->', this.pos);
        if (end < 0) break;
        this.pos = end + 2;
      } else if (c === '[' && !inSubset) inSubset = true;
      else if (c === ']' && inSubset) inSubset = false;
      else if (c === '>' && !inSubset) {
        this.pos++;
        return;
      }
    }
    this.fail('unterminated DOCTYPE', start);
  }

  private decode(raw: string, at: number): string {
    return raw.replace(/&([^;&\s<]*);?/g, (match, name: string) => {
      if (!match.endsWith(';')) this.fail(`'&' not starting an entity`, at);
      if (name in ENTITIES) return ENTITIES[name];
      const code = /^#x[0-9a-f]+$/i.test(name)
        ? parseInt(name.slice(2), 16)
        : /^#[0-9]+$/.test(name)
          ? parseInt(name.slice(1), 10)
          : NaN;
      if (!Number.isFinite(code) || code > 0x10ffff) this.fail(`unknown entity &${name};`, at);
      return String.fromCodePoint(code);
    });
  }

  private readName(): string {
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.source);
    if (!m) this.fail('expected a tag name');
    this.pos += m![0].length;
    return m![0];
  }

  /** The attributes of start tag `<name`, up to and including its `>` (or `/>`: an empty element). */
  private attributes(name: string): { attributes: Record<string, string>; empty: boolean } {
    const { source } = this;
    const attributes: Record<string, string> = {};
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) this.fail(`unexpected end of file inside <${name}>`);
      if (this.at('/>')) {
        this.pos += 2;
        return { attributes, empty: true };
      }
      if (source[this.pos] === '>') {
        this.pos++;
        return { attributes, empty: false };
      }
      const attr = this.readName();
      this.skipSpace();
      if (source[this.pos] !== '=') this.fail(`attribute ${attr} of <${name}> has no value`);
      this.pos++;
      this.skipSpace();
      const quote = source[this.pos];
      if (quote !== '"' && quote !== "'") this.fail(`attribute ${attr} of <${name}> is not quoted`);
      const end = source.indexOf(quote, this.pos + 1);
      if (end < 0) this.fail(`unterminated attribute ${attr} of <${name}>`);
      attributes[attr] = this.decode(source.slice(this.pos + 1, end), this.pos);
      this.pos = end + 1;
    }
  }

  /** Child elements and text of element `name` up to and including its closing tag. */
  private content(name: string, depth: number): { children: XmlElement[]; text: string } {
    const { source } = this;
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      if (this.atEnd()) this.fail(`unexpected end of file: <${name}> is not closed`);
      if (this.at('</')) {
        this.closingTag(name);
        return { children, text: text.trim() };
      }
      if (this.at('<!--')) this.skipPast('-->', 'comment');
      else if (this.at('<![CDATA[')) {
        const start = this.pos + '<![CDATA['.length;
        text += source.slice(start, this.skipPast(']]>', 'CDATA section'));
      } else if (this.at('<?')) this.skipPast('?>', 'processing instruction');
      else if (source[this.pos] === '<') children.push(this.element(depth + 1));
      else {
        const end = source.indexOf('<', this.pos);
        const stop = end < 0 ? source.length : end;
        text += this.decode(source.slice(this.pos, stop), this.pos);
        this.pos = stop;
      }
    }
  }

  /** `</name>`, which must close element `name`. */
  private closingTag(name: string): void {
    const at = this.pos;
    this.pos += 2;
    const closing = this.readName();
    if (this.atEnd()) this.fail(`unexpected end of file in the closing tag of <${name}>`);
    if (closing !== name) this.fail(`</${closing}> closes <${name}>`, at);
    this.skipSpace();
    if (this.source[this.pos] !== '>') this.fail(`unterminated closing tag </${closing}>`);
    this.pos++;
  }
}

/** The children named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

/** The single child named `name`, or an error naming the file, the record and the missing path. */
export function requiredChild(element: XmlElement, name: string, file: string, record: string): XmlElement {
  const found = childrenNamed(element, name);
  if (found.length === 0) throw formatError(file, record, `missing <${name}> in <${element.name}>`);
  if (found.length > 1)
    throw formatError(file, record, `${found.length} <${name}> elements in <${element.name}>, expected one`);
  return found[0];
}

export function optionalChild(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

/** The number held by the child `name`, required to be finite (and an integer when asked). */
export function numberChild(element: XmlElement, name: string, file: string, record: string, integer = false): number {
  const text = requiredChild(element, name, file, record).text;
  const value = text === '' ? NaN : Number(text);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw formatError(
      file,
      record,
      `<${element.name}><${name}> must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** Serialises a tree as indented XML (what the shapes generator writes). */
export function writeXml(element: XmlElement, indent = ''): string {
  const escape = (s: string) =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const attrs = Object.entries(element.attributes)
    .map(([k, v]) => ` ${k}="${escape(v)}"`)
    .join('');
  if (element.children.length === 0)
    return `${indent}<${element.name}${attrs}>${escape(element.text)}</${element.name}>\n`;
  const inner = element.children.map((c) => writeXml(c, `${indent}\t`)).join('');
  return `${indent}<${element.name}${attrs}>\n${inner}${indent}</${element.name}>\n`;
}

/** Shorthand for building trees to write: `el('size', el('width', 640))`. */
export function el(name: string, ...content: (XmlElement | string | number)[]): XmlElement {
  const children = content.filter((c): c is XmlElement => typeof c === 'object');
  const text = content.filter((c) => typeof c !== 'object').join('');
  return { name, attributes: {}, children, text };
}

/**
 * Parses a PASCAL VOC / ImageNet VID annotation file: its <annotation> root and the image size it declares,
 * refusing another root or an empty size.
 */
export function parseAnnotation(source: string, file: string): { root: XmlElement; width: number; height: number } {
  const root = parseXml(source, file);
  if (root.name !== 'annotation') throw formatError(file, '', `root element is <${root.name}>, expected <annotation>`);
  const size = requiredChild(root, 'size', file, 'annotation');
  const width = numberChild(size, 'width', file, 'size', true);
  const height = numberChild(size, 'height', file, 'size', true);
  if (width < 1 || height < 1) throw formatError(file, 'size', `image size ${width}x${height} is empty`);
  return { root, width, height };
}
