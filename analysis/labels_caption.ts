/**
 * Caption labels of concepts (method.md §10, "Captions"): the words and bigrams most
 * over-represented in a concept's top-activating captions against the whole caption corpus,
 * scored by the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008)
 * and z-scored by its approximate variance. Pure: texts in, terms and scores out. The work is
 * O(total tokens) to build the corpus and O(tokens of the selected captions) per concept.
 */

/** English function words and caption boilerplate left out of labels. */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a an the and or but nor so yet of in on at to for from by with without into onto over under " +
    "above below up down out off near next beside between through during before after about " +
    "against among around behind across along is are was were be been being am has have had " +
    "having do does did doing this that these those there here it its it's they them their " +
    "theirs he him his she her hers we us our ours you your yours i me my mine who whom whose " +
    "which what where when why how all any both each few more most other some such no not only " +
    "own same than too very can will just should would could may might must also as if then " +
    "while one two three very s t one's some while"
  ).split(/\s+/).filter(Boolean),
);

/**
 * The terms of one text: lower-cased words (letters and digits) and the bigrams of adjacent
 * words, with stop words dropped and bigrams never spanning punctuation or a stop word.
 * Each occurrence is listed (a word used twice appears twice).
 */
export function captionTerms(text: string, stop: ReadonlySet<string> = STOP_WORDS): string[] {
  const out: string[] = [];
  for (const segment of text.toLowerCase().split(/[^\p{L}\p{N}'\s-]+/u)) {
    let prev: string | null = null;
    for (const raw of segment.split(/[\s-]+/)) {
      const w = raw.replace(/^'+|'+$/g, "").replace(/'s$/, "");
      if (w === "" || stop.has(w) || w.length < 2 && !/\p{N}/u.test(w)) {
        prev = null;
        continue;
      }
      out.push(w);
      if (prev !== null) out.push(`${prev} ${w}`);
      prev = w;
    }
  }
  return out;
}

/** A caption corpus: term ids per document and corpus-wide term counts. */
export interface CaptionCorpus {
  /** Term strings by id. */
  terms: string[];
  /** Documents' term ids: document q's occurrences are `termIds[docPtr[q] .. docPtr[q+1])`. */
  docPtr: Int32Array;
  termIds: Int32Array;
  /** Corpus count Y_w of every term (occurrences over all documents). */
  count: Float64Array;
  /** Total occurrences N = Σ_w Y_w. */
  total: number;
  /** Documents holding each term at least once. */
  docFreq: Float64Array;
  /** Non-empty documents. */
  documents: number;
}

/** Build the corpus of `texts` (null texts are empty documents). */
export function captionCorpus(
  texts: readonly (string | null)[],
  stop: ReadonlySet<string> = STOP_WORDS,
): CaptionCorpus {
  const ids = new Map<string, number>();
  const terms: string[] = [];
  const docPtr = new Int32Array(texts.length + 1);
  const list: number[] = [];
  texts.forEach((t, q) => {
    for (const term of t ? captionTerms(t, stop) : []) {
      let id = ids.get(term);
      if (id === undefined) {
        id = terms.length;
        ids.set(term, id);
        terms.push(term);
      }
      list.push(id);
    }
    docPtr[q + 1] = list.length;
  });
  const termIds = Int32Array.from(list);
  const count = new Float64Array(terms.length);
  for (const id of termIds) count[id]++;
  const docFreq = new Float64Array(terms.length);
  const last = new Int32Array(terms.length).fill(-1);
  let documents = 0;
  for (let q = 0; q < texts.length; q++) {
    if (docPtr[q + 1] > docPtr[q]) documents++;
    for (let e = docPtr[q]; e < docPtr[q + 1]; e++) {
      const id = termIds[e];
      if (last[id] !== q) {
        last[id] = q;
        docFreq[id]++;
      }
    }
  }
  return { terms, docPtr, termIds, count, total: termIds.length, docFreq, documents };
}

/** One scored term of a label. */
export interface LabelTerm {
  term: string;
  /** z-score of the log-odds ratio δ_w / σ_w. */
  z: number;
  /** Occurrences y_w in the selected documents. */
  count: number;
  /** Occurrences Y_w in the whole corpus. */
  corpusCount: number;
}

/** Options of {@link logOddsTerms}. */
export interface LogOddsOptions {
  /** Prior strength α₀ (the prior is α_w = α₀·Y_w/N). Default 100. */
  priorStrength?: number;
  /** Terms returned (highest z first). Default 10. */
  top?: number;
  /** Terms seen in fewer than this many selected occurrences are not returned. Default 2. */
  minCount?: number;
  /**
   * Terms found in more than this fraction of all documents (corpus boilerplate such as a
   * template's fixed words) are not returned. Default 0.5.
   */
  maxDocumentFrequency?: number;
}

/**
 * Log-odds ratio with an informative Dirichlet prior of every term of the selected documents
 * against the whole corpus, z-scored (method.md §10):
 * δ_w = log((y_w+α_w)/(n+α₀−y_w−α_w)) − log((Y_w+α_w)/(N+α₀−Y_w−α_w)),
 * σ²_w ≈ 1/(y_w+α_w) + 1/(Y_w+α_w), with α_w = α₀·Y_w/N.
 * @param docs indices of the selected documents (a concept's top captions; repeats count twice)
 * @returns the `top` terms by z (ties: more occurrences, then the term), only z > 0
 */
export function logOddsTerms(
  corpus: CaptionCorpus,
  docs: readonly number[],
  opts: LogOddsOptions = {},
): LabelTerm[] {
  const a0 = opts.priorStrength ?? 100, top = opts.top ?? 10, minCount = opts.minCount ?? 2;
  const maxDf = (opts.maxDocumentFrequency ?? 0.5) * corpus.documents;
  const y = new Map<number, number>();
  let n = 0;
  for (const q of docs) {
    for (let e = corpus.docPtr[q]; e < corpus.docPtr[q + 1]; e++) {
      const id = corpus.termIds[e];
      y.set(id, (y.get(id) ?? 0) + 1);
      n++;
    }
  }
  const N = corpus.total;
  const out: LabelTerm[] = [];
  for (const [id, yw] of y) {
    if (yw < minCount || corpus.docFreq[id] > maxDf) continue;
    const Yw = corpus.count[id];
    const aw = a0 * Yw / N;
    const delta = Math.log((yw + aw) / (n + a0 - yw - aw)) -
      Math.log((Yw + aw) / (N + a0 - Yw - aw));
    const z = delta / Math.sqrt(1 / (yw + aw) + 1 / (Yw + aw));
    if (z > 0 && Number.isFinite(z)) {
      out.push({ term: corpus.terms[id], z, count: yw, corpusCount: Yw });
    }
  }
  out.sort((p, q) =>
    q.z - p.z || q.count - p.count || (p.term < q.term ? -1 : p.term > q.term ? 1 : 0)
  );
  return out.slice(0, top);
}

/**
 * The label's terms: up to `max` of the scored terms (highest z first) with z ≥ `minZ` (the first
 * is always kept; the others need at least `minCount` occurrences). A word already inside a chosen bigram is skipped; a bigram sharing a word with a
 * chosen term replaces that word when it accounts for at least `phraseShare` of the word's
 * occurrences in the selection ("hot dog" for "dog"), and is skipped otherwise.
 */
export function pickLabelTerms(
  scored: readonly LabelTerm[],
  max = 3,
  minZ = 1.96,
  phraseShare = 0.8,
  minCount = 0,
): LabelTerm[] {
  const chosen: LabelTerm[] = [];
  for (const t of scored) {
    if (chosen.length >= max) break;
    if (chosen.length > 0 && t.z < minZ) break;
    if (chosen.length > 0 && t.count < minCount) continue;
    const words = t.term.split(" ");
    if (chosen.some((c) => c.term.split(" ").includes(t.term))) continue;
    if (words.length > 1) {
      const overlap = chosen.filter((c) =>
        words.includes(c.term) || c.term.split(" ").some((w) => words.includes(w))
      );
      if (overlap.length > 0) {
        const single = overlap.length === 1 && !overlap[0].term.includes(" ") ? overlap[0] : null;
        if (single && t.count >= phraseShare * single.count) chosen[chosen.indexOf(single)] = t;
        continue;
      }
    }
    chosen.push(t);
  }
  return chosen;
}
