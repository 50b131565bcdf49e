import assert from "node:assert/strict";
import {
  barChart,
  escapeXml,
  formatTick,
  histogram,
  linePlot,
  logTicks,
  niceNumber,
  niceTicks,
  PALETTE,
  scatterPlot,
} from "../explorer/plot/mod.ts";

/**
 * A tiny XML well-formedness check: one root element, balanced and properly nested tags,
 * quoted unique attributes, only the five predefined or numeric entities, no raw `<` or `&`.
 * Returns the element names in document order.
 */
function checkXml(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const entity = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;
  const checkText = (t: string, where: number) => {
    for (let i = 0; i < t.length; i++) {
      if (t[i] === "<") throw new Error(`raw < at ${where + i}`);
      if (t[i] === "&" && !entity.test(t.slice(i))) throw new Error(`bad entity at ${where + i}`);
    }
  };
  let i = 0;
  let roots = 0;
  const s = xml.replace(/^<\?xml[^?]*\?>/, "");
  while (i < s.length) {
    const lt = s.indexOf("<", i);
    if (lt < 0) {
      checkText(s.slice(i), i);
      if (s.slice(i).trim() !== "") throw new Error("text after the root element");
      break;
    }
    const text = s.slice(i, lt);
    checkText(text, i);
    if (stack.length === 0 && text.trim() !== "") throw new Error(`text outside the root at ${i}`);
    const gt = s.indexOf(">", lt);
    if (gt < 0) throw new Error(`unclosed tag at ${lt}`);
    const tag = s.slice(lt + 1, gt);
    if (tag.startsWith("/")) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}> at ${lt}`);
    } else {
      const selfClose = tag.endsWith("/");
      const body = selfClose ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*="[^"<]*")*)\s*$/.exec(body);
      if (!m) throw new Error(`malformed tag <${tag.slice(0, 60)}> at ${lt}`);
      const attrs = [...m[2].matchAll(/([A-Za-z_][\w:.-]*)="([^"]*)"/g)];
      const seen = new Set<string>();
      for (const a of attrs) {
        if (seen.has(a[1])) throw new Error(`duplicate attribute ${a[1]} in <${m[1]}>`);
        seen.add(a[1]);
        checkText(a[2], lt);
      }
      if (stack.length === 0) roots++;
      names.push(m[1]);
      if (!selfClose) stack.push(m[1]);
    }
    i = gt + 1;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join(">, <")}>`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
  return names;
}

/** Attribute values of all elements with class `cls`. */
function attrs(svg: string, cls: string, attr: string): string[] {
  const out: string[] = [];
  for (const m of svg.matchAll(/<[a-z]+ class="([^"]*)"([^>]*)>/g)) {
    if (m[1] !== cls) continue;
    const a = new RegExp(`\\s${attr}="([^"]*)"`).exec(m[2]);
    if (a) out.push(a[1]);
  }
  return out;
}

