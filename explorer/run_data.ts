/**
 * The artifacts of one run, read once and kept: eval rows of the dataset, dictionary, codes
 * (CSR and per-concept columns), the per-concept table (concept statistics, stability,
 * modality projection, classifier AUROC, bridge mass), bridge pairs and the 2-D map.
 */
import { join } from "node:path";
import { readEmbeddings } from "../data/embeddings_io.ts";
import { readDictionary } from "../data/dictionary_io.ts";
import { readCodes } from "../data/codes_io.ts";
import { type Column, readTable } from "../data/table_io.ts";
import type { CsrCodes } from "../data/csr_codes.ts";
import type { Atlas, Instance, Run } from "./atlas.ts";
import { conceptStatistics } from "../analysis/concept_stats.ts";
import { type ConceptColumns, conceptColumns } from "./activations.ts";
import { pairRows, type RowPairing } from "./pairing.ts";
import { pcaMap } from "../analysis/layout_pca.ts";

/** One match of a concept in another run. */
export interface ConceptMatch {
  /** Partner run slug (undefined when that run is not in the atlas). */
  partnerSlug?: string;
  partnerLabel: string;
  concept: number;
  cosine: number;
  matchKey: string;
}

/** Eval rows of the run's dataset, in table order (code row r = eval row r). */
export interface EvalRows {
  n: number;
  ids: string[];
  pairIds: string[];
  isImage: Uint8Array;
  source: (string | null)[];
}

/** A loaded run. Numeric per-concept arrays have length c (NaN where unknown). */
export interface RunData {
  run: Run;
  c: number;
  d: number;
  dict: Float32Array;
  rows: EvalRows | null;
  codes: CsrCodes | null;
  cols: ConceptColumns | null;
  pairing: RowPairing | null;
  /** Numeric per-concept columns for the concept table, in display order. */
  columns: Record<string, Float64Array>;
  /** Where each column comes from (stage id), for provenance. */
  columnSource: Record<string, string>;
  /** Matches in other runs, per concept. */
  matches: ConceptMatch[][];
  /** bridge_pairs.parquet rows (empty without a bridge stage). */
  bridgePairs: {
    rank: number;
    image: number;
    text: number;
    bridge: number;
    coactivation: number;
    cosine: number;
  }[];
  /** 2-D PCA coordinates (x_j = map[2j], y_j = map[2j+1]). */
  map: Float64Array;
  mapVariance: [number, number];
  /** 2-D UMAP coordinates from the `map` stage (null without one). */
  umap: Float64Array | null;
  /** Concept labels (empty strings without a `labels` stage). */
  labels: string[];
  /** Per-concept label evidence and the other label routes (absent without a `labels` stage). */
  labelInfo: LabelInfo | null;
}

/** What the `labels` stage wrote besides the label, per concept. */
export interface LabelInfo {
  source: string[];
  captionEvidence: string[];
  towerLabel: string[];
  towerEvidence: string[];
  truthName: string[];
  truthCosine: Float64Array;
}

/** A concept's label with its number, e.g. `#12 dog, frisbee` (`#12` without a label). */
export function conceptName(rd: RunData, j: number): string {
  const l = rd.labels[j];
  return l ? `#${j} ${l}` : `#${j}`;
}

/** True when concept j never fires on the eval rows (frequency 0), false when unknown. */
export function isDead(rd: RunData, j: number): boolean {
  const f = rd.columns.frequency;
  return !!f && f[j] === 0;
}

const cache = new WeakMap<Run, Promise<RunData>>();

/** Load (once per run object) the artifacts of `run`. */
export function loadRunData(atlas: Atlas, run: Run): Promise<RunData> {
  let p = cache.get(run);
  if (!p) {
    p = readRun(atlas, run);
    cache.set(run, p);
    p.catch(() => cache.delete(run));
  }
  return p;
}

function has(inst: Instance | undefined, file: string): inst is Instance {
  return !!inst && inst.files.includes(file);
}

function numeric(col: Column | undefined): Float64Array | null {
  if (!col || !ArrayBuffer.isView(col)) return null;
  return Float64Array.from(col as ArrayLike<number>);
}

