/** Control characters (C0, DEL, C1) that could move the cursor or recolour a terminal. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** A cell as shown: control characters replaced, so stored text cannot drive the terminal. */
export function cell(text: string): string {
  return text.replace(CONTROL, '�');
}

const graphemes = new Intl.Segmenter();

/** Columns a text takes, counted in user-perceived characters (wide CJK characters count as one). */
function width(text: string): number {
  let count = 0;
  for (const _ of graphemes.segment(text)) count++;
  return count;
}

/** Left-aligned columns separated by two spaces, with an upper-case header row. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const shown = rows.map((row) => row.map(cell));
  const widths = headers.map((header, column) =>
    Math.max(width(header), ...shown.map((row) => width(row[column] ?? ''))),
  );
  const line = (row: readonly string[]): string =>
    row
      .map((text, column) =>
        column === row.length - 1 ? text : text + ' '.repeat((widths[column] ?? 0) - width(text)),
      )
      .join('  ')
      .trimEnd();
  return [line(headers), ...shown.map(line)].join('\n');
}

/** `label  value` lines with the labels padded to one width (a record shown vertically). */
export function formatFields(fields: readonly (readonly [string, string])[]): string {
  const labelWidth = Math.max(...fields.map(([label]) => width(label)));
  return fields.map(([label, value]) => `${label.padEnd(labelWidth)}  ${cell(value)}`).join('\n');
}
