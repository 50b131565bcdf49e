/**
 * Browser tests' shared driver: Debian's chromium (never a downloaded browser) through
 * playwright-core, in a throw-away profile, collecting console errors and page errors.
 */
import { chromium, type Page } from "playwright-core";

/** The system chromium the browser tests drive. */
export const CHROMIUM = "/usr/bin/chromium";

/** Whether {@link CHROMIUM} exists (browser tests are skipped without it). */
export const haveChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);

/**
 * Run `fn` with a fresh headless page (1400×1000; file:// pages may load their folder's
 * scripts); `errors` collects console errors and uncaught page errors.
 */
export async function withBrowser(
  fn: (page: Page, errors: string[]) => Promise<void>,
): Promise<void> {
  const userDir = await Deno.makeTempDir({ prefix: "explorer_chromium_" });
  const ctx = await chromium.launchPersistentContext(userDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      "--allow-file-access-from-files",
    ],
  });
  const errors: string[] = [];
  try {
    const page = ctx.pages()[0] ?? await ctx.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    await fn(page, errors);
  } finally {
    await ctx.close();
    await Deno.remove(userDir, { recursive: true }).catch(() => {});
  }
}
