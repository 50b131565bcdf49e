/** SHA-256 helpers for keys and artifact checksums. */
import { createHash, type Hash } from "node:crypto";

/** Hex SHA-256 of a UTF-8 string. */
export function sha256Text(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Hex SHA-256 of a file's bytes, streamed in 4 MiB chunks (constant memory). */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  await hashFileInto(h, path);
  return h.digest("hex");
}

/** Feed a file's bytes into a running hash (any algorithm), in 4 MiB chunks. */
export async function hashFileInto(h: Hash, path: string): Promise<void> {
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(4 << 20);
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    h.update(buf.subarray(0, n));
  }
}
