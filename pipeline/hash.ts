/** SHA-256 helpers for keys and artifact checksums. */
import { createHash } from "node:crypto";

/** Hex SHA-256 of a UTF-8 string. */
export function sha256Text(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Hex SHA-256 of a file's bytes, streamed in 4 MiB chunks (constant memory). */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(4 << 20);
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
  }
  return h.digest("hex");
}
