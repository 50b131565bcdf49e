/**
 * The comparison page in a real browser (chromium driven by playwright-core, as
 * tests/explorer_browser_test.ts): a tiny two-space study is run through the command line, then
 * `compare.html` opens without console errors, shows one Pareto panel per space and the claims
 * table with the values the compare stage wrote, and its space links lead to run pages that name
 * their space.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import YAML from "yaml";
import { serveExplorer } from "../explorer/mod.ts";
import { CHROMIUM, withBrowser } from "./helpers/chromium.ts";
import { exists, missing } from "./helpers/prerequisites.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const noChromium = missing("chromium", await exists(CHROMIUM));

const CONFIG = {
  dataset: {
    world: {
      images: 200,
      captionsPerImage: 2,
      sharedConcepts: 6,
      imageConcepts: 2,
      textConcepts: 2,
    },
    spaces: [
      { name: "small", kind: "synthetic", seed: 0, world: { d: 12 } },
      { name: "wide", kind: "synthetic", seed: 1, world: { d: 20, images: 260 } },
    ],
  },
  diets: { ratios: ["natural"] },
  train: {
    methods: ["topk", "pca"],
    k: [2, 4],
    seeds: [0, 1],
    epochs: 2,
    batchSize: 64,
    primary: { method: "topk", k: 4 },
  },
  analysis: { modality: { methods: ["mean"], randomDirections: 8 }, claims: { subspace: "mean" } },
};

Deno.test({
  name: "explorer browser: the comparison page of a two-space study",
  ignore: noChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "explorer_compare_" });
    const cache = join(tmp, "cache"), config = join(tmp, "study.yaml");
    await Deno.writeTextFile(config, YAML.stringify(CONFIG));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "--config", config, "--cache", cache, "--json"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr).slice(-2000));
    const summary = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    const compare = summary.stages.find((s: { stage: string }) => s.stage === "compare");
    const written = JSON.parse(await Deno.readTextFile(join(compare.dir, "summary.json")));
    const ac = new AbortController();
    const srv = await serveExplorer({ cache, port: 0, signal: ac.signal });
    try {
      await withBrowser(async (page, errors) => {
        await page.goto(srv.url);
        // The space selector is in every page's navigation and leads to the comparison.
        assert.deepEqual(await page.locator("nav .space-select a.space").allTextContents(), [
          "small",
          "wide",
        ]);
        await page.locator("nav a.compare").click();
        await page.waitForURL(/compare\.html$/);
        assert.equal(await page.locator("h1").textContent(), "Embedding spaces compared");
        assert.equal(
          await page.locator("#compare-pareto svg [data-panel]").count(),
          2,
          "a panel per space",
        );
        // Every claim cell shows the value the compare stage wrote (first seed), per space.
        for (const s of written.spaces) {
          for (const c of s.claims) {
            const cell = page.locator(`span[data-space="${s.space}"][data-claim="${c.claim}"]`);
            assert.equal(await cell.count(), 1, `${s.space} ${c.claim}`);
            const v = Number(await cell.getAttribute("data-value"));
            assert.ok(
              c.value === null ? Number.isNaN(v) : v === c.value,
              `${s.space} ${c.claim}: ${v} vs ${c.value}`,
            );
            assert.match((await cell.textContent())!, c.holds ? /^✓/ : /^✗/);
          }
        }
        const dCells = await page.locator("table.spaces tbody tr td:nth-child(2)")
          .allTextContents();
        assert.deepEqual(dCells, ["12", "20"], "each space's own dimension");
        assert.equal(await page.locator("table.spaces tbody tr").count(), 2);
        // A link into the second space's runs opens a run page that names the space.
        await page.locator('a.run-link[data-space="wide"]').first().click();
        await page.waitForURL(/\/runs\/wide-/);
        assert.match((await page.locator("h1").textContent())!, /^Run wide · /);
        assert.equal(await page.locator("nav a.space.current").textContent(), "wide");
        assert.deepEqual(errors, []);
      });
    } finally {
      ac.abort();
      await srv.finished.catch(() => {});
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
