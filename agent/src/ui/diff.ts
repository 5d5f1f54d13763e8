export type DiffLine = { op: " " | "+" | "-"; text: string };

/**
 * Line diff (longest common subsequence). Returns null when the inputs are too large to diff in
 * the browser (callers then show line counts only).
 */
export function lineDiff(before: string, after: string, maxCells = 4_000_000): DiffLine[] | null {
  const a = before.split("\n");
  const b = after.split("\n");
  // Common head and tail first: edits are usually small.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  if (x.length * y.length > maxCells) return null;
  const w = y.length + 1;
  const lcs = new Uint32Array((x.length + 1) * w);
  for (let i = x.length - 1; i >= 0; i--)
    for (let j = y.length - 1; j >= 0; j--)
      lcs[i * w + j] =
        x[i] === y[j]
          ? (lcs[(i + 1) * w + j + 1] as number) + 1
          : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
  const mid: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      mid.push({ op: " ", text: x[i] as string });
      i++;
      j++;
    } else if (
      j < y.length &&
      (i >= x.length || (lcs[i * w + j + 1] as number) >= (lcs[(i + 1) * w + j] as number))
    ) {
      mid.push({ op: "+", text: y[j] as string });
      j++;
    } else {
      mid.push({ op: "-", text: x[i] as string });
      i++;
    }
  }
  return [
    ...a.slice(0, head).map((text) => ({ op: " " as const, text })),
    ...mid,
    ...a.slice(a.length - tail).map((text) => ({ op: " " as const, text })),
  ];
}

/** Changed lines with up to `context` unchanged lines around them; "…" marks gaps. */
export function hunks(d: DiffLine[], context = 2): (DiffLine | null)[] {
  const keep = new Array<boolean>(d.length).fill(false);
  d.forEach((l, i) => {
    if (l.op !== " ")
      for (let k = Math.max(0, i - context); k <= Math.min(d.length - 1, i + context); k++) keep[k] = true;
  });
  const out: (DiffLine | null)[] = [];
  let gap = false;
  d.forEach((l, i) => {
    if (keep[i]) {
      if (gap && out.length > 0) out.push(null);
      gap = false;
      out.push(l);
    } else gap = true;
  });
  return out;
}

/** Kernel parameters after a hotfix, as the agent edits them: exact tokens removed, new ones appended. */
export function applyKernelParams(current: string[], add: string[], remove: string[]): string[] {
  const kept = current.filter((p) => !remove.includes(p));
  for (const p of add) if (!kept.includes(p)) kept.push(p);
  return kept;
}
