/**
 * The concept page (`runs/<slug>/concepts/<j>.html`): its statistics, top-activating images and
 * captions with their activations, activation histograms per modality, nearest concepts by
 * cosine, its matches in the other seeds and diets, and its top bridge partners.
 */
import type { Run } from "../atlas.ts";
import { esc, figure, fmt, page, provenanceHtml, provenanceText, rootOf, table } from "../html.ts";
import { histogram } from "../plot/mod.ts";
import { isDead, loadRunData, type RunData } from "../run_data.ts";
import { activationHistogram, topActivations } from "../activations.ts";
import { nearestConcepts } from "../nearest.ts";
import { conceptBridgePartners } from "../pairing.ts";
import { runFigureProvenance } from "./run.ts";
import { columnTitle } from "./concept_table.ts";
import { conceptLink, exampleHtml, namedLink, type SiteContext } from "./common.ts";

/** Render `runs/<slug>/concepts/<j>.html` (the caller checks 0 ≤ j < c). */
export async function conceptPage(
  ctx: SiteContext,
  run: Run,
  j: number,
): Promise<string> {
  const atlas = ctx.atlas;
  const opts = ctx.options;
  const path = `runs/${run.slug}/concepts/${j}.html`;
  const root = rootOf(path);
  const rd = await loadRunData(atlas, run);
  const link = (q: number) => namedLink(ctx, root, rd, q);
  const stats = Object.keys(rd.columns).map((n) =>
    `<tr><th class="text">${esc(columnTitle(n))}</th><td id="stat-${esc(n)}" data-value="${
      Number.isFinite(rd.columns[n][j]) ? rd.columns[n][j] : ""
    }">${fmt(rd.columns[n][j])}</td></tr>`
  ).join("");
  const prov = runFigureProvenance(atlas, run, "table");
  let examples = '<p class="empty">No codes for this run (no encode stage or dataset rows).</p>';
  let hist = "";
  let bridges = "";
  if (rd.cols && rd.rows && rd.codes && rd.pairing) {
    const parts: string[] = [];
    for (
      const [image, title, id] of [[true, "Top images", "top-images"], [
        false,
        "Top captions",
        "top-captions",
      ]] as const
    ) {
      const top = topActivations(rd.cols, j, rd.rows.isImage, image, opts.examples);
      const cells = await Promise.all(top.map((a) => exampleHtml(ctx, root, rd, a.row, a.value)));
      parts.push(
        `<h3>${title}</h3><div class="examples" id="${id}">${
          cells.join("") || '<p class="empty">never fires on this modality</p>'
        }</div>`,
      );
    }
    examples = parts.join("") + provenanceHtml(runFigureProvenance(atlas, run, "map"));
    const h = activationHistogram(rd.cols, j, rd.rows.isImage, 20);
    hist = figure(
      histogram({
        title: `Activations of concept ${j} (non-zero)`,
        xLabel: "activation",
        yLabel: "rows",
        edges: h.edges,
        series: [{ label: "image", counts: h.image }, { label: "text", counts: h.text }],
        caption: provenanceText(prov),
        id: `ah-${j}`,
      }),
      prov,
      "activation-histogram",
    ) + `<p id="silent-rows">Silent on ${h.zeroImage} image rows and ${h.zeroText} text rows.</p>`;
    const partnerTable = (side: "image" | "text") => {
      const ps = conceptBridgePartners(
        rd.codes!,
        rd.cols!,
        rd.pairing!,
        rd.dict,
        rd.d,
        j,
        side,
        opts.partners,
      );
      return table(
        [
          side === "image" ? "caption concept" : "image concept",
          "bridge",
          "co-activation",
          "cosine",
          "modality score",
        ],
        ps.map((p) => [
          link(p.concept),
          `<span class="bridge-value">${fmt(p.bridge)}</span>`,
          fmt(p.coactivation),
          fmt(p.cosine),
          fmt(rd.columns.modality_score?.[p.concept]),
        ]),
        `class="bridge-partners" id="bridge-partners-${side}"`,
      );
    };
    const staged = rd.bridgePairs.filter((p) => p.image === j || p.text === j);
    bridges = `<h3>As the image side (j on the image, partner on its caption)</h3>${
      partnerTable("image")
    }
<h3>As the text side (partner on the image, j on the caption)</h3>${partnerTable("text")}
<p class="prov">Raw Bridge Score B = E_pairs[z_img·z_txt] ⊙ cos over caption-level pairs, computed for this concept from the codes.</p>
${
      staged.length
        ? `<h3>In the bridge stage's ranked pairs</h3>${
          table(
            ["rank", "image concept", "text concept", "bridge", "pair"],
            staged.map((p) => [
              String(p.rank),
              link(p.image),
              link(p.text),
              fmt(p.bridge),
              `<a href="${root}runs/${run.slug}/bridges.html#pair-${p.image}-${p.text}">examples</a>`,
            ]),
            'id="staged-bridges"',
          )
        }`
        : ""
    }${provenanceHtml(runFigureProvenance(atlas, run, "bridge"))}`;
  }
  const near = nearestConcepts(rd.dict, rd.c, rd.d, j, opts.neighbours);
  const nearTable = table(
    ["concept", "cosine", "modality score", "energy"],
    near.map((n) => [
      link(n.concept),
      `<span class="cosine">${fmt(n.cosine)}</span>`,
      fmt(rd.columns.modality_score?.[n.concept]),
      fmt(rd.columns.energy?.[n.concept]),
    ]),
    'id="nearest"',
  );
  const matchRows: string[][] = [];
  for (const m of rd.matches[j]) {
    const partner = m.partnerSlug ? atlas.bySlug.get(m.partnerSlug) : undefined;
    const prd: RunData | undefined = partner ? await loadRunData(atlas, partner) : undefined;
    matchRows.push([
      `<span class="text">${esc(m.partnerLabel)}</span>`,
      prd ? namedLink(ctx, root, prd, m.concept) : `#${m.concept}`,
      `<span class="match-cosine">${fmt(m.cosine)}</span>`,
      `<code>${esc(m.matchKey.slice(0, 12))}</code>`,
    ]);
  }
  const info = rd.labelInfo;
  const labelBlock = info
    ? `<table id="concept-label"><tr><th class="text">label</th><td class="text" id="label">${
      esc(rd.labels[j] || "–")
    }</td></tr><tr><th class="text">from</th><td class="text">${
      esc(
        info.source[j] === "image pairs"
          ? "captions of its top images' pairs"
          : info.source[j] === "captions"
          ? "its top-activating captions"
          : "no captions (never fires)",
      )
    }</td></tr><tr><th class="text">evidence (log-odds z, count in these captions / corpus)</th><td class="text" id="label-evidence">${
      esc(info.captionEvidence[j] || "–")
    }</td></tr>${
      info.towerLabel[j]
        ? `<tr><th class="text">text tower</th><td class="text" id="tower-label">${
          esc(info.towerEvidence[j])
        }</td></tr>`
        : ""
    }${
      info.truthName[j]
        ? `<tr><th class="text">planted concept (truth)</th><td class="text" id="truth-label">${
          esc(info.truthName[j])
        } (cosine ${fmt(info.truthCosine[j])})</td></tr>`
        : ""
    }</table>${provenanceHtml({ ...prov, stages: [run.labels] })}`
    : '<p class="empty">No labels stage for this run.</p>';
  const body = `
<p>${j > 0 ? conceptLink(ctx, root, run, j - 1, "← previous") : ""} ${
    j + 1 < rd.c ? conceptLink(ctx, root, run, j + 1, "next →") : ""
  } · <a href="../concepts.html">concept table</a></p>
${isDead(rd, j) ? '<p class="dead-note">Dead concept: it never fires on the eval rows.</p>' : ""}
<h2>Label</h2>${labelBlock}
<h2>Statistics</h2>
<table id="concept-stats">${stats}</table>
${provenanceHtml(prov)}
<h2>Top-activating examples</h2>${examples}
<h2>Activation histograms</h2>${hist || '<p class="empty">no codes</p>'}
<h2>Nearest concepts by cosine</h2>${nearTable}${
    provenanceHtml(runFigureProvenance(atlas, run, "map"))
  }
<h2>Matches in other seeds and diets</h2>${
    matchRows.length
      ? table(["run", "concept", "cosine", "match key"], matchRows, 'id="matches"')
      : '<p class="empty" id="matches">No match stage involves this run.</p>'
  }${provenanceHtml(runFigureProvenance(atlas, run, "stability"))}
<h2>Top bridge partners</h2>${bridges || '<p class="empty">no codes</p>'}`;
  return page({
    atlas,
    path,
    title: `Concept ${j}${rd.labels[j] ? `: ${rd.labels[j]}` : ""} — ${run.label}`,
    body,
    run,
    view: `concepts/${j}.html`,
  });
}
