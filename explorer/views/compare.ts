/**
 * The comparison page (`compare.html`, method.md §9): every embedding space of the study side by
 * side, from the `compare` stage's artifacts — the Pareto panels (shared axes), the claims and
 * truth checks per space (each value beside its null, with its spread over the seeds), stability by
 * frequency decile, unimodal fractions and bridge statistics, and links into each space's runs.
 */
import { join } from "node:path";
import { readTable } from "../../data/table_io.ts";
import { linePlot } from "../plot/mod.ts";
import type { Instance } from "../atlas.ts";
import { esc, figure, fmt, page, type Provenance, provenanceText, table } from "../html.ts";
import { atlasSpaces, compareInstance } from "../spaces.ts";
import type { SiteContext } from "./common.ts";

/** A spread as the compare stage writes it (summary.json). */
interface SpreadJson {
  n: number;
  mean: number | null;
  sd: number | null;
  min: number | null;
  max: number | null;
}

/** The part of compare's summary.json this page reads. */
interface CompareSummary {
  metric: string;
  spaces: {
    space: string;
    d: number;
    c: number;
    rows: number;
    line: string;
    claims: {
      claim: string;
      value: number | null;
      null_value: number | null;
      holds: boolean;
      seeds: number;
      holdsCount: number;
      spreadText: string;
      nullSpread: SpreadJson;
    }[];
    validation: { check: string; value: number | null; threshold: number | null; holds: boolean }[];
    unimodal_fraction: SpreadJson;
    unimodal_energy_weighted: SpreadJson;
    bridge_top_value: SpreadJson;
    bridge_unimodal_pairs: SpreadJson;
  }[];
}

const num = (v: number | null | undefined) => (v === null || v === undefined ? NaN : v);

/** A spread as text: one value, min–max (few seeds) or mean ± sd. */
function spreadText(s: SpreadJson | undefined, fewSeeds = 3): string {
  if (!s || s.n === 0) return "–";
  if (s.n === 1) return fmt(num(s.mean), 3);
  if (s.n <= fewSeeds) return `${fmt(num(s.min), 3)}–${fmt(num(s.max), 3)}`;
  return `${fmt(num(s.mean), 3)} ± ${fmt(num(s.sd), 3)}`;
}

function provenance(ctx: SiteContext, compare: Instance): Provenance {
  return { stages: [compare], codeVersion: ctx.atlas.codeVersion };
}

/** The compare stage's Pareto panels (its own SVG), or null without a comparison. */
export async function compareParetoSvg(ctx: SiteContext): Promise<string | null> {
  const compare = compareInstance(ctx.atlas);
  if (!compare || !compare.files.includes("pareto.svg")) return null;
  return await Deno.readTextFile(join(compare.dir, "pareto.svg"));
}

/** Stability by frequency decile of every space (seed pairs: the mean over pairs). */
async function stabilityByDecileSvg(compare: Instance, prov: Provenance): Promise<string | null> {
  if (!compare.files.includes("stability.parquet")) return null;
  const t = await readTable(join(compare.dir, "stability.parquet"));
  const space = t.space as string[], scope = t.scope as string[];
  const decile = t.decile as Int32Array, mean = t.cosine_mean as Float64Array;
  const names = [...new Set(space)];
  const series = names.flatMap((s) => {
    const rows = space.flatMap((x, i) => (x === s && scope[i] === "seeds" ? [i] : []));
    return rows.length
      ? [{ label: s, x: rows.map((i) => decile[i]), y: rows.map((i) => mean[i]) }]
      : [];
  });
  if (series.length === 0) return null;
  return linePlot({
    series,
    title: "Stability across seeds by frequency decile, per space",
    xLabel: "frequency decile (1 = rarest concepts)",
    yLabel: "mean cosine to the matched concept",
    caption: provenanceText(prov),
    id: "compare-stability",
  });
}

