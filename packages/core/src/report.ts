/** Console progress and SVG charts for trainers and searches: no browser, no dependencies. */

export interface ProgressOptions {
  total: number;
  label?: string;
  /** Where to write; defaults to stderr. */
  stream?: { write(text: string): unknown; isTTY?: boolean };
  /** On a non-TTY stream (CI, log files), print a full line at most this often. */
  logEveryMs?: number;
}

export interface Progress {
  /** Reports that `step` steps are done, with named values to show (loss, lr). */
  update(step: number, values?: Record<string, number>): void;
  done(values?: Record<string, number>): void;
}

export function createProgress(options: ProgressOptions): Progress {
  const { total, label = '', logEveryMs = 10_000 } = options;
  const stream = options.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY);
  const start = performance.now();
  let lastLog = -Infinity;
  let firstStep: number | null = null;
  let firstTime = start;

  const render = (step: number, values: Record<string, number>) => {
    const now = performance.now();
    if (firstStep === null) {
      firstStep = step;
      firstTime = now;
    }
    const elapsed = (now - firstTime) / 1000;
    const rate = elapsed > 0 ? (step - firstStep) / elapsed : 0;
    const eta = rate > 0 ? (total - step) / rate : NaN;
    const width = 24;
    const filled = Math.round((width * Math.min(step, total)) / Math.max(total, 1));
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const shown = Object.entries(values)
      .map(([k, v]) => `${k} ${formatValue(v)}`)
      .join('  ');
    return `${label ? `${label} ` : ''}[${bar}] ${step}/${total}  ${rate.toFixed(2)} it/s  eta ${formatDuration(eta)}${shown ? `  ${shown}` : ''}`;
  };

  return {
    update(step, values = {}) {
      const line = render(step, values);
      if (tty) {
        stream.write(`\r${line}\x1b[K`);
      } else if (performance.now() - lastLog >= logEveryMs || step === total) {
        lastLog = performance.now();
        stream.write(`${line}\n`);
      }
    },
    done(values = {}) {
      const line = render(total, values);
      stream.write(tty ? `\r${line}\x1b[K\n` : `${line}\n`);
    },
  };
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(4);
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export interface ChartSeries {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  width?: number;
  height?: number;
  /** Plot y on a log scale (losses). Non-positive values are skipped. */
  logY?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** A line chart as a standalone SVG document. */
export function lineChartSvg(options: ChartOptions): string {
  const { title, xLabel, yLabel, series, width = 640, height = 400, logY = false } = options;
  const margin = { left: 70, right: 150, top: 40, bottom: 50 };
  const ty = (y: number) => (logY ? Math.log10(y) : y);
  const usable = series.map((s) => ({
    ...s,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0)),
  }));
  const all = usable.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => ty(y));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (!Number.isFinite(x0)) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pw = width - margin.left - margin.right;
  const ph = height - margin.top - margin.bottom;
  const px = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * pw;
  const py = (y: number) => margin.top + ph - ((ty(y) - y0) / (y1 - y0)) * ph;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const xv = x0 + ((x1 - x0) * i) / 4;
    const yv = y0 + ((y1 - y0) * i) / 4;
    const yShown = logY ? 10 ** yv : yv;
    parts.push(`<text x="${px(xv)}" y="${margin.top + ph + 18}" text-anchor="middle">${tick(xv)}</text>`);
    parts.push(
      `<text x="${margin.left - 6}" y="${margin.top + ph - (ph * i) / 4 + 4}" text-anchor="end">${tick(yShown)}</text>`,
    );
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + pw}" y1="${margin.top + ph - (ph * i) / 4}" y2="${margin.top + ph - (ph * i) / 4}" stroke="#eee"/>`,
    );
  }
  parts.push(`<text x="${margin.left + pw / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(
    `<text transform="translate(16 ${margin.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}${logY ? ' (log)' : ''}</text>`,
  );
  usable.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
    if (s.points.length === 1)
      parts.push(`<circle cx="${px(s.points[0][0])}" cy="${py(s.points[0][1])}" r="3" fill="${color}"/>`);
    parts.push(
      `<rect x="${width - margin.right + 12}" y="${margin.top + i * 18}" width="12" height="3" fill="${color}"/>`,
    );
    parts.push(`<text x="${width - margin.right + 30}" y="${margin.top + i * 18 + 5}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function tick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-2 || a >= 1e5)) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/**
 * A markdown table with every column padded to its widest cell (as Prettier lays out a table that fits its print
 * width), so that a README section a script writes reads as a table in plain text too. `align` marks right-aligned
 * columns (numbers); the default is left. Every row must have as many cells as the header.
 */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly ('left' | 'right')[] = [],
): string {
  rows.forEach((row, i) => {
    if (row.length !== header.length)
      throw new Error(`markdownTable: rows[${i}] must have ${header.length} cells (the header's), got ${row.length}`);
  });
  const widths = header.map((h, c) => Math.max(3, h.length, ...rows.map((row) => row[c].length)));
  const right = (c: number) => align[c] === 'right';
  const line = (cells: readonly string[]) =>
    `| ${cells.map((x, c) => (right(c) ? x.padStart(widths[c]) : x.padEnd(widths[c]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (right(c) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
