/**
 * The explorer server and the static report on a fixture cache: traversal in every spelling,
 * unknown runs/concepts, symlinks and absolute paths out of the dataset folder give 404; the
 * pages show the values the pipeline wrote; the report is self-contained (relative links that
 * all resolve inside it).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeFixtureCache } from "../explorer/testing/fixture_cache.ts";
import { buildReport, loadAtlas, serveExplorer } from "../explorer/mod.ts";
import { safeSegments } from "../explorer/site.ts";
import { resolveImageFile } from "../explorer/media.ts";
import { UserError } from "../pipeline/errors.ts";

// A 1×1 PNG.
const PNG = Uint8Array.from(
  atob(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  ),
  (ch) => ch.charCodeAt(0),
);

async function setup() {
  const tmp = await Deno.makeTempDir({ prefix: "explorer_server_" });
  const ds = join(tmp, "ds"), cache = join(tmp, "cache"), outside = join(tmp, "outside");
  for (const p of [ds, cache, outside]) await Deno.mkdir(p);
  const fx = await makeFixtureCache(cache, { datasetFolder: ds });
  // Images: img_0.png is a real file inside; img_2.png a symlink to a file outside; the source
  // of the image of pair 4 becomes an absolute path outside the dataset folder.
  await Deno.writeFile(join(ds, "img_0.png"), PNG);
  await Deno.writeFile(join(outside, "secret.png"), PNG);
  await Deno.symlink(join(outside, "secret.png"), join(ds, "img_2.png"));
  return { tmp, ds, cache, outside, fx };
}

Deno.test("explorer safeSegments refuses traversal, absolute and odd paths", () => {
  assert.deepEqual(safeSegments("/"), ["index.html"]);
  assert.deepEqual(safeSegments("/runs/a/"), ["runs", "a", "index.html"]);
  for (
    const bad of [
      "/../x",
      "/runs/../x",
      "/a//b",
      "/.hidden",
      "/a/./b",
      "x",
      "/a\\b",
      "/a\0b",
      "/%2e%2e",
    ]
  ) assert.equal(safeSegments(bad), null, bad);
});

Deno.test("explorer resolveImageFile: inside ok, symlink out and absolute out refused", async () => {
  const { tmp, ds, outside } = await setup();
  try {
    assert.equal(
      await resolveImageFile("img_0.png", [ds]),
      await Deno.realPath(join(ds, "img_0.png")),
    );
    assert.equal(await resolveImageFile("img_2.png", [ds]), null); // symlink out
    assert.equal(await resolveImageFile(join(outside, "secret.png"), [ds]), null);
    assert.equal(await resolveImageFile("../outside/secret.png", [ds]), null);
    assert.equal(await resolveImageFile("https://images.cocodataset.org/x.jpg", [ds]), null);
    assert.equal(await resolveImageFile("img_1.png", [ds]), null); // missing
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("explorer server: 404 for traversal and unknowns, values as written", async () => {
  const { tmp, cache, fx } = await setup();
  const ac = new AbortController();
  const logs: string[] = [];
  const srv = await serveExplorer({ cache, port: 0, signal: ac.signal, log: (l) => logs.push(l) });
  try {
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const atlas = await loadAtlas(cache);
    assert.equal(atlas.runs.length, 2);
    const run = atlas.runs.find((r) => r.train.key === fx.runs[0].trainKey)!;
    const get = async (p: string) => {
      const res = await fetch(srv.url + p);
      return { status: res.status, text: await res.text(), type: res.headers.get("content-type") };
    };
    // Raw request lines (fetch normalises `..`): send them over a socket as written.
    const raw = async (target: string) => {
      const port = Number(new URL(srv.url).port);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(
        new TextEncoder().encode(
          `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        ),
      );
      let out = "";
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        out += new TextDecoder().decode(buf.subarray(0, n));
      }
      conn.close();
      return Number(out.split(" ")[1]);
    };
    const key = run.train.key;
    for (
      const p of [
        "../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        "runs/nope/index.html",
        `runs/${run.slug}/concepts/${fx.c}.html`,
        `runs/${run.slug}/concepts/-1.html`,
        `runs/${run.slug}/concepts/01.html`,
        `runs/${run.slug}/media/1.png`, // a caption row
        `runs/${run.slug}/media/6.png`, // image of pair 4: no such file
        `files/train/${key}/..%2fmanifest.json`,
        `files/train/${key}/nope.parquet`,
        `files/encode/${key}/dictionary.parquet`, // wrong stage for the key
        "files/train/0000/dictionary.parquet",
        "%2fetc%2fpasswd",
        "etc/passwd",
        "last_run.json",
      ]
    ) {
      const r = await get(p);
      assert.equal(r.status, 404, `${p} → ${r.status}`);
    }
    for (
      const t of [
        "/../../etc/passwd",
        "/runs/../../../etc/passwd",
        "/runs/%2e%2e/%2e%2e/etc/hostname",
        `/runs/${run.slug}/../../last_run.json`,
      ]
    ) {
      assert.equal(await raw(t), 404, t);
    }
    // Media: eval image rows in table order are pairs 0, 2, 4, ... (even pairs are eval).
    const rd = fx.evalRows.map((r) => fx.set.ids[r]);
    const row0 = rd.indexOf("img0"), row2 = rd.indexOf("img2");
    const ok = await fetch(`${srv.url}runs/${run.slug}/media/${row0}.png`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "image/png");
    assert.equal((await ok.arrayBuffer()).byteLength, PNG.length);
    assert.equal((await get(`runs/${run.slug}/media/${row2}.png`)).status, 404); // symlink out
    // Artifact files listed by a manifest are served.
    const dict = await fetch(`${srv.url}files/train/${key}/dictionary.parquet`);
    assert.equal(dict.status, 200);
    assert.ok((await dict.arrayBuffer()).byteLength > 100);
    // Pages: every view answers 200 and shows the written values.
    for (
      const v of [
        "",
        "index.html",
        `runs/${run.slug}/index.html`,
        `runs/${run.slug}/concepts.html`,
        `runs/${run.slug}/map.html`,
        `runs/${run.slug}/bridges.html`,
        `runs/${run.slug}/concepts/0.html`,
        "figures/pareto.svg",
        `runs/${run.slug}/figures/map.svg`,
        "assets/app.js",
      ]
    ) {
      const r = await get(v);
      assert.equal(r.status, 200, v);
    }
    const json = JSON.parse((await get(`runs/${run.slug}/data/concepts.json`)).text);
    const st = fx.runs[0].stats;
    for (let j = 0; j < fx.c; j++) {
      const row = json.rows[j];
      assert.equal(row.concept, j);
      for (const k of ["energy", "frequency", "modality_score"]) {
        const want = st[k][j];
        if (Number.isFinite(want)) assert.ok(Math.abs(row[k] - want) < 1e-12, `${k}[${j}]`);
        else assert.equal(row[k], null);
      }
      assert.ok(Math.abs(row.stability - fx.matchCosine[j]) < 1e-12, `stability[${j}]`);
    }
    assert.ok("projection_mean_difference" in json.rows[0] && "auroc" in json.rows[0]);
    assert.match(
      json.provenance,
      /dataset .*stages train [0-9a-f]{12}.*seeds .*train=0.* code fixture-1/,
    );
    // The concept page of concept j lists run 1's matched concept with the written cosine.
    const j = 3;
    const page = (await get(`runs/${run.slug}/concepts/${j}.html`)).text;
    assert.ok(page.includes(`data-concept="${fx.matchB[j]}"`));
    assert.ok(page.includes('class="match-cosine"'));
    assert.ok(page.includes("Provenance"));
    // Caption text is escaped, never markup.
    const capPage = (await get(`runs/${run.slug}/concepts/${fx.c - 1}.html`)).text;
    assert.ok(capPage.includes("&lt;b&gt;"), "caption shown as text");
    assert.ok(!/<b>\d/.test(capPage), "caption markup escaped");
    // Overview: claims table values and pareto provenance.
    const ov = (await get("index.html")).text;
    assert.ok(ov.includes("unimodal_fraction") && ov.includes("0.42"));
    assert.ok(ov.includes('id="pareto-figure"'));
    assert.ok(ov.includes("fixture-1"));
    // Response headers forbid loading anything from elsewhere.
    const h = await fetch(srv.url);
    await h.body?.cancel();
    assert.match(h.headers.get("content-security-policy") ?? "", /default-src 'self'/);
  } finally {
    ac.abort();
    await srv.finished;
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("explorer serveExplorer refuses a non-loopback host and an empty cache", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "explorer_server_" });
  try {
    await assert.rejects(serveExplorer({ cache: tmp, port: 0, host: "0.0.0.0" }), UserError);
    await assert.rejects(serveExplorer({ cache: tmp, port: 0 }), UserError);
    await assert.rejects(buildReport({ cache: tmp, out: join(tmp, "r") }), UserError);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("explorer buildReport writes a self-contained static folder", async () => {
  const { tmp, cache, fx } = await setup();
  try {
    const out = join(tmp, "report");
    const r = await buildReport({ cache, out });
    assert.ok(r.files > 20);
    const atlas = await loadAtlas(cache);
    const run = atlas.runs[0];
    const files: string[] = [];
    const walk = async (dir: string, rel: string) => {
      for await (const e of Deno.readDir(dir)) {
        const p = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory) await walk(join(dir, e.name), p);
        else files.push(p);
      }
    };
    await walk(out, "");
    const set = new Set(files);
    for (
      const f of [
        "index.html",
        "assets/app.js",
        "figures/pareto.svg",
        `runs/${run.slug}/concepts.html`,
        `runs/${run.slug}/data/concepts.csv`,
        `runs/${run.slug}/figures/modality_histogram.svg`,
      ]
    ) {
      assert.ok(set.has(f), f);
    }
    // conceptPages: 6 in the fixture config → 6 concept pages per run, highest energy first.
    const pages = files.filter((f) => f.startsWith(`runs/${run.slug}/concepts/`));
    assert.equal(pages.length, 6);
    const energy = fx.runs.find((x) => x.trainKey === run.train.key)!.stats.energy;
    const best = [...energy.keys()].sort((a, b) => energy[b] - energy[a] || a - b)[0];
    assert.ok(set.has(`runs/${run.slug}/concepts/${best}.html`));
    // The local image shown is copied; every relative link resolves inside the folder.
    assert.ok(files.some((f) => /\/media\/\d+\.png$/.test(f)));
    for (const f of files.filter((f) => f.endsWith(".html"))) {
      const html = await Deno.readTextFile(join(out, f));
      for (const m of html.matchAll(/(?:href|src)="([^"#]*)(#[^"]*)?"/g)) {
        const url = m[1];
        if (url === "" || /^https?:\/\//.test(url)) continue;
        assert.ok(!url.startsWith("/"), `${f}: absolute link ${url}`);
        const target = new URL(url, `file:///r/${f}`).pathname.slice(3);
        assert.ok(set.has(target), `${f}: broken link ${url}`);
      }
    }
    // A second build replaces the first; a foreign non-empty folder is refused.
    await buildReport({ cache, out });
    await assert.rejects(buildReport({ cache, out: join(tmp, "ds") }), UserError);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
