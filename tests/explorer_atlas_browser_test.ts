/**
 * The explorer as people read it, in a real browser (Debian's chromium driven by playwright-core):
 * the configured primary run first and runs in natural order (k = 3, 4, 16, 32), dead concepts
 * hidden until the toggle, labels in the table and on pages, the search box (by label, by caption
 * text, by a free-text query through a text tower), thumbnails served (and traversal refused), the
 * canvas map (hover names the concept, click opens it), no SVG text or point outside its figure,
 * and the static report over file://.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { haveChromium, withBrowser } from "./helpers/chromium.ts";
import { missing } from "./helpers/prerequisites.ts";

const noChromium = missing("chromium", haveChromium);
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { conceptWord, makeFixtureCache } from "../explorer/testing/fixture_cache.ts";
import { buildReport, loadAtlas, serveExplorer } from "../explorer/mod.ts";
import { conceptColumns, topActivations } from "../explorer/activations.ts";
import { writeTinyDualEncoder } from "../embed/testing/tiny_dual_encoder.ts";
import { DualEncoder } from "../embed/dual_encoder.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { encodeTopK } from "../analysis/null_dictionary.ts";

/** A w×h PNG: left half red, right half blue. */
function twoColourPng(w: number, h: number): Uint8Array {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      png.data[o] = x < w / 2 ? 255 : 0;
      png.data[o + 1] = 0;
      png.data[o + 2] = x < w / 2 ? 0 : 255;
      png.data[o + 3] = 255;
    }
  }
  return new Uint8Array(PNG.sync.write(png));
}

/**
 * Fixture with a primary run that is not first in string order (seed 1), extra runs k = 16, 4,
 * 32, and real images: every image row's file is a 600×300 PNG, except img_0.png, a symlink to a
 * file outside the dataset folder.
 */
async function setup(opts: { embedModel?: string } = {}) {
  const tmp = await Deno.makeTempDir({ prefix: "explorer_atlas_" });
  const ds = join(tmp, "ds"), cache = join(tmp, "cache"), outside = join(tmp, "outside");
  for (const p of [ds, cache, outside]) await Deno.mkdir(p);
  const fx = await makeFixtureCache(cache, {
    datasetFolder: ds,
    primarySeed: 1,
    extraK: [16, 4, 32],
    ...opts,
  });
  const png = twoColourPng(600, 300);
  for (let p = 1; p < 30; p++) await Deno.writeFile(join(ds, `img_${p}.png`), png);
  await Deno.writeFile(join(outside, "secret.png"), png);
  await Deno.symlink(join(outside, "secret.png"), join(ds, "img_0.png"));
  return { tmp, ds, cache, fx };
}

/**
 * Every text and point of every inline SVG figure, mapped to the SVG's user space (getBBox
 * through getCTM): texts must lie inside the viewBox, points inside the plot area. Returns the
 * offenders.
 */
function clippedInSvgs(page: Page): Promise<string[]> {
  return page.evaluate(CLIP_CHECK) as Promise<string[]>;
}

/** The in-page check of {@link clippedInSvgs} (plain JavaScript: this file has no DOM types). */
const CLIP_CHECK = `(() => {
  const bad = [];
  for (const svg of document.querySelectorAll("svg.plot")) {
    const vb = svg.viewBox.baseVal;
    const area = svg.querySelector("rect.plot-area");
    const ab = area ? area.getBBox() : null;
    const inv = svg.getCTM() ? svg.getCTM().inverse() : null;
    const box = (el) => {
      const b = el.getBBox();
      const m = inv && el.getCTM() ? inv.multiply(el.getCTM()) : null;
      const pts = [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height],
        [b.x + b.width, b.y + b.height]].map(([x, y]) => {
          const p = new DOMPoint(x, y);
          return m ? p.matrixTransform(m) : p;
        });
      return {
        x0: Math.min(...pts.map((p) => p.x)), x1: Math.max(...pts.map((p) => p.x)),
        y0: Math.min(...pts.map((p) => p.y)), y1: Math.max(...pts.map((p) => p.y)),
      };
    };
    const id = (svg.closest("figure") || svg).id;
    for (const t of svg.querySelectorAll("text")) {
      if (!t.textContent) continue;
      const b = box(t);
      if (b.x0 < vb.x - 0.5 || b.y0 < vb.y - 0.5 || b.x1 > vb.x + vb.width + 0.5 ||
        b.y1 > vb.y + vb.height + 0.5) {
        bad.push(id + ": text " + JSON.stringify(t.textContent.slice(0, 60)) + " at " + JSON.stringify(b));
      }
    }
    if (!ab) continue;
    for (const c of svg.querySelectorAll("circle.point")) {
      const b = box(c);
      if (b.x0 < ab.x - 0.01 || b.y0 < ab.y - 0.01 || b.x1 > ab.x + ab.width + 0.01 ||
        b.y1 > ab.y + ab.height + 0.01) {
        bad.push(id + ": point " + JSON.stringify(b) + " outside the plot area");
      }
    }
  }
  return bad;
})()`;

