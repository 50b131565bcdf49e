/**
 * Safe resolution of image sources. An image row's `source` is shown as a local image only when
 * it names an image file inside one of the dataset folders named in the configuration (after
 * resolving symlinks); URLs are shown as links and never fetched; anything else as text.
 */
import { extname, isAbsolute, resolve, sep } from "node:path";

/** Content types of the image files the explorer serves. */
export const IMAGE_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".bmp": "image/bmp",
};

/** True when `s` is an http(s) URL (shown as a link, never fetched). */
export function isUrl(s: string): boolean {
  return /^https?:\/\/[^\s]+$/i.test(s);
}

/** True when `child` (a real path) lies strictly inside folder `parent` (a real path). */
export function isInside(parent: string, child: string): boolean {
  const p = parent.endsWith(sep) ? parent : parent + sep;
  return child.startsWith(p);
}

async function realPath(p: string): Promise<string | null> {
  try {
    return await Deno.realPath(p);
  } catch {
    return null;
  }
}

/**
 * The real path of the image file that `source` names inside one of `folders`, or null: the
 * extension must be a known image type, the path (relative to a folder, or absolute) must exist
 * as a regular file, and its real path (symlinks resolved) must lie inside the folder's real path.
 */
export async function resolveImageFile(
  source: string | null | undefined,
  folders: readonly string[],
): Promise<string | null> {
  if (!source || isUrl(source) || source.includes("\0")) return null;
  if (!(extname(source).toLowerCase() in IMAGE_TYPES)) return null;
  for (const folder of folders) {
    const root = await realPath(folder);
    if (!root) continue;
    const candidate = isAbsolute(source) ? source : resolve(root, source);
    const real = await realPath(candidate);
    if (!real || !isInside(root, real)) continue;
    if (!(extname(real).toLowerCase() in IMAGE_TYPES)) continue;
    try {
      if ((await Deno.stat(real)).isFile) return real;
    } catch { /* vanished */ }
  }
  return null;
}
