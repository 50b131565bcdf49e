/** analysis/compare.ts and the comparison's plot pieces against hand-computed values. */
import assert from "node:assert/strict";
import {
  binsOverCurves,
  claimsOverSeeds,
  formatSpread,
  paretoFrontMask,
  spreadOf,
} from "../analysis/compare.ts";
import { linePlot, panelGrid } from "../explorer/plot/mod.ts";
import { spaceOfId } from "../tasks/compare.ts";

Deno.test("compare: spread over seeds (float64, sample sd, non-finite left out)", () => {
  const s = spreadOf([0.5, 0.7, NaN, 0.6, 0.8]);
  assert.equal(s.n, 4);
  assert.ok(Math.abs(s.mean - 0.65) < 1e-15);
  assert.ok(Math.abs(s.sd - Math.sqrt(0.05 / 3)) < 1e-15);
  assert.deepEqual([s.min, s.max], [0.5, 0.8]);
  assert.equal(spreadOf([1]).sd, NaN);
  assert.equal(spreadOf([]).n, 0);
  assert.equal(formatSpread(spreadOf([0.5, 0.75])), "0.500–0.750", "few seeds: min–max");
  assert.equal(formatSpread(s), "0.650 ± 0.129", "more seeds: mean ± sd");
  assert.equal(formatSpread(spreadOf([0.25])), "0.250");
});

Deno.test("compare: claims folded over seeds keep the first seed's value", () => {
  const rows = claimsOverSeeds([
    [{ claim: "a", value: 0.4, null_value: 0.1, holds: true }, {
      claim: "b",
      value: 1,
      null_value: 2,
      holds: false,
    }],
    [{ claim: "a", value: 0.6, null_value: 0.3, holds: false }],
    [{ claim: "a", value: NaN, null_value: 0.2, holds: false }, {
      claim: "c",
      value: 3,
      null_value: 0,
      holds: true,
    }],
  ]);
  assert.deepEqual(rows.map((r) => r.claim), ["a", "b", "c"]);
  assert.equal(rows[0].value, 0.4);
  assert.equal(rows[0].holds, true);
  assert.equal(rows[0].seeds, 3);
  assert.equal(rows[0].spread.n, 2, "NaN is not a measurement");
  assert.ok(Math.abs(rows[0].spread.mean - 0.5) < 1e-15);
  assert.ok(Math.abs(rows[0].nullSpread.mean - 0.2) < 1e-15);
  assert.equal(rows[0].holdsCount, 1);
  assert.equal(rows[2].value, 3, "a claim only a later seed measured");
});

Deno.test("compare: Pareto front mask and per-bin curves", () => {
  // (l0, r2): (4,.5) (8,.7) (8,.6) dominated, (16,.69) dominated by (8,.7), (32,.9), (NaN)
  assert.deepEqual(
    paretoFrontMask([4, 8, 8, 16, 32, 1], [0.5, 0.7, 0.6, 0.69, 0.9, NaN]),
    [true, true, false, false, true, false],
  );
  const bins = binsOverCurves([[0.1, 0.5], [0.3, 0.7]]);
  assert.deepEqual(bins.map((b) => b.mean.toFixed(12)), ["0.200000000000", "0.600000000000"]);
  assert.equal(spaceOfId("train[space=clip,method=topk,k=8]"), "clip");
  assert.equal(spaceOfId("embed[model=siglip]"), "siglip");
  assert.equal(spaceOfId("claims"), null);
});

Deno.test("compare: panels share the axes they are given", () => {
  const a = linePlot({
    series: [{ label: "m", x: [4, 8], y: [0.5, 0.6] }],
    xDomain: [1, 100],
    yDomain: [0, 1],
    id: "p0",
  });
  const b = linePlot({
    series: [{ label: "m", x: [10, 20], y: [0.2, 0.3] }],
    xDomain: [1, 100],
    yDomain: [0, 1],
    id: "p1",
  });
  const tickText = (svg: string) =>
    [...svg.matchAll(/<text x="[0-9.]+" y="[0-9.]+" text-anchor="(?:end|middle)"[^>]*>([^<]*)</g)]
      .map((m) => m[1]).join(",");
  assert.equal(tickText(a), tickText(b), "same ticks on both panels");
  const c = linePlot({ series: [{ label: "m", x: [10, 20], y: [0.2, 0.3] }], id: "p2" });
  assert.notEqual(tickText(a), tickText(c), "without a domain the data decide");
  const grid = panelGrid({ panels: [a, b], title: "t", caption: "cap" });
  assert.equal(grid.match(/data-panel="/g)?.length, 2);
  assert.match(grid, /^<svg[^>]*width="1280"/);
});
