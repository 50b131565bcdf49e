/**
 * The explorer in a real browser (Debian's chromium driven by playwright-core): every view opens
 * without console errors and shows the values the pipeline wrote; the table sorts and filters;
 * table → concept → bridge partner navigation works; the run selector switches runs; the map's
 * points open concepts. On the COCO-500 fixture: captions shown as text, COCO URLs as links.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CHROMIUM, withBrowser } from "./helpers/chromium.ts";
import { makeFixtureCache } from "../explorer/testing/fixture_cache.ts";
import { loadAtlas, serveExplorer } from "../explorer/mod.ts";
import { importNpy } from "../data/import_npy.ts";
import { assignSplits } from "../data/splits.ts";
import { exists, missing } from "./helpers/prerequisites.ts";

const COCO = "../shared/data/coco500-clip-vitb16";

const noChromium = missing("chromium", await exists(CHROMIUM));
const noCoco = missing("coco500", await exists(`${COCO}/pairs.json`));

Deno.test({
  name: "explorer browser: every view, table → concept → bridge partner, no console errors",
  ignore: noChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "explorer_browser_" });
    const cache = join(tmp, "cache"), ds = join(tmp, "ds");
    await Deno.mkdir(cache);
    await Deno.mkdir(ds);
    const fx = await makeFixtureCache(cache, { datasetFolder: ds });
    const atlas = await loadAtlas(cache);
    const run = atlas.runs.find((r) => r.train.key === fx.runs[0].trainKey)!;
    const other = atlas.runs.find((r) => r !== run)!;
    const ac = new AbortController();
    const srv = await serveExplorer({ cache, port: 0, signal: ac.signal });
    try {
      await withBrowser(async (page, errors) => {
        const base = srv.url;
        // Overview: runs table, pareto points, claims values, provenance.
        await page.goto(base);
        assert.equal(await page.locator("#runs-table tbody tr").count(), 2);
        assert.equal(await page.locator("#pareto-figure [data-x]").count(), 2);
        assert.equal(
          (await page.locator("#claims-table .claim-value").first().textContent())?.trim(),
          "0.42",
        );
        assert.match(await page.locator("#pareto-figure .prov").textContent() ?? "", /fixture-1/);
        // Run page: metrics as written (pooled r2 0.5 for seed 0).
        await page.goto(`${base}runs/${run.slug}/index.html`);
        assert.equal(
          (await page.locator('#metrics-table [data-metric="r2"]').first().textContent())?.trim(),
          "0.5",
        );
        assert.equal((await page.locator("#run-c").textContent())?.trim(), String(fx.c));
        // Concept table: all rows; sort by energy descending; filter by modality score.
        await page.goto(`${base}runs/${run.slug}/concepts.html`);
        const rows = page.locator("#concept-table tbody tr");
        assert.equal(await rows.count(), fx.c);
        const st = fx.runs[0].stats;
        await page.locator('th[data-col="energy"]').click(); // first click: descending
        const firstConcept = Number(await rows.first().getAttribute("data-concept"));
        const best = [...st.energy.keys()].sort((a, b) => st.energy[b] - st.energy[a] || a - b)[0];
        assert.equal(firstConcept, best);
        await page.locator('th[data-col="energy"]').click(); // ascending
        const lowest = Number(await rows.first().getAttribute("data-concept"));
        const low = [...st.energy.keys()].sort((a, b) => st.energy[a] - st.energy[b] || a - b)[0];
        assert.equal(lowest, low);
        await page.fill("#min-modality_score", "0.95");
        const wantShown = [...st.modality_score].filter((m) => m >= 0.95).length;
        assert.equal(Number(await page.locator("#shown-count").textContent()), wantShown);
        assert.equal(await page.locator("#concept-table tbody tr:visible").count(), wantShown);
        await page.fill("#min-modality_score", "");
        await page.fill("#min-stability", "0.9");
        // Dead concepts stay hidden (the "show dead concepts" toggle is off).
        const stableShown = [...fx.matchCosine].filter((v, j) => v >= 0.9 && st.frequency[j] > 0)
          .length;
        assert.equal(Number(await page.locator("#shown-count").textContent()), stableShown);
        await page.fill("#min-stability", "");
        // Table → concept page (the first bridge pair's image concept).
        const pair = fx.runs[0].bridgePairs[0];
        await page.locator(`#concept-table tr[data-concept="${pair.image}"] a.concept-link`)
          .click();
        await page.waitForURL(`**/concepts/${pair.image}.html`);
        const energyCell = await page.locator("#stat-energy").getAttribute("data-value");
        assert.ok(Math.abs(Number(energyCell) - st.energy[pair.image]) < 1e-12);
        assert.ok(await page.locator("#top-images .example, #top-captions .example").count() > 0);
        const topAct = Number(
          await page.locator(".example .act").first().getAttribute("data-value"),
        );
        assert.ok(topAct > 0);
        assert.ok(await page.locator("#activation-histogram rect").count() > 0);
        assert.equal(await page.locator("#nearest tbody tr").count(), 10);
        assert.equal(await page.locator("#matches tbody tr").count(), 1);
        // As the image side, the written top pair's text concept is listed with the written
        // value, and no other (non-self) partner has a larger Bridge Score.
        const partnerRows = page.locator("#bridge-partners-image tbody tr");
        const listed: { concept: number; bridge: number }[] = [];
        for (let q = 0; q < await partnerRows.count(); q++) {
          const r = partnerRows.nth(q);
          listed.push({
            concept: Number(await r.locator("a").getAttribute("data-concept")),
            bridge: Number(await r.locator(".bridge-value").textContent()),
          });
        }
        const hit = listed.find((x) => x.concept === pair.text);
        assert.ok(hit, `partner ${pair.text} listed: ${JSON.stringify(listed)}`);
        assert.ok(Math.abs(hit.bridge - pair.bridge) <= 1e-3 * pair.bridge);
        for (const x of listed) {
          if (x.concept !== pair.image) assert.ok(x.bridge <= pair.bridge * (1 + 1e-3));
        }
        const partner = page.locator(`#bridge-partners-image a[data-concept="${pair.text}"]`);
        await partner.click();
        await page.waitForURL(`**/concepts/${pair.text}.html`);
        assert.match(
          await page.locator("h1").textContent() ?? "",
          new RegExp(`Concept ${pair.text}\\b`),
        );
        // Bridge view: ranked pairs with examples from both sides.
        await page.goto(`${base}runs/${run.slug}/bridges.html`);
        assert.equal(
          await page.locator("#bridge-table tbody tr").count(),
          fx.runs[0].bridgePairs.length,
        );
        const firstRow = page.locator("#bridge-table tbody tr").first();
        assert.equal(Number(await firstRow.getAttribute("data-image")), pair.image);
        assert.ok(await firstRow.locator('.example[data-modality="image"]').count() > 0);
        assert.ok(await firstRow.locator('.example[data-modality="text"]').count() > 0);
        // Map: the SVG download has one point per concept; a click on one opens that concept.
        await page.goto(`${base}runs/${run.slug}/figures/map.svg`);
        const points = page.locator("svg a");
        assert.equal(await points.count(), fx.c);
        await points.nth(5).dispatchEvent("click");
        await page.waitForURL(/\/concepts\/\d+\.html$/);
        // Run selector: switches to the same view of the other run.
        await page.goto(`${base}runs/${run.slug}/concepts.html`);
        await page.selectOption("#run-select", other.slug);
        await page.waitForURL(`**/runs/${other.slug}/concepts.html`);
        assert.deepEqual(errors, []);
      });
    } finally {
      ac.abort();
      await srv.finished;
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "explorer browser: COCO-500 captions shown as text, COCO URLs as links (not fetched)",
  ignore: noChromium || noCoco,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "explorer_coco_" });
    const cache = join(tmp, "cache");
    await Deno.mkdir(cache);
    const set = await importNpy({
      path: `${COCO}/image_text_embeddings.npy`,
      pairs: `${COCO}/pairs.json`,
    });
    set.split = assignSplits(set.pairIds, 0.2, 0);
    const fx = await makeFixtureCache(cache, { set, datasetFolder: COCO, c: 32, k: 4 });
    const atlas = await loadAtlas(cache);
    const run = atlas.runs.find((r) => r.train.key === fx.runs[0].trainKey)!;
    const ac = new AbortController();
    const srv = await serveExplorer({ cache, port: 0, signal: ac.signal });
    const requests: string[] = [];
    try {
      await withBrowser(async (page, errors) => {
        page.on("request", (r) => requests.push(r.url()));
        const e = fx.runs[0].stats.energy;
        const best = [...e.keys()].sort((a, b) => e[b] - e[a])[0];
        await page.goto(`${srv.url}runs/${run.slug}/concepts/${best}.html`);
        const link = page.locator("#top-images a.image-url").first();
        assert.match(await link.getAttribute("href") ?? "", /^http:\/\/images\.cocodataset\.org\//);
        const caption = (await page.locator("#top-captions .caption").first().textContent()) ?? "";
        const captions = new Set(
          fx.evalRows.filter((r) => fx.set.modality[r] === "text").map((r) => fx.set.source![r]),
        );
        assert.ok(captions.has(caption), `caption ${caption} is a COCO caption`);
        await page.goto(`${srv.url}runs/${run.slug}/bridges.html`);
        assert.ok(await page.locator("#bridge-table tbody tr").count() > 0);
        assert.deepEqual(errors, []);
      });
      assert.ok(
        requests.every((u) => u.startsWith(srv.url)),
        `only the server was contacted: ${requests.filter((u) => !u.startsWith(srv.url))}`,
      );
    } finally {
      ac.abort();
      await srv.finished;
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
