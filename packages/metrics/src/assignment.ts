/**
 * Linear sum assignment (the Hungarian problem) for a rectangular cost matrix, by shortest augmenting paths
 * with dual potentials: the Jonker-Volgenant-style algorithm of Crouse (2016) that scipy's
 * linear_sum_assignment implements. O(n^2 m) on an n x m matrix (n <= m after transposing), on Float64Arrays.
 *
 * Every row is assigned when rows <= columns, every column otherwise. `+Infinity` marks a forbidden pair;
 * if no complete assignment avoids forbidden pairs, it throws (as scipy does). NaN and -Infinity are refused.
 * Returns the pairs sorted by row, like scipy.
 */
export function linearSumAssignment(
  cost: ArrayLike<number>,
  rows: number,
  cols: number,
  options: { maximize?: boolean } = {},
): { rowIndices: Int32Array; colIndices: Int32Array } {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0)
    throw new Error(`linearSumAssignment: rows and cols must be non-negative integers, got ${rows} x ${cols}`);
  if (cost.length !== rows * cols)
    throw new Error(
      `linearSumAssignment: argument 'cost' expected ${rows} x ${cols} = ${rows * cols} entries, got ${cost.length}`,
    );
  const transpose = cols < rows;
  const nr = transpose ? cols : rows;
  const nc = transpose ? rows : cols;
  const c = new Float64Array(nr * nc);
  const sign = options.maximize ? -1 : 1;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = cost[i * cols + j] * sign;
      if (Number.isNaN(v) || v === -Infinity) {
        throw new Error(
          `linearSumAssignment: cost[${i}][${j}] is ${cost[i * cols + j]}; entries must be numbers or +Infinity (forbidden)${options.maximize ? ' (-Infinity when maximizing)' : ''}`,
        );
      }
      c[transpose ? j * nc + i : i * nc + j] = v;
    }
  }

  const u = new Float64Array(nr);
  const v = new Float64Array(nc);
  const shortest = new Float64Array(nc);
  const path = new Int32Array(nc).fill(-1);
  const col4row = new Int32Array(nr).fill(-1);
  const row4col = new Int32Array(nc).fill(-1);
  const visitedRows = new Uint8Array(nr);
  const visitedCols = new Uint8Array(nc);
  const remaining = new Int32Array(nc);

  // Warm start (as LAPJV's reduction): u = row minima keeps every reduced cost >= 0, and a row whose cheapest
  // column is still free takes it with reduced cost 0, so only the other rows need augmenting paths.
  for (let r = 0; r < nr; r++) {
    let best = Infinity;
    let bestCol = -1;
    for (let j = 0; j < nc; j++) {
      const value = c[r * nc + j];
      if (value < best || (value === best && bestCol >= 0 && row4col[bestCol] !== -1 && row4col[j] === -1)) {
        best = value;
        bestCol = j;
      }
    }
    if (best === Infinity)
      throw new Error(
        `linearSumAssignment: the cost matrix is infeasible: no complete assignment avoids the +Infinity entries`,
      );
    u[r] = best;
    if (row4col[bestCol] === -1) {
      row4col[bestCol] = r;
      col4row[r] = bestCol;
    }
  }

  for (let current = 0; current < nr; current++) {
    if (col4row[current] !== -1) continue;
    // Dijkstra over columns from row `current` with reduced costs, until an unassigned column is reached.
    let minVal = 0;
    let i = current;
    let numRemaining = nc;
    for (let it = 0; it < nc; it++) remaining[it] = nc - it - 1;
    visitedRows.fill(0);
    visitedCols.fill(0);
    shortest.fill(Infinity);
    let sink = -1;
    while (sink === -1) {
      let index = -1;
      let lowest = Infinity;
      visitedRows[i] = 1;
      const base = i * nc;
      const shift = minVal - u[i];
      for (let it = 0; it < numRemaining; it++) {
        const j = remaining[it];
        const r = shift + c[base + j] - v[j];
        let d = shortest[j];
        if (r < d) {
          path[j] = i;
          shortest[j] = d = r;
        }
        // Among equal lowest costs prefer an unassigned column: it ends the search sooner.
        if (d < lowest || (d === lowest && row4col[j] === -1)) {
          lowest = d;
          index = it;
        }
      }
      minVal = lowest;
      if (minVal === Infinity)
        throw new Error(
          `linearSumAssignment: the cost matrix is infeasible: no complete assignment avoids the +Infinity entries`,
        );
      const j = remaining[index];
      if (row4col[j] === -1) sink = j;
      else i = row4col[j];
      visitedCols[j] = 1;
      remaining[index] = remaining[--numRemaining];
    }
    // Update the dual potentials, then flip the augmenting path.
    u[current] += minVal;
    for (let r = 0; r < nr; r++) if (visitedRows[r] && r !== current) u[r] += minVal - shortest[col4row[r]];
    for (let j = 0; j < nc; j++) if (visitedCols[j]) v[j] -= minVal - shortest[j];
    let j = sink;
    for (;;) {
      const r = path[j];
      row4col[j] = r;
      const previous = col4row[r];
      col4row[r] = j;
      j = previous;
      if (r === current) break;
    }
  }

  const rowIndices = new Int32Array(nr);
  const colIndices = new Int32Array(nr);
  if (!transpose) {
    for (let r = 0; r < nr; r++) {
      rowIndices[r] = r;
      colIndices[r] = col4row[r];
    }
  } else {
    // Rows of the transposed problem are the original columns: sort the pairs by original row.
    const order = Array.from(col4row.keys()).sort((a, b) => col4row[a] - col4row[b]);
    order.forEach((r, k) => {
      rowIndices[k] = col4row[r];
      colIndices[k] = r;
    });
  }
  return { rowIndices, colIndices };
}
