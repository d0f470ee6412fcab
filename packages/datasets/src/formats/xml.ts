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

/**
 * A small strict XML parser for annotation files (PASCAL VOC, ImageNet VID): elements, attributes, text,
 * comments, CDATA, processing instructions, a DOCTYPE (its internal subset is skipped: entities it declares
 * are not expanded, so a reference to one is an error, and no entity can expand exponentially) and the five
 * named plus numeric entities. Anything malformed (unclosed or mismatched tags, stray text after the root, bad
 * entities, nesting deeper than 1000 elements) throws naming the file, line and column. Linear in the size.
 */
export function parseXml(source: string, file: string): XmlElement {
  let pos = 0;
  const fail = (problem: string, at = pos): never => {
    const before = source.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    throw formatError(file, `line ${line}, column ${column}`, `malformed XML: ${problem}`);
  };
  const skipMisc = () => {
    for (;;) {
      while (pos < source.length && /\s/.test(source[pos])) pos++;
      if (source.startsWith('<?', pos)) {
        const end = source.indexOf('?>', pos);
        if (end < 0) fail('unterminated processing instruction');
        pos = end + 2;
      } else if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos);
        if (end < 0) fail('unterminated comment');
        pos = end + 3;
      } else if (source.startsWith('<!DOCTYPE', pos)) {
        skipDoctype();
      } else return;
    }
  };
  // `<!DOCTYPE name ["a>b" [<!ENTITY x "]>"> <!-- ]> -->]>`: quoted strings and comments may hold ] and >.
  const skipDoctype = () => {
    const start = pos;
    let inSubset = false;
    for (pos += '<!DOCTYPE'.length; pos < source.length; pos++) {
      const c = source[pos];
      if (c === '"' || c === "'") {
        const end = source.indexOf(c, pos + 1);
        if (end < 0) break;
        pos = end;
      } else if (inSubset && source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos);
        if (end < 0) break;
        pos = end + 2;
      } else if (c === '[' && !inSubset) inSubset = true;
      else if (c === ']' && inSubset) inSubset = false;
      else if (c === '>' && !inSubset) {
        pos++;
        return;
      }
    }
    fail('unterminated DOCTYPE', start);
  };
  const decode = (raw: string, at: number): string =>
    raw.replace(/&([^;&\s<]*);?/g, (match, name: string) => {
      if (!match.endsWith(';')) fail(`'&' not starting an entity`, at);
      if (name in ENTITIES) return ENTITIES[name];
      const code = /^#x[0-9a-f]+$/i.test(name)
        ? parseInt(name.slice(2), 16)
        : /^#[0-9]+$/.test(name)
          ? parseInt(name.slice(1), 10)
          : NaN;
      if (!Number.isFinite(code) || code > 0x10ffff) fail(`unknown entity &${name};`, at);
      return String.fromCodePoint(code);
    });
  const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
  const readName = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(source);
    if (!m) fail('expected a tag name');
    pos += m![0].length;
    return m![0];
  };
  const parseElement = (depth: number): XmlElement => {
    if (source[pos] !== '<') fail('expected an element');
    if (depth > MAX_DEPTH) fail(`elements nested deeper than ${MAX_DEPTH} levels`);
    pos++;
    const name = readName();
    const attributes: Record<string, string> = {};
    for (;;) {
      while (/\s/.test(source[pos] ?? '')) pos++;
      if (pos >= source.length) fail(`unexpected end of file inside <${name}>`);
      if (source.startsWith('/>', pos)) {
        pos += 2;
        return { name, attributes, children: [], text: '' };
      }
      if (source[pos] === '>') {
        pos++;
        break;
      }
      const attr = readName();
      while (/\s/.test(source[pos] ?? '')) pos++;
      if (source[pos] !== '=') fail(`attribute ${attr} of <${name}> has no value`);
      pos++;
      while (/\s/.test(source[pos] ?? '')) pos++;
      const quote = source[pos];
      if (quote !== '"' && quote !== "'") fail(`attribute ${attr} of <${name}> is not quoted`);
      const end = source.indexOf(quote, pos + 1);
      if (end < 0) fail(`unterminated attribute ${attr} of <${name}>`);
      attributes[attr] = decode(source.slice(pos + 1, end), pos);
      pos = end + 1;
    }
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      if (pos >= source.length) fail(`unexpected end of file: <${name}> is not closed`);
      if (source.startsWith('</', pos)) {
        const at = pos;
        pos += 2;
        const closing = readName();
        if (pos >= source.length) fail(`unexpected end of file in the closing tag of <${name}>`);
        if (closing !== name) fail(`</${closing}> closes <${name}>`, at);
        while (/\s/.test(source[pos] ?? '')) pos++;
        if (source[pos] !== '>') fail(`unterminated closing tag </${closing}>`);
        pos++;
        return { name, attributes, children, text: text.trim() };
      }
      if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos);
        if (end < 0) fail('unterminated comment');
        pos = end + 3;
      } else if (source.startsWith('<![CDATA[', pos)) {
        const end = source.indexOf(']]>', pos);
        if (end < 0) fail('unterminated CDATA section');
        text += source.slice(pos + 9, end);
        pos = end + 3;
      } else if (source.startsWith('<?', pos)) {
        const end = source.indexOf('?>', pos);
        if (end < 0) fail('unterminated processing instruction');
        pos = end + 2;
      } else if (source[pos] === '<') {
        children.push(parseElement(depth + 1));
      } else {
        const end = source.indexOf('<', pos);
        const stop = end < 0 ? source.length : end;
        text += decode(source.slice(pos, stop), pos);
        pos = stop;
      }
    }
  };
  if (source.charCodeAt(0) === 0xfeff) pos = 1;
  skipMisc();
  if (pos >= source.length) fail('no root element');
  const root = parseElement(1);
  skipMisc();
  if (pos < source.length) fail('content after the root element');
  return root;
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
