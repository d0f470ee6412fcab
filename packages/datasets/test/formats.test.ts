import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../src/errors';
import {
  decodeSegmentation,
  maskToRuns,
  polygonsToMask,
  runsToMask,
  runsToString,
  stringToRuns,
} from '../src/formats/mask';
import { decodeLabelPng, encodeLabelPng, vocPalette } from '../src/formats/png';
import { parseXml } from '../src/formats/xml';

const fail = (problem: string): never => {
  throw new Error(problem);
};

describe('label PNGs', () => {
  it('round-trips palette and grayscale index maps', () => {
    const data = Uint8Array.from({ length: 7 * 5 }, (_, i) => (i * 37) % 23);
    data[3] = 255;
    const palette = vocPalette();
    const back = decodeLabelPng(encodeLabelPng({ width: 7, height: 5, data, palette }), 'a.png');
    expect(back.width).toBe(7);
    expect(back.height).toBe(5);
    expect(Array.from(back.data)).toEqual(Array.from(data));
    expect(Array.from(back.palette!.subarray(0, 9))).toEqual([0, 0, 0, 128, 0, 0, 0, 128, 0]);
    expect(Array.from(back.palette!.subarray(255 * 3))).toEqual([224, 224, 192]);
    const gray = decodeLabelPng(encodeLabelPng({ width: 7, height: 5, data }), 'b.png');
    expect(gray.palette).toBeUndefined();
    expect(Array.from(gray.data)).toEqual(Array.from(data));
  });

  it('reads palette PNGs written by libpng (filters, low bit depths) index for index', async () => {
    // sharp quantises to a palette and libpng picks filters per row; mapping our indices through the palette
    // must give the RGB that sharp decodes.
    const width = 33;
    const height = 21;
    const rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 3;
        rgb.set([(x * 8) & 0xff, y * 12, (x + y) % 2 ? 200 : 30], o);
      }
    }
    for (const colours of [2, 4, 16, 256]) {
      const png = await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } })
        .png({ palette: true, colours, dither: 0 })
        .toBuffer();
      const decoded = decodeLabelPng(png, 'q.png');
      const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const mapped = Uint8Array.from(
        { length: width * height * 3 },
        (_, i) => decoded.palette![decoded.data[Math.floor(i / 3)] * 3 + (i % 3)],
      );
      expect(Buffer.from(mapped).equals(data), `${colours} colours`).toBe(true);
    }
  });

  it('rejects truncated, corrupt and non-label PNGs naming the file', async () => {
    const good = encodeLabelPng({ width: 4, height: 4, data: new Uint8Array(16), palette: vocPalette() });
    expect(() => decodeLabelPng(good.subarray(0, good.length - 20), 'cut.png')).toThrow(/cut\.png: PNG: truncated/);
    const corrupt = good.slice();
    corrupt[40] ^= 0xff;
    expect(() => decodeLabelPng(corrupt, 'bad.png')).toThrow(/bad\.png: PNG: bad CRC/);
    expect(() => decodeLabelPng(new Uint8Array([1, 2, 3]), 'x.png')).toThrow(/x\.png: PNG: not a PNG/);
    const rgb = await sharp({ create: { width: 3, height: 3, channels: 3, background: 'red' } })
      .png()
      .toBuffer();
    expect(() => decodeLabelPng(rgb, 'rgb.png')).toThrow(
      /rgb\.png: PNG: a label PNG must be palette .* got colour type 2/,
    );
  });
});

describe('COCO masks', () => {
  it('encodes runs column-major from zeros and round-trips compressed strings', () => {
    // 3 x 2 mask, column-major order: (0,0)=0 (1,0)=1 (2,0)=1 | (0,1)=1 (1,1)=0 (2,1)=0
    const mask = Uint8Array.from([0, 1, 1, 0, 1, 0]);
    expect(maskToRuns(mask, 3, 2)).toEqual([1, 3, 2]);
    expect(Array.from(runsToMask([1, 3, 2], 3, 2, fail))).toEqual(Array.from(mask));
    expect(maskToRuns(Uint8Array.from([1, 1]), 1, 2)).toEqual([0, 2]);
    expect(runsToString([3, 2, 1])).toBe('321');
    // From the fourth run on, pycocotools codes the difference to the run two back: 7 - 3 = 4.
    expect(runsToString([5, 3, 40, 7])).toBe('53X14');
    for (const runs of [
      [5, 3, 40, 7],
      [0, 1000, 3, 999999, 2, 1],
      [12, 1, 1, 1, 1, 30000, 0],
    ]) {
      expect(stringToRuns(runsToString(runs), fail)).toEqual(runs);
    }
    expect(() => stringToRuns('3X', fail)).toThrow(/truncated RLE/);
    expect(() => runsToMask([1, 2], 3, 2, fail)).toThrow(/cover 3 pixels, expected 3 x 2 = 6/);
  });

  it('rasterises polygons by pixel centres', () => {
    const mask = polygonsToMask([[1, 1, 4, 1, 4, 3, 1, 3]], 4, 5);
    const rows = Array.from({ length: 4 }, (_, y) => Array.from(mask.subarray(y * 5, y * 5 + 5)).join(''));
    expect(rows).toEqual(['00000', '01110', '01110', '00000']);
    const tri = polygonsToMask([[0, 0, 10, 0, 0, 10]], 10, 10);
    expect(tri.reduce((a, b) => a + b, 0)).toBe(45);
    const rle = { size: [4, 5] as [number, number], counts: runsToString(maskToRuns(mask, 4, 5)) };
    expect(Array.from(decodeSegmentation(rle, 4, 5, fail))).toEqual(Array.from(mask));
    expect(() => decodeSegmentation({ size: [4, 6], counts: [24] }, 4, 5, fail)).toThrow(
      /RLE size \[4, 6\] does not match the image \[4, 5\]/,
    );
  });
});

describe('XML', () => {
  it('parses elements, text, attributes, entities, comments and CDATA', () => {
    const root = parseXml(
      '<?xml version="1.0"?>\n<!-- c --><annotation a="1 &amp; 2"><name>x &lt;y&gt; &#65;</name><e/><t><![CDATA[<raw>]]></t></annotation>\n',
      'f.xml',
    );
    expect(root.name).toBe('annotation');
    expect(root.attributes.a).toBe('1 & 2');
    expect(root.children.map((c) => [c.name, c.text])).toEqual([
      ['name', 'x <y> A'],
      ['e', ''],
      ['t', '<raw>'],
    ]);
  });

  it('reports malformed XML with the file, line and column', () => {
    const cases: [string, RegExp][] = [
      ['<a>\n  <b>1</c>\n</a>', /bad\.xml: line 2, column 7: malformed XML: <\/c> closes <b>/],
      ['<a><b>1</b>', /unexpected end of file: <a> is not closed/],
      ['<a>1</a><b/>', /content after the root element/],
      ['<a>&bogus;</a>', /unknown entity &bogus;/],
      ['', /no root element/],
    ];
    for (const [source, message] of cases) {
      let error: unknown;
      try {
        parseXml(source, 'bad.xml');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DatasetFormatError);
      expect((error as Error).message).toMatch(message);
    }
  });
});
