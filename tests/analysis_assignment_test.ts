import assert from "node:assert/strict";
import { Rng } from "../data/random.ts";
import { type AssignmentOptions, linearAssignment } from "../analysis/assignment.ts";
import { seedLikeDictionaries } from "../analysis/assignment_synthetic.ts";

/** Brute force: the best sum over every injection of the smaller side into the larger. */
function bruteForce(a: ArrayLike<number>, n: number, m: number, maximize: boolean): number {
  let best = maximize ? -Infinity : Infinity;
  const k = Math.min(n, m);
  const used = new Uint8Array(Math.max(n, m));
  const rec = (t: number, acc: number) => {
    if (t === k) {
      if (maximize ? acc > best : acc < best) best = acc;
      return;
    }
    for (let s = 0; s < Math.max(n, m); s++) {
      if (used[s]) continue;
      used[s] = 1;
      rec(t + 1, acc + (n <= m ? a[t * m + s] : a[s * m + t]));
      used[s] = 0;
    }
  };
  rec(0, 0);
  return best;
}

/**
 * Independent float64 reference: the O(n²m) Hungarian algorithm with potentials (Kuhn–Munkres,
 * e-maxx formulation) on a rows ≤ cols minimisation; transposes otherwise.
 */
function hungarianReference(
  a: ArrayLike<number>,
  n: number,
  m: number,
  maximize: boolean,
): { total: number; rowToCol: Int32Array } {
  const flip = n > m;
  const R = flip ? m : n, C = flip ? n : m;
  const cost = (i: number, j: number) => {
    const x = flip ? a[j * m + i] : a[i * m + j];
    return maximize ? -x : x;
  };
  const u = new Float64Array(R + 1), v = new Float64Array(C + 1);
  const p = new Int32Array(C + 1), way = new Int32Array(C + 1);
  for (let i = 1; i <= R; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(C + 1).fill(Infinity);
    const used = new Uint8Array(C + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity, j1 = 0;
      for (let j = 1; j <= C; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= C; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Int32Array(n).fill(-1);
  let total = 0;
  for (let j = 1; j <= C; j++) {
    if (p[j] === 0) continue;
    const [r, c] = flip ? [j - 1, p[j] - 1] : [p[j] - 1, j - 1];
    rowToCol[r] = c;
    total += a[r * m + c];
  }
  return { total, rowToCol };
}

function randomMatrix(n: number, m: number, rng: Rng, integer = false): Float32Array {
  const a = new Float32Array(n * m);
  for (let t = 0; t < a.length; t++) a[t] = integer ? rng.int(5) : rng.normal();
  return a;
}

/** The assignment is a valid matching of min(n, m) pairs with the reported total. */
function checkMatching(
  a: Float32Array,
  n: number,
  m: number,
  r: ReturnType<typeof linearAssignment>,
) {
  let pairs = 0, total = 0;
  const seen = new Uint8Array(m);
  for (let i = 0; i < n; i++) {
    const j = r.rowToCol[i];
    if (j < 0) continue;
    assert.ok(j < m && !seen[j], `column ${j} used twice`);
    seen[j] = 1;
    assert.equal(r.colToRow[j], i);
    pairs++;
    total += a[i * m + j];
  }
  assert.equal(pairs, Math.min(n, m));
  assert.ok(Math.abs(total - r.total) < 1e-9);
  assert.ok(r.stats.certified);
}

/** Every solver path: dense, and sparse with tiny candidate sets (forces enlargement/fallback). */
const PATHS: AssignmentOptions[] = [
  { method: "dense" },
  { method: "sparse" },
  { method: "sparse", candidatesPerRow: 1, candidatesPerCol: 0 },
  { method: "sparse", candidatesPerRow: 2, candidatesPerCol: 1, maxRounds: 2 },
];

Deno.test("assignment equals brute force on every shape up to 7×7, both senses, every path", () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 40; trial++) {
    const n = 1 + rng.int(7), m = 1 + rng.int(7);
    const a = randomMatrix(n, m, rng, trial % 2 === 0);
    for (const maximize of [false, true]) {
      const want = bruteForce(a, n, m, maximize);
      for (const path of PATHS) {
        const r = linearAssignment(a, n, m, { ...path, maximize });
        checkMatching(a, n, m, r);
        assert.ok(
          Math.abs(r.total - want) < 1e-9,
          `${n}×${m} ${JSON.stringify(path)} max=${maximize}: ${r.total} ≠ ${want}`,
        );
      }
    }
  }
});

Deno.test("assignment equals brute force on 8×8 (all 40320 permutations)", () => {
  const rng = new Rng(12);
  for (let trial = 0; trial < 3; trial++) {
    const a = randomMatrix(8, 8, rng);
    const want = bruteForce(a, 8, 8, true);
    for (const path of PATHS) {
      const r = linearAssignment(a, 8, 8, { ...path, maximize: true });
      assert.ok(Math.abs(r.total - want) < 1e-9, `${r.total} ≠ ${want}`);
    }
  }
});

Deno.test("assignment equals a float64 Hungarian reference on larger random and rectangular matrices", () => {
  const rng = new Rng(13);
  for (const [n, m] of [[90, 90], [70, 130], [130, 70], [150, 150]]) {
    for (const integer of [false, true]) {
      const a = randomMatrix(n, m, rng, integer);
      for (const maximize of [false, true]) {
        const ref = hungarianReference(a, n, m, maximize);
        for (const path of PATHS) {
          const r = linearAssignment(a, n, m, { ...path, maximize });
          checkMatching(a, n, m, r);
          assert.ok(
            Math.abs(r.total - ref.total) < 1e-7,
            `${n}×${m} int=${integer} ${JSON.stringify(path)}: ${r.total} ≠ ${ref.total}`,
          );
        }
      }
    }
  }
});

/** S = A·Bᵀ in float32 via float64 accumulation (small sizes only). */
function similarity(a: Float32Array, ca: number, b: Float32Array, cb: number, d: number) {
  const s = new Float32Array(ca * cb);
  for (let i = 0; i < ca; i++) {
    for (let j = 0; j < cb; j++) {
      let acc = 0;
      for (let t = 0; t < d; t++) acc += a[i * d + t] * b[j * d + t];
      s[i * cb + j] = acc;
    }
  }
  return s;
}

Deno.test("sparse certified solve equals the reference on seed-like dictionaries (square and rectangular)", () => {
  for (const [c, cB, seed] of [[400, 400, 1], [300, 420, 2], [420, 300, 3]]) {
    const d = 48;
    const p = seedLikeDictionaries(c, d, seed, { cB, sharedFraction: 0.6, noise: 0.6 });
    const s = similarity(p.a, c, p.b, cB, d);
    const ref = hungarianReference(s, c, cB, true);
    const r = linearAssignment(s, c, cB, { maximize: true });
    checkMatching(s, c, cB, r);
    assert.equal(r.stats.method, "sparse");
    assert.ok(Math.abs(r.total - ref.total) < 1e-6, `${c}×${cB}: ${r.total} ≠ ${ref.total}`);
    // Most planted partners are recovered (the instance is not trivial, but structured).
    let hit = 0, planted = 0;
    for (let i = 0; i < c; i++) {
      if (p.partner[i] < 0) continue;
      planted++;
      if (r.rowToCol[i] === p.partner[i]) hit++;
    }
    assert.ok(hit > 0.9 * planted, `recovered ${hit}/${planted}`);
  }
});

Deno.test("a permuted copy is matched back exactly (identity of the permutation)", () => {
  const rng = new Rng(5);
  const c = 300, d = 32;
  const p = seedLikeDictionaries(c, d, 9, { sharedFraction: 0 });
  const perm = rng.permutation(c);
  const b = new Float32Array(c * d);
  for (let r = 0; r < c; r++) b.set(p.a.subarray(perm[r] * d, perm[r] * d + d), r * d);
  const s = similarity(p.a, c, b, c, d);
  const r = linearAssignment(s, c, c, { maximize: true });
  for (let k = 0; k < c; k++) assert.equal(r.rowToCol[perm[k]], k);
});

Deno.test("assignment rejects bad input with a named reason", () => {
  assert.throws(() => linearAssignment(new Float32Array(5), 2, 3), RangeError);
  const a = new Float32Array([0, 1, NaN, 2]);
  assert.throws(() => linearAssignment(a, 2, 2), /entry \(1, 0\) is NaN/);
  const e = linearAssignment(new Float32Array(0), 0, 4);
  assert.equal(e.total, 0);
  assert.deepEqual(Array.from(e.colToRow), [-1, -1, -1, -1]);
});