/** The comparison page. */
export async function comparePage(ctx: SiteContext): Promise<string> {
  const atlas = ctx.atlas;
  const path = "compare.html";
  const compare = compareInstance(atlas);
  if (!compare) {
    return page({
      atlas,
      path,
      title: "Embedding spaces compared",
      body:
        `<p class="empty">This study has one embedding space. Declare several (several <code>embed.models</code>, or <code>dataset.spaces</code>) to compare them.</p>`,
    });
  }
  const summary = JSON.parse(
    await Deno.readTextFile(join(compare.dir, "summary.json")),
  ) as CompareSummary;
  const prov = provenance(ctx, compare);
  const spaces = atlasSpaces(atlas);
  const parts: string[] = [];

  // One line per space: its verdicts and links into its runs.
  parts.push(`<section id="spaces"><h2>Spaces</h2>${
    table(
      ["space", "d", "c", "rows", "verdict", "runs"],
      summary.spaces.map((s) => {
        const sp = spaces.find((x) => x.name === s.space);
        const links = sp
          ? sp.runs.map((r) =>
            `<a class="run-link" data-space="${esc(s.space)}" href="runs/${r.slug}/index.html">${
              esc(r.label.replace(`${s.space} · `, ""))
            }</a>`
          ).join(", ")
          : "";
        return [
          `<b>${esc(s.space)}</b>`,
          esc(s.d),
          esc(s.c),
          esc(s.rows),
          esc(s.line.replace(/^[^:]*: /, "")),
          links,
        ];
      }),
      'class="spaces"',
    )
  }</section>`);

  const pareto = await compareParetoSvg(ctx);
  if (pareto) {
    parts.push(
      `<section id="pareto"><h2>Pareto fronts (one panel per space, shared axes)</h2>${
        figure(pareto, prov, "compare-pareto", `files/compare/${compare.key}/pareto.svg`)
      }</section>`,
    );
  }

  // Claims and truth checks: a row per claim, a column per space.
  const claimNames = [
    ...new Set(summary.spaces.flatMap((s) => s.claims.map((c) => c.claim))),
  ];
  const claimRows = claimNames.map((claim) => [
    `<code>${esc(claim)}</code>`,
    ...summary.spaces.map((s) => {
      const c = s.claims.find((x) => x.claim === claim);
      if (!c) return "–";
      return `<span class="${c.holds ? "holds" : "fails"}" data-space="${
        esc(s.space)
      }" data-claim="${esc(claim)}" data-value="${num(c.value)}">${c.holds ? "✓" : "✗"} ${
        fmt(num(c.value), 3)
      }</span> <small>(null ${fmt(num(c.null_value), 3)}; seeds ${
        esc(c.spreadText)
      }, holds on ${c.holdsCount}/${c.seeds})</small>`;
    }),
  ]);
  parts.push(
    `<section id="claims"><h2>Claims per space (learned vs null)</h2>${
      table(["claim", ...summary.spaces.map((s) => esc(s.space))], claimRows, 'class="claims"')
    }</section>`,
  );
  const checkNames = [
    ...new Set(summary.spaces.flatMap((s) => s.validation.map((c) => c.check))),
  ];
  if (checkNames.length) {
    parts.push(`<section id="checks"><h2>Checks against planted truth</h2>${
      table(
        ["check", ...summary.spaces.map((s) => esc(s.space))],
        checkNames.map((check) => [
          `<code>${esc(check)}</code>`,
          ...summary.spaces.map((s) => {
            const v = s.validation.find((x) => x.check === check);
            return v
              ? `<span class="${v.holds ? "holds" : "fails"}">${v.holds ? "pass" : "FAIL"} ${
                fmt(num(v.value), 3)
              }</span> <small>(threshold ${fmt(num(v.threshold), 3)})</small>`
              : "–";
          }),
        ]),
        'class="checks"',
      )
    }</section>`);
  }

  parts.push(
    `<section id="figures-per-space"><h2>Unimodal fraction and bridges per space</h2>${
      table(
        [
          "space",
          "unimodal fraction",
          "energy-weighted",
          "top bridge value",
          "unimodal bridge pairs",
        ],
        summary.spaces.map((s) => [
          esc(s.space),
          esc(spreadText(s.unimodal_fraction)),
          esc(spreadText(s.unimodal_energy_weighted)),
          esc(spreadText(s.bridge_top_value)),
          esc(spreadText(s.bridge_unimodal_pairs)),
        ]),
        'class="per-space"',
      )
    }<p class="note">Spread over the seeds: one value, min–max with up to three seeds, else mean ± sd. Nothing is compared concept by concept across spaces (their dictionaries live in different spaces).</p></section>`,
  );

  const stab = await stabilityByDecileSvg(compare, prov);
  if (stab) {
    parts.push(
      `<section id="stability"><h2>Stability by frequency decile</h2>${
        figure(stab, prov, "compare-stability")
      }</section>`,
    );
  }
  return page({ atlas, path, title: "Embedding spaces compared", body: parts.join("\n") });
}
