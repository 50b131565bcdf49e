/**
 * The short summary printed at the end of a study run: the data, the Pareto front at a glance,
 * the claims beside their null model, and the checks against planted truth. Also the `claims`
 * and `validation` members of the `--json` summary (design.md).
 */
import { join } from "node:path";
import type { StageSummary } from "../pipeline/execute.ts";
import type { StudyReport } from "../pipeline/study.ts";
import type { Claim } from "../analysis/claims.ts";
import type { ValidationCheck } from "../analysis/truth_checks.ts";
import { readTable } from "../data/table_io.ts";
import { paretoFiles } from "./pareto.ts";
import { claimsFiles } from "./claims.ts";
import { validateFiles } from "./validate.ts";
import { labelsFiles } from "./labels.ts";
import { compareFiles } from "./compare.ts";

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return null;
  }
}

/** Plain-language names of the study's claims and checks (ids as in claims.json / validation.json). */
const LABELS: Record<string, string> = {
  saes_beat_baselines_on_pareto: "SAEs beat the baselines on the R²/ℓ0 Pareto front",
  frequent_more_stable_across_seeds: "frequent concepts are more stable across seeds",
  frequent_more_stable_across_diets: "frequent concepts are more stable across data diets",
  concepts_nearly_orthogonal_to_modality_subspace:
    "concept directions are nearly orthogonal to the modality subspace",
  concepts_poor_modality_classifiers: "concept directions are poor modality classifiers",
  most_concepts_unimodal: "most concepts are unimodal",
  bridges_between_unimodal_concepts: "bridges link single-modality concepts",
  planted_recovered: "planted concepts recovered (cos ≥ 0.9)",
  stability_frequent_minus_rare: "frequent planted concepts more stable than rare ones",
  bridge_twin_precision: "top bridge pairs are planted image/text twins (precision@N)",
  unimodal_fraction_gap: "unimodal fraction close to the planted one (|gap|)",
};

/** Plain-language name of a claim or check id (the id itself when unknown). */
const label = (id: string) => LABELS[id] ?? id;

const fmt = (
  v: number,
) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3)) : "n/a");

/** The `compare` summary's per-space part read by the run summary (tasks/compare.ts). */
interface CompareSpace {
  space: string;
  line: string;
  claims: { claim: string; value: number; null_value: number; holds: boolean }[];
  validation: ValidationCheck[];
}

/**
 * The summary of a study of several spaces: one verdict line per space and where the comparison
 * is; `claims` and `validation` of every space (first seed), each with its `space`.
 */
async function compareReport(compare: StageSummary): Promise<StudyReport> {
  const s = await readJson<{ spaces: CompareSpace[] }>(join(compare.dir, compareFiles.summary));
  const spaces = s?.spaces ?? [];
  const lines = [
    `Embedding spaces compared (${spaces.length}); per space, the claims beside their null:`,
  ];
  for (const v of spaces) lines.push(`  ${v.line}`);
  lines.push(
    `  Pareto panels, claims, stability, bridges: ${
      join(compare.dir, compareFiles.paretoPlot)
    }, ${compareFiles.claims}, ${compareFiles.spaces}`,
  );
  const num = (v: number | null) => (v === null ? NaN : v);
  return {
    text: lines.join("\n"),
    json: {
      claims: spaces.flatMap((v) =>
        v.claims.map((c) => ({
          space: v.space,
          claim: c.claim,
          value: num(c.value),
          null_value: num(c.null_value),
          holds: c.holds,
        }))
      ),
      validation: spaces.flatMap((v) => v.validation.map((c) => ({ space: v.space, ...c }))),
      spaces: spaces.map((v) => ({ space: v.space, verdict: v.line })),
    },
  };
}

