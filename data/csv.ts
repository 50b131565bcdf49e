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
  let field = "", rec: (string | null)[] = [], quoted = false, wasQuoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endField = () => {
    rec.push(wasQuoted || field !== "" ? field : null);
    field = "";
    wasQuoted = false;
  };
  const endRecord = () => {
    endField();
    if (!(rec.length === 1 && rec[0] === null)) records.push(rec);
    rec = [];
  };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === "") {
      quoted = true;
      wasQuoted = true;
    } else if (ch === ",") endField();
    else if (ch === "\n" || ch === "\r") {
      endRecord();
      if (ch === "\r" && text[i + 1] === "\n") i++;
    } else field += ch;
    i++;
  }
  if (quoted) throw new UserError(`${name}: unterminated quoted field at the end of the file`);
  if (field !== "" || wasQuoted || rec.length > 0) endRecord();
  return records;
}
