/** The shared CSV reader (data/csv.ts) used by the dataset importers and the embed stage. */
import assert from "node:assert/strict";
import { parseCsv } from "../data/csv.ts";
import { UserError } from "../pipeline/errors.ts";

Deno.test("csv: quotes, doubled quotes, embedded newlines, CRLF, BOM", () => {
  const text =
    '\ufeffimage,caption\r\na.png,"a cat, on a mat"\r\nb.png,"say ""hi""\nthen"\nc.png,plain\n';
  assert.deepEqual(parseCsv(text, "t.csv"), [
    ["image", "caption"],
    ["a.png", "a cat, on a mat"],
    ["b.png", 'say "hi"\nthen'],
    ["c.png", "plain"],
  ]);
  assert.deepEqual(parseCsv("x,y", "t.csv"), [["x", "y"]]);
  assert.deepEqual(parseCsv("x\ry\r", "t.csv"), [["x"], ["y"]]);
});

Deno.test("csv: empty unquoted fields are null, quoted empty fields are empty strings", () => {
  assert.deepEqual(parseCsv("x,\n", "t.csv"), [["x", null]]);
  assert.deepEqual(parseCsv(',"",a\n', "t.csv"), [[null, "", "a"]]);
  // A blank line is skipped; a line holding only "" is a record of one empty string.
  assert.deepEqual(parseCsv('a\n\n\r\n""\nb', "t.csv"), [["a"], [""], ["b"]]);
  assert.deepEqual(parseCsv("", "t.csv"), []);
});

Deno.test("csv: an unterminated quote is a UserError naming the file", () => {
  assert.throws(() => parseCsv('a,"open\n', "pairs.csv"), UserError);
  assert.throws(
    () => parseCsv('a,"open\n', "pairs.csv"),
    /^UserError: pairs\.csv: unterminated quoted field/,
  );
});