/** JavaScript run in the page: true once every `selector` image has finished loading. */
function imagesComplete(selector: string): string {
  return `Array.from(document.querySelectorAll(${
    JSON.stringify(selector)
  })).every((i) => i.complete)`;
}

/** JavaScript run in the page: the natural width of the first `selector` image. */
function naturalWidth(selector: string): string {
  return `(document.querySelector(${JSON.stringify(selector)}) || {}).naturalWidth`;
}

Deno.test({
  name:
    "explorer atlas: primary first, natural order, dead toggle, labels, search, thumbnails, map, no clipped SVG",
  ignore: noChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { tmp, cache, fx } = await setup();
    const atlas = await loadAtlas(cache);
    const primary = atlas.runs.find((r) => r.train.key === fx.runs[1].trainKey)!;
    const seed0 = atlas.runs.find((r) => r.train.key === fx.runs[0].trainKey)!;
    const ac = new AbortController();
    const srv = await serveExplorer({ cache, port: 0, signal: ac.signal });
    try {
      await withBrowser(async (page, errors) => {
        const base = srv.url;
        // ---- the primary run first, natural order -------------------------------------------
        await page.goto(base);
        assert.equal((await page.locator("#primary-run").textContent())?.trim(), primary.label);
        const runLabels = await page.locator("#runs-table tbody a.run-link").allTextContents();
        assert.deepEqual(runLabels, [
          "topk k=3 seed=1 diet=natural",
          "topk k=3 seed=0 diet=natural",
          "topk k=4 seed=0 diet=natural",
          "topk k=16 seed=0 diet=natural",
          "topk k=32 seed=0 diet=natural",
        ]);
        const options = await page.locator("#run-select option").allTextContents();
        assert.deepEqual(options.filter((o) => o.startsWith("topk")), runLabels);
        assert.deepEqual(await clippedInSvgs(page), []);

        // ---- concept table: labels, dead concepts hidden until the toggle -------------------
        const st = fx.runs[1].stats;
        const live = [...st.frequency].filter((f) => f > 0).length;
        assert.ok(live < fx.c, "the fixture has dead concepts");
        await page.goto(`${base}runs/${primary.slug}/concepts.html`);
        assert.equal(await page.locator('#concept-table th[data-text="label"]').count(), 1);
        assert.equal(await page.locator("#concept-table tbody tr:visible").count(), live);
        assert.equal(Number(await page.locator("#shown-count").textContent()), live);
        await page.check("#show-dead");
        assert.equal(await page.locator("#concept-table tbody tr:visible").count(), fx.c);
        await page.uncheck("#show-dead");
        assert.equal(await page.locator("#concept-table tbody tr:visible").count(), live);
        const liveJ = [...st.frequency.keys()].find((j) => st.frequency[j] > 0)!;
        // Run 1's concept q copies run 0's concept perm[q]: its label names that concept.
        const word = conceptWord(fx.matchB.indexOf(liveJ));
        assert.equal(
          (await page.locator(`#concept-table tr[data-concept="${liveJ}"] td.label`).textContent())
            ?.trim(),
          word,
        );

        // ---- search by label --------------------------------------------------------------
        await page.fill("#search-box", word);
        await page.locator("#search-results .search-hit").first().waitFor();
        const first = page.locator("#search-results .search-hit").first();
        assert.equal(Number(await first.getAttribute("data-concept")), liveJ);
        assert.equal(await first.getAttribute("data-match"), "label");
        await first.locator("a").click();
        await page.waitForURL(`**/runs/${primary.slug}/concepts/${liveJ}.html`);
        assert.equal((await page.locator("#label").textContent())?.trim(), word);
        assert.match(
          await page.locator("h1").textContent() ?? "",
          new RegExp(`Concept ${liveJ}: ${word} `),
        );
        assert.deepEqual(await clippedInSvgs(page), []);

        // ---- search by caption text (from the run's own top captions) ---------------------
        const cols = conceptColumns(fx.runs[1].codes);
        const isImage = fx.evalRows.map((r) => (fx.set.modality[r] === "image" ? 1 : 0));
        const capJ = [...Array(fx.c).keys()].find((j) =>
          topActivations(cols, j, isImage, false, 1).length > 0
        )!;
        const capRow = topActivations(cols, capJ, isImage, false, 1)[0].row;
        const caption = fx.set.source![fx.evalRows[capRow]]!;
        const fragment = caption.slice(caption.lastIndexOf("<b>")); // "<b>p.q</b>": unique
        await page.goto(`${base}runs/${primary.slug}/index.html`);
        await page.fill("#search-box", fragment);
        await page.locator("#search-results .search-hit").first().waitFor();
        const hits = await page.locator("#search-results .search-hit").evaluateAll((els) =>
          els.map((e) => [Number(e.getAttribute("data-concept")), e.getAttribute("data-match")])
        );
        assert.ok(hits.some(([j, m]) => j === capJ && m === "caption"), JSON.stringify(hits));

        // ---- thumbnails -------------------------------------------------------------------
        const imgRow = fx.evalRows.findIndex((r) => fx.set.source![r] === "img_2.png");
        const res = await fetch(`${base}runs/${primary.slug}/thumbs/${imgRow}.jpg`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "image/jpeg");
        const thumb = jpeg.decode(new Uint8Array(await res.arrayBuffer()), { useTArray: true });
        assert.deepEqual([thumb.width, thumb.height], [256, 128]);
        const px = (x: number, y: number) =>
          Array.from(thumb.data.subarray((y * 256 + x) * 4, (y * 256 + x) * 4 + 3));
        assert.ok(px(10, 60)[0] > 200 && px(10, 60)[2] < 50, `left ${px(10, 60)}`);
        assert.ok(px(245, 60)[2] > 200 && px(245, 60)[0] < 50, `right ${px(245, 60)}`);
        // Resized once: a second request adds no cached file and gives the same bytes.
        const cachedFiles = async () => {
          let n = 0;
          for await (const _ of Deno.readDir(join(cache, ".explorer", "thumbs"))) n++;
          return n;
        };
        const before = await cachedFiles();
        assert.ok(before >= 1);
        const again = await fetch(`${base}runs/${primary.slug}/thumbs/${imgRow}.jpg`);
        assert.equal((await again.arrayBuffer()).byteLength > 0, true);
        assert.equal(await cachedFiles(), before);
        // Refused: a symlink out of the dataset folder, a caption row, traversal spellings.
        for (
          const bad of [
            `runs/${primary.slug}/thumbs/0.jpg`,
            `runs/${primary.slug}/thumbs/1.jpg`,
            `runs/${primary.slug}/thumbs/..%2f..%2f..%2fetc%2fpasswd`,
            `runs/${primary.slug}/thumbs/%2e%2e/%2e%2e/index.html`,
            `runs/${primary.slug}/thumbs/3.png`,
          ]
        ) {
          const r = await fetch(base + bad);
          await r.body?.cancel();
          assert.equal(r.status, 404, bad);
        }
        // A concept page shows thumbnails that load, each linking to the full image.
        const imgJ = [...Array(fx.c).keys()].find((j) =>
          topActivations(cols, j, isImage, true, 8).some((a) =>
            fx.set.source![fx.evalRows[a.row]] !== "img_0.png"
          )
        )!;
        await page.goto(`${base}runs/${primary.slug}/concepts/${imgJ}.html`);
        const img = page.locator("#top-images img.thumb").first();
        await img.waitFor();
        await page.waitForFunction(imagesComplete("#top-images img.thumb"));
        assert.equal(await page.evaluate(naturalWidth("#top-images img.thumb")), 256);
        assert.match(await img.getAttribute("src") ?? "", /\/thumbs\/\d+\.jpg$/);

        // ---- the map: hover names the concept, click opens it -----------------------------
        await page.goto(`${base}runs/${seed0.slug}/map.html`);
        await page.locator('#map-canvas[data-ready="1"]').waitFor();
        assert.equal(await page.locator("#map-layout").inputValue(), "umap");
        const st0 = fx.runs[0].stats;
        const target = [...st0.frequency.keys()].find((j) => st0.frequency[j] > 0)!;
        const at = await page.evaluate(`(() => {
          const c = document.getElementById("map-canvas");
          const [x, y] = c.atlasPoint(${target});
          const r = c.getBoundingClientRect();
          return [r.left + x * r.width / c.width, r.top + y * r.height / c.height];
        })()`) as [number, number];
        await page.mouse.move(at[0], at[1]);
        await page.locator("#map-tip:visible").waitFor();
        assert.equal(Number(await page.locator("#map-tip").getAttribute("data-concept")), target);
        assert.match(
          await page.locator("#map-tip").textContent() ?? "",
          new RegExp(`#${target} ${conceptWord(target)}`),
        );
        await page.mouse.click(at[0], at[1]);
        await page.waitForURL(`**/runs/${seed0.slug}/concepts/${target}.html`);

        // ---- the map at c = 16,384 (data injected before the page's script runs) --------------
        const big = 16384;
        await page.addInitScript(`(() => {
          let s = 7;
          const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
          const n = ${big}, pca = [], idx = [];
          for (let j = 0; j < 2 * n; j++) pca.push(r());
          for (let j = 0; j < n; j++) idx.push(j);
          (window.ATLAS_MAP = window.ATLAS_MAP || {})[${JSON.stringify(seed0.slug)}] = {
            n, pca, umap: null, color: idx.map(() => "#0072b2"), size: idx.map(() => 2),
            name: idx.map((j) => "#" + j + " big" + j), mod: idx.map(() => "0.5"),
            energy: idx.map(() => "1"), dead: idx.map(() => 0), page: idx.map(() => 1),
          };
        })()`);
        await page.goto(`${base}runs/${seed0.slug}/map.html`);
        await page.locator('#map-canvas[data-ready="1"]').waitFor();
        const probe = 12345;
        const at2 = await page.evaluate(`(() => {
          const c = document.getElementById("map-canvas");
          const [x, y] = c.atlasPoint(${probe});
          const r = c.getBoundingClientRect();
          return [r.left + x * r.width / c.width, r.top + y * r.height / c.height];
        })()`) as [number, number];
        await page.mouse.move(at2[0], at2[1]);
        await page.locator("#map-tip:visible").waitFor();
        const tipConcept = Number(await page.locator("#map-tip").getAttribute("data-concept"));
        // With 16k points some may overlap: the tip names a point drawn under the cursor.
        assert.match(
          await page.locator("#map-tip").textContent() ?? "",
          new RegExp(`^#${tipConcept} big${tipConcept} `),
        );

        // ---- no clipped SVG text or points on the figure pages ----------------------------
        for (
          const p of [
            "index.html",
            `runs/${primary.slug}/index.html`,
            `runs/${seed0.slug}/index.html`,
          ]
        ) {
          await page.goto(base + p);
          assert.deepEqual(await clippedInSvgs(page), [], p);
        }
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
  name: "explorer atlas: free-text search through a text tower (serve)",
  ignore: noChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmpModel = await Deno.makeTempDir({ prefix: "explorer_tower_" });
    const words = ["red", "green", "blue", "dog", "cat", "boat", "sky", "tree"];
    await writeTinyDualEncoder(tmpModel, { dim: 12, words });
    const { tmp, cache, fx } = await setup({ embedModel: tmpModel });
    const atlas = await loadAtlas(cache);
    const run = atlas.runs.find((r) => r.train.key === fx.runs[1].trainKey)!;
    const encoder = await DualEncoder.load(tmpModel);
    const calls: string[] = [];
    const ac = new AbortController();
    const srv = await serveExplorer({
      cache,
      port: 0,
      signal: ac.signal,
      query: async (embed, train, text) => {
        calls.push(`${embed.stage}:${text}`);
        const enc = await DualEncoder.load(String((embed.params.model as { path: string }).path));
        try {
          const x = await enc.embedTexts([text]);
          const dict = await readDictionary(join(train.dir, "dictionary.parquet"));
          const z = encodeTopK(x, 1, dict.d, dict.directions, dict.c, fx.k);
          const out = new Float32Array(dict.c);
          for (let e = z.rowPtr[0]; e < z.rowPtr[1]; e++) out[z.index[e]] = z.value[e];
          return out;
        } finally {
          await enc.release();
        }
      },
    });
    try {
      // The independent expectation: the concept of largest dot product with the embedding.
      const x = await encoder.embedTexts(["red dog"]);
      const dict = await readDictionary(join(run.train.dir, "dictionary.parquet"));
      let best = 0, bv = -Infinity;
      for (let j = 0; j < dict.c; j++) {
        let s = 0;
        for (let t = 0; t < dict.d; t++) s += dict.directions[j * dict.d + t] * x[t];
        if (s > bv) [best, bv] = [j, s];
      }
      await withBrowser(async (page, errors) => {
        await page.goto(`${srv.url}runs/${run.slug}/index.html`);
        assert.equal(await page.locator("#search-box").getAttribute("data-query"), "1");
        await page.fill("#search-box", "red dog");
        await page.locator('#search-results .search-hit[data-match="query"]').first().waitFor();
        const q = page.locator('#search-results .search-hit[data-match="query"]');
        assert.equal(Number(await q.first().getAttribute("data-concept")), best);
        assert.ok(await q.count() >= 1 && await q.count() <= fx.k);
        assert.deepEqual(errors, []);
      });
      assert.ok(calls.includes("embed:red dog"), calls.join());
    } finally {
      await encoder.release();
      ac.abort();
      await srv.finished;
      await Deno.remove(tmp, { recursive: true });
      await Deno.remove(tmpModel, { recursive: true });
    }
  },
});

Deno.test({
  name: "explorer atlas: the static report works over file:// (order, search, thumbnails, map)",
  ignore: noChromium,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { tmp, cache, fx } = await setup();
    const out = join(tmp, "report");
    await buildReport({ cache, out });
    const atlas = await loadAtlas(cache);
    const primary = atlas.runs.find((r) => r.train.key === fx.runs[1].trainKey)!;
    try {
      await withBrowser(async (page, errors) => {
        const base = `file://${out}/`;
        await page.goto(`${base}index.html`);
        assert.equal((await page.locator("#primary-run").textContent())?.trim(), primary.label);
        assert.deepEqual(await clippedInSvgs(page), []);
        // Search by label: the index is a script, so it loads over file://.
        const st = fx.runs[1].stats;
        const e = st.energy;
        const best = [...e.keys()].sort((a, b) => e[b] - e[a] || a - b)[0];
        const word = conceptWord(fx.matchB.indexOf(best));
        await page.fill("#search-box", word);
        await page.locator("#search-results .search-hit").first().waitFor();
        const first = page.locator("#search-results .search-hit").first();
        assert.equal(Number(await first.getAttribute("data-concept")), best);
        await first.locator("a").click();
        await page.waitForURL(`**/runs/${primary.slug}/concepts/${best}.html`);
        assert.equal((await page.locator("#label").textContent())?.trim(), word);
        assert.deepEqual(await clippedInSvgs(page), []);
        // Thumbnails written into the report load from the folder.
        const thumbs = page.locator("img.thumb");
        if (await thumbs.count() > 0) {
          await page.waitForFunction(imagesComplete("img.thumb"));
          assert.ok(Number(await page.evaluate(naturalWidth("img.thumb"))) > 0);
        }
        // The concept table's dead toggle and the map work from files too.
        await page.goto(`${base}runs/${primary.slug}/concepts.html`);
        const live = [...st.frequency].filter((f) => f > 0).length;
        assert.equal(await page.locator("#concept-table tbody tr:visible").count(), live);
        await page.check("#show-dead");
        assert.equal(await page.locator("#concept-table tbody tr:visible").count(), fx.c);
        await page.goto(`${base}runs/${primary.slug}/map.html`);
        await page.locator('#map-canvas[data-ready="1"]').waitFor();
        assert.deepEqual(errors, []);
      });
      // Every thumbnail the report's pages use was written.
      let thumbs = 0;
      for await (const f of Deno.readDir(join(out, "runs", primary.slug, "thumbs"))) {
        if (f.name.endsWith(".jpg")) thumbs++;
      }
      assert.ok(thumbs > 0);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
