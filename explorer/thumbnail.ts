/**
 * Thumbnails of local images: decoded in pure JavaScript (`jpeg-js`, `pngjs`; no native code),
 * shrunk by area averaging so the longer side is at most `maxSide` px (never enlarged), encoded as
 * JPEG, and kept in a cache folder keyed by the file's real path, size and modification time, so
 * each image is resized once. Callers resolve the file through explorer/media.ts first (the
 * traversal-safe checks); this module never sees a request path.
 */
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { extname, join } from "node:path";
import { Buffer } from "node:buffer";

/** Extensions a thumbnail can be made from (others are served as they are). */
export const THUMBNAIL_SOURCES = new Set([".jpg", ".jpeg", ".png"]);

/** Bump when the thumbnail bytes change for the same input (invalidates cached files). */
const THUMB_VERSION = 1;

/** RGBA pixels, row-major, 4 bytes per pixel. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decode a JPEG or PNG file's bytes (by extension) into RGBA; null for other types. */
export function decodeImage(bytes: Uint8Array, ext: string): Rgba | null {
  const e = ext.toLowerCase();
  if (e === ".jpg" || e === ".jpeg") {
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxMemoryUsageInMB: 512,
    });
    return { width: img.width, height: img.height, data: img.data };
  }
  if (e === ".png") {
    const img = PNG.sync.read(Buffer.from(bytes));
    return { width: img.width, height: img.height, data: new Uint8Array(img.data) };
  }
  return null;
}

/**
 * Shrink by area averaging (each output pixel is the mean of the input pixels its box covers,
 * with fractional edge weights) so that max(width, height) ≤ maxSide; alpha is blended onto
 * white. Images already small enough are returned with alpha blended only.
 */
export function shrinkImage(img: Rgba, maxSide: number): Rgba {
  const s = Math.min(1, maxSide / Math.max(img.width, img.height));
  const w = Math.max(1, Math.round(img.width * s)), h = Math.max(1, Math.round(img.height * s));
  const fx = img.width / w, fy = img.height / h;
  const out = new Uint8Array(w * h * 4);
  const acc = new Float64Array(3);
  for (let y = 0; y < h; y++) {
    const y0 = y * fy, y1 = (y + 1) * fy;
    for (let x = 0; x < w; x++) {
      const x0 = x * fx, x1 = (x + 1) * fx;
      acc.fill(0);
      let wsum = 0;
      for (let sy = Math.floor(y0); sy < Math.min(img.height, Math.ceil(y1)); sy++) {
        const wy = Math.min(y1, sy + 1) - Math.max(y0, sy);
        for (let sx = Math.floor(x0); sx < Math.min(img.width, Math.ceil(x1)); sx++) {
          const wx = Math.min(x1, sx + 1) - Math.max(x0, sx);
          const o = (sy * img.width + sx) * 4, a = img.data[o + 3] / 255, wt = wx * wy;
          for (let ch = 0; ch < 3; ch++) acc[ch] += wt * (img.data[o + ch] * a + 255 * (1 - a));
          wsum += wt;
        }
      }
      const o = (y * w + x) * 4;
      for (let ch = 0; ch < 3; ch++) out[o + ch] = Math.round(acc[ch] / (wsum || 1));
      out[o + 3] = 255;
    }
  }
  return { width: w, height: h, data: out };
}

async function sha256Hex(s: string): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The JPEG thumbnail of the image file `file` (a real path already checked by
 * explorer/media.ts), from `cacheDir` when made before, else made and stored there (a cache
 * folder that cannot be written only costs the caching). Null when the type cannot be decoded.
 */
export async function thumbnailOf(
  file: string,
  cacheDir: string,
  maxSide = 256,
): Promise<Uint8Array | null> {
  const ext = extname(file).toLowerCase();
  if (!THUMBNAIL_SOURCES.has(ext)) return null;
  const st = await Deno.stat(file);
  const key = await sha256Hex(
    `${THUMB_VERSION}|${maxSide}|${file}|${st.size}|${st.mtime?.getTime() ?? 0}`,
  );
  const path = join(cacheDir, `${key}.jpg`);
  try {
    return await Deno.readFile(path);
  } catch { /* not made yet */ }
  let img: Rgba | null;
  try {
    img = decodeImage(await Deno.readFile(file), ext);
  } catch {
    return null;
  }
  if (!img) return null;
  const small = shrinkImage(img, maxSide);
  const bytes = new Uint8Array(jpeg.encode(small, 82).data);
  try {
    await Deno.mkdir(cacheDir, { recursive: true });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch { /* read-only cache: serve without keeping it */ }
  return bytes;
}
