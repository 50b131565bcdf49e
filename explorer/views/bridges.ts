/**
 * The bridge view (`runs/<slug>/bridges.html`): the bridge stage's ranked image→text concept
 * pairs, each with the (image, caption) pairs where both fire most, from both sides.
 */
import type { Run } from "../atlas.ts";
import { esc, fmt, page, provenanceHtml, rootOf } from "../html.ts";
import { loadRunData } from "../run_data.ts";
import { pairExamples } from "../pairing.ts";
import { runFigureProvenance } from "./run.ts";
import { exampleHtml, namedLink, type SiteContext } from "./common.ts";

/** Render `runs/<slug>/bridges.html` with `options.bridgeExamples` example pairs per concept pair. */
export async function bridgesPage(ctx: SiteContext, run: Run): Promise<string> {
  const atlas = ctx.atlas;
  const examples = ctx.options.bridgeExamples;
  const path = `runs/${run.slug}/bridges.html`;
  const root = rootOf(path);
  const rd = await loadRunData(atlas, run);
  const m = rd.columns.modality_score;
  const rows: string[] = [];
  for (const p of rd.bridgePairs) {
    let ex = "";
    if (rd.codes && rd.cols && rd.pairing) {
      const pe = pairExamples(rd.codes, rd.cols, rd.pairing, p.image, p.text, examples);
      const cells: string[] = [];
      for (const e of pe) {
        cells.push(
          `<div class="pair-example">${await exampleHtml(
            ctx,
            root,
            rd,
            e.imageRow,
            e.imageValue,
          )}${await exampleHtml(
            ctx,
            root,
            rd,
            e.textRow,
            e.textValue,
          )}</div>`,
        );
      }
      ex = cells.join("") || '<span class="empty">no pair where both fire</span>';
    }
    rows.push(
      `<tr id="pair-${p.image}-${p.text}" class="bridge-row" data-image="${p.image}" data-text="${p.text}"><td>${p.rank}</td><td>${
        namedLink(ctx, root, rd, p.image)
      }<br><small>m=${fmt(m?.[p.image])}</small></td><td>${
        namedLink(ctx, root, rd, p.text)
      }<br><small>m=${fmt(m?.[p.text])}</small></td><td class="bridge-value">${
        fmt(p.bridge)
      }</td><td>${fmt(p.coactivation)}</td><td>${
        fmt(p.cosine)
      }</td><td class="text"><div class="examples">${ex}</div></td></tr>`,
    );
  }
  const body = rd.bridgePairs.length
    ? `<p>${rd.bridgePairs.length} ranked pairs (image-side concept → text-side concept).</p>
${provenanceHtml(runFigureProvenance(atlas, run, "bridge"))}
<table id="bridge-table"><thead><tr><th>rank</th><th>image concept</th><th>text concept</th><th>bridge</th><th>co-activation</th><th>cosine</th><th class="text">examples (image · caption)</th></tr></thead><tbody>
${rows.join("\n")}
</tbody></table>`
    : `<p class="empty">No bridge stage for this run${esc(run.bridge ? "" : "")}.</p>`;
  return page({ atlas, path, title: `Bridges — ${run.label}`, body, run, view: "bridges.html" });
}