/** Summarise a finished study from its artifacts. */
export async function studyReport(summaries: StageSummary[]): Promise<StudyReport> {
  const one = (stage: string) => summaries.find((s) => s.stage === stage);
  const compare = one("compare");
  if (compare) return await compareReport(compare);
  const lines: string[] = [];
  const json: Record<string, unknown> = {};

  const data = one("dataset") ?? one("embed");
  if (data) {
    const m = await readJson<{ meta: Record<string, unknown> }>(join(data.dir, "manifest.json"));
    const meta = m?.meta ?? {};
    const parts = [`${meta.n ?? "?"} rows`, `d=${meta.d ?? "?"}`];
    if (typeof meta.centroid_distance === "number") {
      parts.push(`modality gap ${fmt(meta.centroid_distance)}`);
    }
    if (typeof meta.retrieval_i2t === "number") {
      parts.push(`top-1 retrieval i→t ${(meta.retrieval_i2t as number).toFixed(2)}`);
    }
    lines.push(`Data: ${data.id}${meta.kind ? ` (${meta.kind})` : ""}: ${parts.join(", ")}`);
  }

  const pareto = one("pareto");
  if (pareto) {
    try {
      const t = await readTable(join(pareto.dir, paretoFiles.table));
      const method = t.method as string[];
      const r2 = t.r2 as unknown as Float64Array;
      const l0 = t.l0 as unknown as Float64Array;
      const best = new Map<string, { r2: number; l0: number }>();
      for (let i = 0; i < method.length; i++) {
        // R² at the sparsest setting with ℓ0 ≥ 7.5 (≈ k = 8), for a one-line comparison.
        if (l0[i] < 7.5) continue;
        const b = best.get(method[i]);
        if (!b || l0[i] < b.l0) best.set(method[i], { r2: r2[i], l0: l0[i] });
      }
      const ranked = [...best.entries()].sort((a, b) => b[1].r2 - a[1].r2);
      if (ranked.length) {
        lines.push(
          `Pareto (eval R² at the sparsest ℓ0 ≥ 8): ${
            ranked.map(([m, v]) => `${m} ${v.r2.toFixed(3)}@${v.l0.toFixed(1)}`).join(", ")
          }`,
        );
      }
      lines.push(`  table and plot: ${join(pareto.dir, paretoFiles.table)}, ${paretoFiles.plot}`);
    } catch { /* the pareto table is optional in the summary */ }
  }

  const claims = one("claims")
    ? await readJson<Claim[]>(join(one("claims")!.dir, claimsFiles.claims))
    : null;
  if (claims) {
    json.claims = claims.map((c) => ({
      claim: c.claim,
      value: c.value,
      null_value: c.null_value,
      holds: c.holds,
    }));
    lines.push("Claims of the study (learned dictionary vs a random dictionary of the same size):");
    for (const c of claims) {
      lines.push(
        `  ${c.holds ? "holds" : "fails"}  ${label(c.claim)}: ${fmt(c.value)} (null ${
          fmt(c.null_value)
        })`,
      );
    }
  }

  const validation = one("validate")
    ? await readJson<ValidationCheck[]>(join(one("validate")!.dir, validateFiles.checks))
    : null;
  if (validation) {
    json.validation = validation;
    lines.push("Checks against planted truth:");
    for (const v of validation) {
      lines.push(
        `  ${v.holds ? "pass" : "FAIL"}  ${label(v.check)}: ${fmt(v.value)} (threshold ${
          fmt(v.threshold)
        })`,
      );
    }
  }
  const map = one("map");
  const primaryLabels = map && summaries.find((s) => s.id === map.id.replace(/^map/, "labels"));
  const labels = primaryLabels
    ? await readJson<LabelsSummary>(join(primaryLabels.dir, labelsFiles.summary))
    : null;
  if (labels) {
    const all = labels.truth_accuracy?.all, captioned = labels.truth_accuracy?.captioned;
    const pct = (t: { named: number; matched: number }) =>
      `${t.named}/${t.matched} (${(100 * t.named / t.matched).toFixed(1)}%)`;
    const truth = captioned && all && captioned.matched > 0
      ? `; named after the planted concept they match: ${pct(captioned)} of those with captions, ${
        pct(all)
      } of all matched`
      : "";
    lines.push(
      `Concept labels (primary run): ${labels.labelled} of ${labels.concepts} concepts named${truth}. Browse: deno task serve`,
    );
  }
  return { text: lines.join("\n"), json };
}

/** The parts of a labels summary.json the run summary reads (tasks/labels.ts). */
interface LabelsSummary {
  concepts: number;
  labelled: number;
  truth_accuracy?: {
    all?: { named: number; matched: number };
    captioned?: { named: number; matched: number };
  } | null;
}
