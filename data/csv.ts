/**
 * The one CSV reader of the project (RFC 4180: comma separated, `"` quoting with `""` escapes,
 * quoted fields may hold commas and line breaks, CRLF or LF, an optional UTF-8 BOM). Pure.
 */
import { UserError } from "../pipeline/errors.ts";

/**
 * Parse CSV text into records of fields. An empty field that was not quoted is `null`; a quoted
 * empty field (`""`) is the empty string. Blank lines (one unquoted empty field) are skipped, so
 * a trailing newline adds no record.
 * @param text the file's text
 * @param name the file name, for the error message
 * @returns records in file order (fields in column order; records may differ in length)
 * @throws UserError naming `name` when a quoted field is not closed before the end of the text
 */
export function parseCsv(text: string, name: string): (string | null)[][] {
  const records: (string | null)[][] = [];
  let rec: (string | null)[] = [];
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const COMMA = 44, LF = 10, CR = 13, QUOTE = 34;
  // Each pass reads one field (quoted or not) and the separator after it; fields are sliced out
  // of the text, not built a character at a time.
  while (i < n) {
    let field: string | null;
    if (text.charCodeAt(i) === QUOTE) {
      let value = "";
      let from = i + 1;
      while (true) {
        const q = text.indexOf('"', from);
        if (q < 0) throw new UserError(`${name}: unterminated quoted field at the end of the file`);
        value += text.slice(from, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // Characters after the closing quote up to the separator belong to the field, as before.
      let j = i;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === COMMA || c === LF || c === CR) break;
        j++;
      }
      field = value + text.slice(i, j);
      i = j;
    } else {
      let j = i;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === COMMA || c === LF || c === CR) break;
        j++;
      }
      field = j > i ? text.slice(i, j) : null;
      i = j;
    }
    rec.push(field);
    const c = i < n ? text.charCodeAt(i) : LF;
    i++;
    if (c === COMMA) {
      if (i < n) continue;
      rec.push(null); // a comma at the very end: one more, empty field
    }
    if (c === CR && text.charCodeAt(i) === LF) i++;
    if (!(rec.length === 1 && rec[0] === null)) records.push(rec);
    rec = [];
  }
  return records;
}