Deno.test("ticks: nice steps cover the range, exact decimals", () => {
  assert.equal(niceNumber(0.23, true), 0.2);
  assert.equal(niceNumber(0.23, false), 0.5);
  assert.equal(niceNumber(7.5, true), 10);
  assert.equal(niceNumber(3, false), 5);
  assert.deepEqual(niceTicks(0, 1, 5).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 100, 5).ticks, [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(0.1, 0.3, 3).ticks, [0.1, 0.2, 0.3]);
  assert.deepEqual(niceTicks(-1, 1, 5).ticks, [-1, -0.5, 0, 0.5, 1]);
  // Randomised properties over many ranges and scales.
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let t = 0; t < 2000; t++) {
    const scale = 10 ** Math.floor(rand() * 16 - 8);
    const a = (rand() - 0.5) * 100 * scale;
    const b = a + rand() * 50 * scale;
    const count = 2 + Math.floor(rand() * 9);
    const ts = niceTicks(a, b, count);
    assert.ok(ts.min <= a + 1e-12 * Math.abs(a) && ts.max >= b - 1e-12 * Math.abs(b), `${a}..${b}`);
    const mant = ts.step / 10 ** Math.floor(Math.log10(ts.step) + 1e-9);
    assert.ok([1, 2, 5].some((m) => Math.abs(mant - m) < 1e-9), `step ${ts.step}`);
    assert.ok(ts.ticks.length >= 2 && ts.ticks.length <= 2 * count + 2, `${ts.ticks.length} ticks`);
    for (let i = 1; i < ts.ticks.length; i++) {
      assert.ok(Math.abs(ts.ticks[i] - ts.ticks[i - 1] - ts.step) <= 1e-9 * ts.step);
      // Every tick is an exact decimal: printing with the step's decimals loses nothing.
      assert.equal(
        Number(formatTick(ts.ticks[i], ts.step)),
        ts.ticks[i],
        `${ts.ticks[i]} / ${ts.step}`,
      );
    }
  }
  // Degenerate and invalid ranges still give a usable axis.
  assert.deepEqual(niceTicks(5, 5, 5).ticks, [4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]);
  assert.ok(niceTicks(5, 5).min < 5 && niceTicks(5, 5).max > 5);
  assert.deepEqual(niceTicks(0, 0, 3).ticks, [-1, 0, 1]);
  assert.deepEqual(niceTicks(NaN, Infinity, 5).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

Deno.test("ticks: log axes and labels", () => {
  assert.deepEqual(logTicks(0.002, 80).ticks, [0.001, 0.01, 0.1, 1, 10, 100]);
  assert.deepEqual(logTicks(1, 100).ticks, [1, 2, 5, 10, 20, 50, 100]);
  const wide = logTicks(1e-12, 1e12).ticks;
  assert.ok(wide.length <= 13 && wide[0] === 1e-12, wide.join(","));
  assert.equal(formatTick(0.2, 0.2), "0.2");
  assert.equal(formatTick(1500, 500), "1500");
  assert.equal(formatTick(-0.05, 0.05), "-0.05");
  assert.equal(formatTick(0, 0.1), "0");
  assert.equal(formatTick(2e-6, 1e-6), "2e-6");
  assert.equal(formatTick(2.5e7, 5e6), "2.5e7");
  assert.equal(formatTick(1e-5), "1e-5");
  assert.equal(formatTick(100), "100");
});

Deno.test("plot: escapeXml", () => {
  assert.equal(escapeXml(`a<b & "c" 'd'>`), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  assert.equal(escapeXml("bell\u0007ok"), "bellok");
  assert.equal(PALETTE[0], "#0072B2");
});

Deno.test("linePlot: well-formed, contains every point, log x, escaped text, provenance", () => {
  const svg = linePlot({
    title: 'Pareto <R² vs L0> & "friends"',
    xLabel: "L0 (codes per row)",
    yLabel: "R²",
    caption: "run a1b2 · config <default> · seed 0",
    logX: true,
    series: [
      { label: "TopK", x: [8, 16, 32, 64], y: [0.61, 0.7, 0.78, 0.84] },
      { label: "ReLU", x: [5, 12, 0, 50, 90], y: [0.5, 0.66, 0.9, NaN, 0.8], dashed: true },
    ],
  });
  const names = checkXml(svg);
  assert.equal(names[0], "svg");
  assert.ok(names.includes("desc") && names.includes("title"));
  assert.match(svg, /<desc id="plot-desc">run a1b2 · config &lt;default&gt; · seed 0<\/desc>/);
  assert.ok(svg.includes("Pareto &lt;R² vs L0&gt; &amp; &quot;friends&quot;"));
  const xs = attrs(svg, "point", "data-x").map(Number);
  const ys = attrs(svg, "point", "data-y").map(Number);
  // x = 0 (log axis) and y = NaN are not drawable; the other 7 points are there, exactly.
  assert.deepEqual(xs, [8, 16, 32, 64, 5, 12, 90]);
  assert.deepEqual(ys, [0.61, 0.7, 0.78, 0.84, 0.5, 0.66, 0.8]);
  // The broken ReLU line has two pieces (a gap at the undrawable points).
  const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
  assert.equal(paths.length, 2);
  assert.equal((paths[1].match(/M/g) ?? []).length, 2);
  // Log axis ticks are decades; both legend labels are present.
  assert.ok(svg.includes(">10</text>") && svg.includes(">100</text>"));
  assert.ok(svg.includes(">TopK</text>") && svg.includes(">ReLU</text>"));
  // Markers increase in x on screen in the same order as the data (monotone mapping).
  const cx = attrs(svg, "point", "cx").map(Number).slice(0, 4);
  assert.deepEqual([...cx].sort((a, b) => a - b), cx);
  assert.throws(() => linePlot({ series: [{ label: "bad", x: [1, 2], y: [1] }] }), /2 x and 1 y/);
});

Deno.test("scatterPlot: sizes, colours, tooltips, links, rules", () => {
  const svg = scatterPlot({
    title: "Stability vs frequency",
    xLabel: "frequency",
    yLabel: "best cosine",
    id: "stab",
    points: [
      {
        x: 0.001,
        y: 0.95,
        size: 5,
        color: 1,
        label: "concept 7 <dog>",
        href: "#/concept/7?a=1&b=2",
      },
      { x: 0.02, y: 0.4, color: "#123456" },
      { x: Infinity, y: 0.1 },
    ],
    logX: true,
    rules: [{ y: 0.7, label: "threshold" }],
    legend: [{ label: "image-only", color: 1 }],
  });
  checkXml(svg);
  assert.deepEqual(attrs(svg, "point", "data-x").map(Number), [0.001, 0.02]);
  assert.deepEqual(attrs(svg, "point", "r"), ["5", "3.5"]);
  assert.deepEqual(attrs(svg, "point", "fill"), [PALETTE[1], "#123456"]);
  assert.ok(svg.includes("<title>concept 7 &lt;dog&gt;</title>"));
  assert.ok(svg.includes('href="#/concept/7?a=1&amp;b=2"'));
  assert.equal(attrs(svg, "rule", "y1").length, 1);
  assert.ok(svg.includes('id="stab-title"') && svg.includes("url(#stab-clip)"));
  assert.ok(svg.includes(">image-only</text>"));
});

Deno.test("histogram: bars match bins and counts; overlaid series", () => {
  const edges = [-1, -0.5, 0, 0.5, 1];
  const svg = histogram({
    edges,
    counts: [3, 0, 12, 5],
    xLabel: "modality score",
    yLabel: "concepts",
  });
  checkXml(svg);
  assert.deepEqual(attrs(svg, "bar", "data-count").map(Number), [3, 0, 12, 5]);
  assert.deepEqual(attrs(svg, "bar", "data-lo").map(Number), [-1, -0.5, 0, 0.5]);
  const h = attrs(svg, "bar", "height").map(Number);
  // Heights are proportional to counts (within pixel rounding).
  assert.ok(Math.abs(h[2] / h[0] - 4) < 0.01, `${h}`);
  assert.equal(h[1], 0);
  const two = histogram({
    edges,
    series: [{ label: "SAE", counts: [1, 2, 3, 4] }, { label: "PCA", counts: [4, 3, 2, 1] }],
    logY: true,
  });
  checkXml(two);
  assert.equal(attrs(two, "bar", "data-count").length, 8);
  assert.ok(two.includes(">SAE</text>") && two.includes(">PCA</text>"));
  assert.throws(() => histogram({ edges: [0, 1, 1], counts: [1, 2] }), /edges must increase/);
  assert.throws(() => histogram({ edges: [0, 1, 2], counts: [1] }), /1 counts for 2 bins/);
});

Deno.test("barChart: grouped bars with negative values and long category names", () => {
  const svg = barChart({
    title: "Claims",
    categories: ["bridge mass", "stability (Hungarian matching across seeds)", "gap"],
    series: [
      { label: "value", values: [0.4, 0.8, -0.2] },
      { label: "null", values: [0.1, NaN, 0.05] },
    ],
    caption: "Provenance: claims.json of run 3f2a",
  });
  checkXml(svg);
  assert.deepEqual(attrs(svg, "bar", "data-value").map(Number), [0.4, 0.1, 0.8, -0.2, 0.05]);
  assert.equal(attrs(svg, "zero", "y1").length, 1);
  assert.ok(svg.includes("<title>stability (Hungarian matching across seeds)</title>"));
  assert.ok(svg.includes(">Provenance: claims.json of run 3f2a</text>"));
  // The negative bar hangs below the zero line: its top is the zero line.
  const zeroY = Number(attrs(svg, "zero", "y1")[0]);
  const ys = attrs(svg, "bar", "y").map(Number);
  assert.ok(Math.abs(ys[3] - zeroY) < 0.02);
});

Deno.test("plots: empty input still renders a well-formed frame", () => {
  for (
    const svg of [
      linePlot({ series: [] }),
      scatterPlot({ points: [] }),
      histogram({ edges: [0, 1] }),
      barChart({ categories: [], series: [] }),
    ]
  ) {
    checkXml(svg);
    assert.ok(svg.includes("no data"));
  }
});

Deno.test("plot checker: rejects malformed XML (the check can fail)", () => {
  assert.throws(() => checkXml("<svg><g></svg>"), /closes/);
  assert.throws(() => checkXml('<svg><text a="1">a < b</text></svg>'), /raw <|malformed/);
  assert.throws(() => checkXml('<svg><text a="1">a <</text></svg>'), /raw <|malformed/);
  assert.throws(() => checkXml("<svg>a & b</svg>"), /bad entity/);
  assert.throws(() => checkXml('<svg x="1" x="2"/>'), /duplicate/);
  assert.throws(() => checkXml("<svg/><svg/>"), /2 root/);
});
