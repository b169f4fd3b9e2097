/**
 * Lays out rows of cells as text columns: the first column left-aligned,
 * the others right-aligned, each as wide as its widest cell plus a gap.
 */
export function table(rows: readonly (readonly string[])[], gap = 2): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const pad = " ".repeat(widths[i]! - [...cell].length);
        return i === 0 ? cell + pad : " ".repeat(gap) + pad + cell;
      })
      .join("")
      .trimEnd(),
  );
}