/** Scatter a table's numeric column into a per-concept array by its `concept` column. */
function byConcept(
  t: Record<string, Column>,
  name: string,
  c: number,
  keep?: (row: number) => boolean,
  conceptColumn = "concept",
): Float64Array | null {
  const v = numeric(t[name]), j = numeric(t[conceptColumn]);
  if (!v || !j) return null;
  const out = new Float64Array(c).fill(NaN);
  for (let r = 0; r < v.length; r++) {
    if (keep && !keep(r)) continue;
    const q = j[r];
    if (q >= 0 && q < c) out[q] = v[r];
  }
  return out;
}

async function readRun(atlas: Atlas, run: Run): Promise<RunData> {
  const dictionary = await readDictionary(join(run.train.dir, "dictionary.parquet"));
  const { c, d } = dictionary;
  const columns: Record<string, Float64Array> = {};
  const columnSource: Record<string, string> = {};
  const put = (name: string, v: Float64Array | null, inst: Instance) => {
    if (!v) return;
    columns[name] = v;
    columnSource[name] = inst.id;
  };

  let rows: EvalRows | null = null;
  if (has(run.dataset, "embeddings.parquet")) {
    const set = await readEmbeddings(join(run.dataset.dir, "embeddings.parquet"), {
      split: "eval",
    });
    rows = {
      n: set.n,
      ids: set.ids,
      pairIds: set.pairIds,
      isImage: Uint8Array.from(set.modality, (m) => (m === "image" ? 1 : 0)),
      source: set.source ?? new Array(set.n).fill(null),
    };
  }
  let codes: CsrCodes | null = null, cols: ConceptColumns | null = null;
  let pairing: RowPairing | null = null;
  if (rows && has(run.encode, "codes.parquet")) {
    codes = await readCodes(join(run.encode.dir, "codes.parquet"), rows.n, c);
    cols = conceptColumns(codes);
    pairing = pairRows(rows.pairIds, rows.isImage);
  }

  const statNames: [string, string][] = [
    ["energy", "energy"],
    ["frequency", "frequency"],
    ["modality_score", "modalityScore"],
    ["energy_image", "energyImage"],
    ["energy_text", "energyText"],
    ["frequency_image", "frequencyImage"],
    ["frequency_text", "frequencyText"],
  ];
  if (has(run.concepts, "concepts.parquet")) {
    const t = await readTable(join(run.concepts.dir, "concepts.parquet"));
    for (const [name] of statNames) put(name, byConcept(t, name, c), run.concepts);
  } else if (codes && rows && run.encode) {
    const s = conceptStatistics(codes, rows.isImage) as unknown as Record<string, Float64Array>;
    for (const [name, key] of statNames) put(name, s[key], run.encode);
  }

  // Stability: mean matched cosine over every match of this run; matches per concept.
  const matches: ConceptMatch[][] = Array.from({ length: c }, () => []);
  if (run.matches.length) {
    const sum = new Float64Array(c), cnt = new Float64Array(c);
    for (const m of run.matches) {
      if (!has(m.match, "matches.parquet")) continue;
      const t = await readTable(join(m.match.dir, "matches.parquet"));
      const a = numeric(t.concept_a), b = numeric(t.concept_b), cos = numeric(t.cosine);
      if (!a || !b || !cos) continue;
      const partner = atlas.runs.find((r) => r.train.key === m.partnerKey);
      const mine = m.side === "a" ? a : b, theirs = m.side === "a" ? b : a;
      for (let r = 0; r < cos.length; r++) {
        const j = mine[r];
        if (!(j >= 0 && j < c) || !(theirs[r] >= 0)) continue;
        sum[j] += cos[r];
        cnt[j]++;
        matches[j].push({
          partnerSlug: partner?.slug,
          partnerLabel: partner?.label ?? m.partnerKey.slice(0, 8),
          concept: theirs[r],
          cosine: cos[r],
          matchKey: m.match.key,
        });
      }
    }
    put(
      "stability",
      Float64Array.from(sum, (s, j) => (cnt[j] ? s / cnt[j] : NaN)),
      run.matches[0].match,
    );
  }

  if (has(run.modality, "projections.parquet")) {
    const t = await readTable(join(run.modality.dir, "projections.parquet"));
    const dict = t.dictionary as (string | null)[] | undefined;
    for (const name of Object.keys(t).filter((k) => k.startsWith("projection_"))) {
      put(name, byConcept(t, name, c, (r) => !dict || dict[r] === "learned"), run.modality);
    }
  }
  if (has(run.modality, "classifier.parquet")) {
    const t = await readTable(join(run.modality.dir, "classifier.parquet"));
    const kind = t.kind as (string | null)[] | undefined;
    put("auroc", byConcept(t, "auroc", c, (r) => kind?.[r] === "learned", "index"), run.modality);
  }
  let bridgePairs: RunData["bridgePairs"] = [];
  if (has(run.bridge, "bridge_mass.parquet")) {
    const t = await readTable(join(run.bridge.dir, "bridge_mass.parquet"));
    put("bridge_mass_image", byConcept(t, "mass_image", c), run.bridge);
    put("bridge_mass_text", byConcept(t, "mass_text", c), run.bridge);
  }
  if (has(run.bridge, "self_bridges.parquet")) {
    const t = await readTable(join(run.bridge.dir, "self_bridges.parquet"));
    put("self_bridge", byConcept(t, "bridge", c), run.bridge);
  }
  if (has(run.bridge, "bridge_pairs.parquet")) {
    const t = await readTable(join(run.bridge.dir, "bridge_pairs.parquet"));
    const rank = numeric(t.rank), i = numeric(t.concept_image), j = numeric(t.concept_text);
    const b = numeric(t.bridge), co = numeric(t.coactivation), cos = numeric(t.cosine);
    if (i && j && b) {
      bridgePairs = Array.from(b, (v, r) => ({
        rank: rank ? rank[r] : r + 1,
        image: i[r],
        text: j[r],
        bridge: v,
        coactivation: co ? co[r] : NaN,
        cosine: cos ? cos[r] : NaN,
      })).filter((p) => p.image >= 0 && p.image < c && p.text >= 0 && p.text < c);
    }
  }
  let labels: string[] = new Array(c).fill("");
  let labelInfo: LabelInfo | null = null;
  if (has(run.labels, "labels.parquet")) {
    const t = await readTable(join(run.labels.dir, "labels.parquet"));
    const str = (name: string) => {
      const out: string[] = new Array(c).fill("");
      const v = t[name] as (string | null)[] | undefined, j = numeric(t.concept);
      if (Array.isArray(v) && j) {
        v.forEach((x, r) => {
          if (j[r] >= 0 && j[r] < c) out[j[r]] = x ?? "";
        });
      }
      return out;
    };
    labels = str("label");
    labelInfo = {
      source: str("source"),
      captionEvidence: str("caption_evidence"),
      towerLabel: str("tower_label"),
      towerEvidence: str("tower_evidence"),
      truthName: str("truth_name"),
      truthCosine: byConcept(t, "truth_cosine", c) ?? new Float64Array(c).fill(NaN),
    };
  }
  let map: Float64Array, mapVariance: [number, number], umap: Float64Array | null = null;
  if (has(run.map, "layout.parquet")) {
    const t = await readTable(join(run.map.dir, "layout.parquet"));
    const px = byConcept(t, "pca_x", c), py = byConcept(t, "pca_y", c);
    const ux = byConcept(t, "umap_x", c), uy = byConcept(t, "umap_y", c);
    map = new Float64Array(2 * c);
    for (let j = 0; j < c; j++) {
      map[2 * j] = px?.[j] ?? NaN;
      map[2 * j + 1] = py?.[j] ?? NaN;
    }
    if (ux && uy) umap = Float64Array.from({ length: 2 * c }, (_, q) => (q % 2 ? uy : ux)[q >> 1]);
    let v: number[] = [NaN, NaN];
    try {
      const s = JSON.parse(await Deno.readTextFile(join(run.map.dir, "summary.json")));
      if (Array.isArray(s.pca_variance)) v = s.pca_variance.map(Number);
    } catch { /* no summary: variances unknown */ }
    mapVariance = [v[0], v[1]];
  } else {
    const pm = pcaMap(dictionary.directions, c, d);
    map = pm.xy;
    mapVariance = pm.variance;
  }
  return {
    run,
    c,
    d,
    dict: dictionary.directions,
    rows,
    codes,
    cols,
    pairing,
    columns,
    columnSource,
    matches,
    bridgePairs,
    map,
    mapVariance,
    umap,
    labels,
    labelInfo,
  };
}
