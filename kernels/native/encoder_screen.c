/*
 * The screened encoder of the CPU backend (Concept Atlas; built with sparse_kernels.c by
 * kernels/native_sparse.ts): codes = batchTopk(X Wᵀ + b, k) or topkRows(X Wᵀ + b, k) without the
 * float32 GEMM, and from the same product a second per-row top-k over a subset of the columns
 * (AuxK's dead concepts).
 *
 * 1. X (n x d) and W (c x d, one row per concept) are rounded to bfloat16, and
 *    A ≈ X Wᵀ is computed with the AMX tile unit (float32 accumulation), about five times the
 *    float32 GEMM's rate.
 * 2. A bound covers the difference: for every entry,
 *        |A_ij − v_ij| ≤ e_ij = ‖x̃_i‖ ‖δw_j‖ + ‖δx_i‖ (‖w̃_j‖ + ‖δw_j‖) + gam ‖x_i‖ ‖w_j‖ + beta_j,
 *    where v_ij is the float32 value this file computes exactly for the entry (a fixed-order
 *    dot product, plus the bias), x̃ = bf16(x) and δx = x − x̃ (likewise for w). The first two
 *    terms bound x·w − x̃·w̃ = x̃·δw + δx·w̃ + δx·δw by Cauchy–Schwarz, with the actual rounding
 *    errors (about 0.4 of the worst case 2^-8 ‖x‖); gam holds the float32 accumulation of the
 *    tile unit and of the exact dot product ((2 d_pad + d + 32) 2^-24) and the rounding of the
 *    bound's own arithmetic (2^-18); beta_j the bias's rounding (2^-18 |b_j|) and the flushing
 *    of subnormals ((d_pad + d) 2^-125 (1 + max ‖x‖)(1 + ‖w_j‖)). Norms are rounded up. Inputs
 *    with a non-finite value or a norm above 2^30 are refused (the caller then runs the float32
 *    path).
 * 3. With L = A + b − e ≤ v ≤ U = A + b + e, the K-th largest L is a lower bound theta_L of the
 *    K-th largest v: every entry that can be kept has U ≥ theta_L. One pass over A keeps the
 *    entries with U ≥ g for a guess g ≤ theta_L (it also counts L ≥ g, which says whether g
 *    was low enough); theta_L comes from the kept L values.
 * 4. The candidates (U ≥ theta_L, U > 0) get their exact float32 value v; the K largest positive
 *    v (ties: lower flat index) are the codes, in row-major order, and the smallest kept value is
 *    minKept — the same selection as batchTopk over the exact values. Only the rounding of the
 *    kept values differs from a float32 GEMM (another summation order).
 * 5. Per row (the TopK encoder, and the second selection over the allowed columns): theta_i, the
 *    k-th largest L of row i, is a lower bound of its k-th largest v; the candidates are the
 *    entries with U ≥ theta_i (of either sign: a row's k picks may be non-positive), and the k
 *    largest exact values of each row (ties: lower column) are its codes, columns ascending,
 *    values clamped at 0 — the same selection as topkRows over the exact values.
 *
 * Exports:
 *   atlas_screen_ready()          -> 1 when the AMX tile unit is usable by this process
 *   atlas_screen_new()            scratch for a process, grown on demand (never freed)
 *   atlas_encode_screen(ws, base, x, n, d, w, c, bias|0, perRow, K, rowPtr, index, value,
 *                       minKept|0, auxK, auxMask|0, auxRowPtr, auxIndex, auxValue, threads)
 *       -> kept entries of the main selection (batch top-k of K, or top-K of every row), or -1:
 *       use the float32 path; with auxK > 0 also the top-auxK of every row over the columns
 *       whose auxMask value is 0
 *   atlas_screen_stats(ws, out)   out[0..14]: see STATS
 */
#include "common.h"
#include <time.h>

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512F__)
#define HAVE_AMX 1
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* stats: candidates, passes, theta_L, guess, K, refusals (total), then milliseconds of: bf16
 * conversion, tile GEMM, pass(es), theta_L, compaction, exact values, selection (a per-row main
 * selection: all of it under "pass(es)"); then the second selection's candidates and milliseconds */
#define STATS 15
#define STAT_MS 6
#define NBUF 20
typedef struct {
  uint16_t *xb, *wv;  /* bf16 X (np x dp), W in 16-column VNNI blocks (cp/16 x dp/2 x 16 x 2) */
  float *a;           /* A, np x cp */
  float *nx, *px, *qx;      /* per row of X: ‖x‖, ‖bf16(x)‖, ‖x − bf16(x)‖ (rounded up) */
  float *mw, *qw, *rw, *bt; /* per concept: ‖w‖, ‖w − bf16(w)‖, ‖bf16(w)‖ + ‖w − bf16(w)‖, beta */
  float *cu, *cl;     /* candidates of the pass: U, L */
  int32_t *cf;        /* their flat index */
  float *cv, *tmp;    /* exact values of the candidates; selection scratch */
  int32_t *ord, *start; /* counting-sort scratch of the exact values */
  float *rb;          /* per thread, three rows' worth (cp + 16): L values, U values, columns */
  int32_t *ro;        /* per row: candidates, then their offsets (n + 1) */
  uint16_t *am;       /* per 16 columns: the allowed ones (bit l: column 16 blk + l) */
  size_t cap[NBUF]; /* elements allocated, per buffer (in the order of prepare) */
  float memo;         /* last theta_L for memoKey */
  int64_t memoKey;
  double stats[STATS];
} ws_t;

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap && p) return p;
  free(p);
  size_t bytes = (need * elem + 63) & ~(size_t)63;
  void *q = aligned_alloc(64, bytes ? bytes : 64);
  *cap = q ? need : 0;
  return q;
}

void *atlas_screen_new(void) { return calloc(1, sizeof(ws_t)); }
void atlas_screen_stats(void *p, double *out) {
  ws_t *ws = (ws_t *)p;
  for (int t = 0; t < STATS; t++) out[t] = ws->stats[t];
}

#ifndef HAVE_AMX
int atlas_screen_ready(void) { return 0; }
int32_t atlas_encode_screen(void *ws, uint8_t *base, uint32_t x, int32_t n, int32_t d, uint32_t w,
                            int32_t c, uint32_t bias, int32_t perRow, int32_t K_, uint32_t rowPtr,
                            uint32_t index, uint32_t value, uint32_t minKept, int32_t auxK,
                            uint32_t auxMask, uint32_t auxRowPtr, uint32_t auxIndex,
                            uint32_t auxValue, int32_t threads) {
  (void)ws, (void)base, (void)x, (void)n, (void)d, (void)w, (void)c, (void)bias, (void)perRow;
  (void)K_, (void)rowPtr, (void)index, (void)value, (void)minKept, (void)auxK, (void)auxMask;
  (void)auxRowPtr, (void)auxIndex, (void)auxValue, (void)threads;
  return -1;
}
#else

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
static int amx_state = -1;
int atlas_screen_ready(void) {
  if (amx_state < 0) amx_state = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
  return amx_state;
}

/* float32 -> bfloat16, round to nearest even (finite inputs) */
static inline uint16_t bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float widen(uint16_t b) {
  const uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
/* the three norms from float32 sums of squares of d terms, rounded up (2^-12 > d 2^-24 / 2) */
static inline void norms_up(float s2, float h2, float l2, float *n, float *h, float *l) {
  const float up = 1.0f + 0x1p-12f;
  *n = __builtin_sqrtf(s2) * up, *h = __builtin_sqrtf(h2) * up, *l = __builtin_sqrtf(l2) * up;
}

typedef uint32_t u16v __attribute__((vector_size(64)));
/*
 * A row of d floats to dp bfloat16 (zero-padded), with the float32 sums of squares of x, of its
 * bfloat16 value and of the rounding error (16 lanes, then a horizontal sum).
 */
static void conv_row(const float *r, int d, int dp, uint16_t *out, float *s2, float *h2,
                     float *l2) {
  v16 a = {0}, b = {0}, e = {0};
  int t = 0;
  for (; t + 16 <= d; t += 16) {
    const v16 x = ld(r + t);
    u16v u;
    memcpy(&u, &x, 64);
    const u16v q = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const u16v hb = q << 16;
    v16 h;
    memcpy(&h, &hb, 64);
    const v16 l = x - h;
    a += x * x, b += h * h, e += l * l;
    for (int k = 0; k < 16; k++) out[t + k] = (uint16_t)q[k];
  }
  float sa = hsum(a), sb = hsum(b), se = hsum(e);
  for (; t < d; t++) {
    out[t] = bf16(r[t]);
    const float h = widen(out[t]), l = r[t] - h;
    sa += r[t] * r[t], sb += h * h, se += l * l;
  }
  for (; t < dp; t++) out[t] = 0;
  *s2 = sa, *h2 = sb, *l2 = se;
}

/* ---- conversion: bf16 copies and norms -------------------------------------------------------- */
typedef struct {
  const float *x, *w;
  ws_t *ws;
  int n, d, dp, c;
} conv_t;

/* rows [lo, hi) of X (rows past n are zero) */
static void conv_x(void *p_, int lo, int hi) {
  conv_t *p = (conv_t *)p_;
  for (int i = lo; i < hi; i++) {
    uint16_t *o = p->ws->xb + (int64_t)i * p->dp;
    if (i >= p->n) {
      memset(o, 0, (size_t)p->dp * 2);
      continue;
    }
    float s2, h2, l2;
    conv_row(p->x + (int64_t)i * p->d, p->d, p->dp, o, &s2, &h2, &l2);
    norms_up(s2, h2, l2, p->ws->nx + i, p->ws->px + i, p->ws->qx + i);
  }
}
/* 16-concept blocks [lo, hi) of W: wv[((blk dp/2 + t/2) 16 + j) 2 + t%2] = bf16(w_{16 blk + j, t}) */
static void conv_w(void *p_, int lo, int hi) {
  conv_t *p = (conv_t *)p_;
  const int dp = p->dp;
  for (int blk = lo; blk < hi; blk++) {
    uint16_t *o = p->ws->wv + (int64_t)blk * dp * 16;
    for (int j = 0; j < 16; j++) {
      const int row = 16 * blk + j;
      if (row >= p->c) {
        for (int t = 0; t < dp; t++) o[(t >> 1) * 32 + 2 * j + (t & 1)] = 0;
        continue;
      }
      uint16_t tmp[p->dp] __attribute__((aligned(64)));
      float s2, h2, l2;
      conv_row(p->w + (int64_t)row * p->d, p->d, dp, tmp, &s2, &h2, &l2);
      const uint32_t *pairs = (const uint32_t *)tmp;
      uint32_t *o32 = (uint32_t *)o;
      for (int t = 0; t < dp / 2; t++) o32[t * 16 + j] = pairs[t];
      float hn;
      norms_up(s2, h2, l2, p->ws->mw + row, &hn, p->ws->qw + row);
      p->ws->rw[row] = (hn + p->ws->qw[row]) * (1.0f + 0x1p-20f);
    }
  }
}

/* ---- A = bf16(X) bf16(W)ᵀ on the tile unit ---------------------------------------------------- */
typedef struct {
  uint8_t palette, start;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tilecfg_t;
typedef struct {
  const ws_t *ws;
  int dp, cp;
} gemm_t;
#define COLS_PER_CHUNK 1024 /* W columns whose bf16 rows (1.5 MB at d 768) stay in L2 */

/* 32-row blocks [lo, hi): tiles 0-3 accumulate a 32x32 block of A, 4-5 hold X, 6-7 hold W */
static void amx_rows(void *p_, int lo, int hi) {
  gemm_t *p = (gemm_t *)p_;
  tilecfg_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  _tile_loadconfig(&cfg);
  const int dp = p->dp, cp = p->cp;
  const uint16_t *xb = p->ws->xb, *wv = p->ws->wv;
  float *a = p->ws->a;
  for (int j0 = 0; j0 < cp; j0 += COLS_PER_CHUNK) {
    const int j1 = j0 + COLS_PER_CHUNK < cp ? j0 + COLS_PER_CHUNK : cp;
    for (int blk = lo; blk < hi; blk++) {
      const int i = 32 * blk;
      const uint16_t *x0 = xb + (int64_t)i * dp, *x1 = x0 + 16 * (int64_t)dp;
      for (int j = j0; j < j1; j += 32) {
        const uint16_t *w0 = wv + (int64_t)(j / 16) * dp * 16, *w1 = w0 + (int64_t)dp * 16;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int t = 0; t < dp; t += 32) {
          _tile_loadd(4, x0 + t, dp * 2);
          _tile_loadd(5, x1 + t, dp * 2);
          _tile_loadd(6, w0 + (int64_t)t * 16, 64);
          _tile_loadd(7, w1 + (int64_t)t * 16, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
        float *o = a + (int64_t)i * cp + j;
        _tile_stored(0, o, cp * 4);
        _tile_stored(1, o + 16, cp * 4);
        _tile_stored(2, o + 16 * (int64_t)cp, cp * 4);
        _tile_stored(3, o + 16 * (int64_t)cp + 16, cp * 4);
      }
    }
  }
  _tile_release();
}

/* the bound's terms of 16 columns of row i: y = A + b and e (as in pass_part) */
static inline void row_block(const ws_t *ws, const float *row, const float *bias, int j,
                             __mmask16 in, __m512 pi, __m512 qi, __m512 gi, __m512 *y, __m512 *e) {
  const __m512 b = bias ? _mm512_maskz_loadu_ps(in, bias + j) : _mm512_setzero_ps();
  *y = _mm512_add_ps(_mm512_maskz_loadu_ps(in, row + j), b);
  __m512 t = _mm512_fmadd_ps(gi, _mm512_maskz_loadu_ps(in, ws->mw + j),
                             _mm512_maskz_loadu_ps(in, ws->bt + j));
  t = _mm512_fmadd_ps(qi, _mm512_maskz_loadu_ps(in, ws->rw + j), t);
  *e = _mm512_fmadd_ps(pi, _mm512_maskz_loadu_ps(in, ws->qw + j), t);
}

/* ---- the screening pass ------------------------------------------------------------------------ */
typedef struct {
  ws_t *ws;
  const float *bias;
  int n, c, cp, parts;
  float gam, g;
  int64_t segCap;
  int64_t count[MAX_THREADS], countL[MAX_THREADS];
  int overflow[MAX_THREADS];
  int bounds[MAX_THREADS + 1];
} pass_t;

/* thread part t (rows bounds[t]..bounds[t+1]): U, L and flat index of every entry with U ≥ g */
static void pass_part(void *p_, int t, int t1) {
  (void)t1;
  pass_t *p = (pass_t *)p_;
  ws_t *ws = p->ws;
  const int c = p->c, cp = p->cp;
  const int64_t off = (int64_t)t * p->segCap;
  float *cu = ws->cu + off, *cl = ws->cl + off;
  int32_t *cf = ws->cf + off;
  int64_t m = 0, ml = 0;
  const __m512 g = _mm512_set1_ps(p->g);
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int i = p->bounds[t]; i < p->bounds[t + 1]; i++) {
    if (m + c > p->segCap) {
      p->overflow[t] = 1;
      break;
    }
    const float *row = ws->a + (int64_t)i * cp;
    const __m512 pi = _mm512_set1_ps(ws->px[i]), qi = _mm512_set1_ps(ws->qx[i]);
    const __m512 gi = _mm512_set1_ps(p->gam * ws->nx[i]);
    for (int j = 0; j < c; j += 16) {
      const __mmask16 in = c - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (c - j)) - 1);
      __m512 y, e;
      row_block(ws, row, p->bias, j, in, pi, qi, gi, &y, &e);
      const __m512 u = _mm512_add_ps(y, e), l = _mm512_sub_ps(y, e);
      const __mmask16 keep = _mm512_mask_cmp_ps_mask(in, u, g, _CMP_GE_OQ);
      ml += __builtin_popcount(_mm512_mask_cmp_ps_mask(keep, l, g, _CMP_GE_OQ));
      if (!keep) continue;
      const __m512i f = _mm512_add_epi32(_mm512_set1_epi32(i * c + j), lanes);
      _mm512_mask_compressstoreu_ps(cu + m, keep, u);
      _mm512_mask_compressstoreu_ps(cl + m, keep, l);
      _mm512_mask_compressstoreu_epi32(cf + m, keep, f);
      m += __builtin_popcount(keep);
    }
  }
  p->count[t] = m;
  p->countL[t] = ml;
}

/* ---- exact values of the candidates ------------------------------------------------------------ */
#define RESCORE_ROWS 256 /* rows of X per block (768 KB at d 768: they stay in L2) */
typedef struct {
  const float *x, *w, *bias;
  const int32_t *cf;
  float *cv;
  int32_t *ord, *start; /* counting-sort scratch: nc entries; (c + 1) per part */
  int64_t nc;
  int n, c, d;
  int bounds[MAX_THREADS + 1]; /* row blocks of each part */
} rescore_t;
/* out[u] = dot_row(x[u], w[u], d) for u < 4, bit for bit (the same chains, interleaved) */
static inline void dot_rows4(const float *const *x, const float *const *w, int d, float *out) {
  v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
  int t = 0;
  for (; t + 16 <= d; t += 16) {
    a0 += ld(x[0] + t) * ld(w[0] + t);
    a1 += ld(x[1] + t) * ld(w[1] + t);
    a2 += ld(x[2] + t) * ld(w[2] + t);
    a3 += ld(x[3] + t) * ld(w[3] + t);
  }
  out[0] = hsum(a0), out[1] = hsum(a1), out[2] = hsum(a2), out[3] = hsum(a3);
  for (; t < d; t++)
    for (int u = 0; u < 4; u++) out[u] += x[u][t] * w[u][t];
}
static int64_t lower_bound(const int32_t *a, int64_t len, int64_t v) {
  int64_t lo = 0, hi = len;
  while (lo < hi) {
    const int64_t mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
/*
 * Part t (row blocks bounds[t]..bounds[t+1]): cv_e = <x_i, w_j> + b_j for the candidates
 * e = (i, j) of each block, taken concept by concept (a counting sort of the block's candidates
 * by column), so that a row of W is read once per block and the block's rows of X come from L2.
 */
static void rescore_part(void *p_, int t, int t1) {
  (void)t1;
  rescore_t *p = (rescore_t *)p_;
  const int c = p->c, d = p->d;
  int32_t *start = p->start + (int64_t)t * (c + 1);
  for (int blk = p->bounds[t]; blk < p->bounds[t + 1]; blk++) {
    const int r0 = blk * RESCORE_ROWS, r1 = r0 + RESCORE_ROWS < p->n ? r0 + RESCORE_ROWS : p->n;
    const int64_t e0 = lower_bound(p->cf, p->nc, (int64_t)r0 * c);
    const int64_t m = lower_bound(p->cf, p->nc, (int64_t)r1 * c) - e0;
    int32_t *ord = p->ord + e0; /* blocks own disjoint ranges of candidates */
    memset(start, 0, sizeof(int32_t) * ((size_t)c + 1));
    for (int64_t e = e0; e < e0 + m; e++) start[p->cf[e] % c + 1]++;
    for (int j = 0; j < c; j++) start[j + 1] += start[j];
    for (int64_t e = e0; e < e0 + m; e++) ord[start[p->cf[e] % c]++] = (int32_t)(e - e0);
    for (int64_t q = 0; q < m; q += 4) {
      /* four candidates at a time (same or nearby concepts): four independent chains */
      const int g = m - q < 4 ? (int)(m - q) : 4;
      const float *xs[4], *wsr[4];
      int64_t es[4];
      for (int u = 0; u < 4; u++) {
        es[u] = e0 + ord[q + (u < g ? u : 0)];
        const int32_t f = p->cf[es[u]], i = f / c;
        xs[u] = p->x + (int64_t)i * d, wsr[u] = p->w + (int64_t)(f - i * c) * d;
      }
      float s[4];
      dot_rows4(xs, wsr, d, s);
      for (int u = 0; u < g; u++) {
        const int32_t j = p->cf[es[u]] % c;
        p->cv[es[u]] = p->bias ? s[u] + p->bias[j] : s[u];
      }
    }
  }
}

/* e_ij (the pass computes the same sum with fused multiply-adds) */
static inline float bound(const ws_t *ws, float gam, int i, int j) {
  return ws->px[i] * ws->qw[j] + ws->qx[i] * ws->rw[j] + gam * ws->nx[i] * ws->mw[j] + ws->bt[j];
}

/* a guess from a strided sample of L: a fraction mult K/N of the sample lies at or above it */
static float sample_guess(ws_t *ws, const float *bias, int n, int c, int cp, float gam, int64_t K,
                          double mult) {
  const int64_t N = (int64_t)n * c, S = N < 65536 ? N : 65536;
  float *s = ws->tmp;
  for (int64_t q = 0; q < S; q++) {
    const int64_t f = q * N / S;
    const int i = (int)(f / c), j = (int)(f - (int64_t)i * c);
    const float y = ws->a[(int64_t)i * cp + j] + (bias ? bias[j] : 0.0f);
    s[q] = y - bound(ws, gam, i, j);
  }
  int64_t r = (int64_t)((double)K / (double)N * (double)S * mult) + 1;
  if (r > S) return 0x1p-149f;
  const float t = select_desc(s, (int)S, (int)r - 1);
  return t > 0 ? t : 0x1p-149f;
}

/* the caller runs the float32 path */
static int32_t refuse(ws_t *ws) {
  ws->stats[5]++;
  return -1;
}

/*
 * Buffers for n x c with d features and room for `cap` candidates, the bfloat16 copies of X and
 * W and their norms; *gam receives the accumulation term of the bound. -1: refuse.
 */
static int prepare(ws_t *ws, const float *x, const float *w, const float *bias, int n, int d,
                   int c, int64_t cap, int threads, float *gam) {
  const int dp = (d + 31) & ~31, np = (n + 31) & ~31, cp = (c + 31) & ~31;
  struct {
    void **p;
    size_t need, elem;
  } bufs[] = {
      {(void **)&ws->xb, (size_t)np * dp, 2}, {(void **)&ws->wv, (size_t)cp * dp, 2},
      {(void **)&ws->a, (size_t)np * cp, 4},  {(void **)&ws->nx, (size_t)np, 4},
      {(void **)&ws->px, (size_t)np, 4},      {(void **)&ws->qx, (size_t)np, 4},
      {(void **)&ws->mw, (size_t)cp, 4},      {(void **)&ws->qw, (size_t)cp, 4},
      {(void **)&ws->rw, (size_t)cp, 4},      {(void **)&ws->bt, (size_t)cp, 4},
      {(void **)&ws->cu, (size_t)cap, 4},     {(void **)&ws->cl, (size_t)cap, 4},
      {(void **)&ws->cf, (size_t)cap, 4},     {(void **)&ws->cv, (size_t)cap, 4},
      {(void **)&ws->tmp, (size_t)(cap > 65536 ? cap : 65536), 4},
      {(void **)&ws->ord, (size_t)cap, 4},
      {(void **)&ws->start, ((size_t)c + 1) * MAX_THREADS, 4},
      {(void **)&ws->rb, ((size_t)cp + 16) * 3 * MAX_THREADS, 4},
      {(void **)&ws->ro, (size_t)np + 1, 4},
      {(void **)&ws->am, (size_t)cp / 16, 2},
  };
  int grown = 1;
  for (int t = 0; t < NBUF; t++) {
    *bufs[t].p = grow(*bufs[t].p, &ws->cap[t], bufs[t].need, bufs[t].elem);
    grown &= *bufs[t].p != 0;
  }
  if (!grown) return -1;
  conv_t cv = {x, w, ws, n, d, dp, c};
  parallel(conv_x, &cv, np, threads);
  parallel(conv_w, &cv, cp / 16, threads);
  float nmax = 0, mmax = 0;
  for (int i = 0; i < n; i++) nmax = ws->nx[i] > nmax || ws->nx[i] != ws->nx[i] ? ws->nx[i] : nmax;
  for (int j = 0; j < c; j++) mmax = ws->mw[j] > mmax || ws->mw[j] != ws->mw[j] ? ws->mw[j] : mmax;
  if (!(nmax <= 0x1p30f) || !(mmax <= 0x1p30f)) return -1; /* NaN, ±Inf, too large */
  for (int j = 0; j < c; j++) {
    const float b = bias ? bias[j] : 0.0f;
    if (!(b - b == 0.0f)) return -1;
    ws->bt[j] = 0x1p-18f * __builtin_fabsf(b) +
                (float)((double)(dp + d) * 0x1p-125 * (1.0 + nmax) * (1.0 + ws->mw[j]));
  }
  for (int j = c; j < cp; j++) ws->mw[j] = ws->qw[j] = ws->rw[j] = ws->bt[j] = 0;
  *gam = (float)((2.0 * dp + d + 32) * 0x1p-24 * (1 + 0x1p-6) + 0x1p-18);
  return 0;
}

/* exact values cv of the nc candidates cf (flat order), by blocks of rows */
static void rescore(ws_t *ws, const float *x, const float *w, const float *bias, int64_t nc, int n,
                    int c, int d, int threads) {
  rescore_t rs = {x, w, bias, ws->cf, ws->cv, ws->ord, ws->start, nc, n, c, d, {0}};
  const int blocks = (n + RESCORE_ROWS - 1) / RESCORE_ROWS, parts = clamp_threads(threads, blocks);
  for (int t = 0; t <= parts; t++) rs.bounds[t] = (int)((int64_t)blocks * t / parts);
  int range[MAX_THREADS + 1];
  for (int t = 0; t <= MAX_THREADS; t++) range[t] = t;
  fork_join(rescore_part, &rs, range, parts);
}

/*
 * The batch top-k of the screen (A already computed): the codes of the K largest positive exact
 * values; returns the number kept, or -1 (refuse). ms[0..4]: pass(es), theta_L, compaction,
 * exact values, selection.
 */
static int32_t select_batch(ws_t *ws, const float *x, const float *w, const float *bias, int n,
                            int d, int c, float gam, int64_t K, int64_t cap, int32_t *rowPtr,
                            int32_t *index, float *value, float *minKept, int threads) {
  const int cp = (c + 31) & ~31;
  struct timespec T0, T1;
  int tq = STAT_MS + 2;
#define TICK()                                                                                  \
  do {                                                                                          \
    clock_gettime(CLOCK_MONOTONIC, &T1);                                                        \
    ws->stats[tq++] = (T1.tv_sec - T0.tv_sec) * 1e3 + (T1.tv_nsec - T0.tv_nsec) * 1e-6;         \
    T0 = T1;                                                                                    \
  } while (0)
  clock_gettime(CLOCK_MONOTONIC, &T0);
  /* the pass, with guesses: the last theta_L for this shape, then a sample, then lower */
  pass_t ps;
  memset(&ps, 0, sizeof ps);
  ps.ws = ws, ps.bias = bias, ps.n = n, ps.c = c, ps.cp = cp, ps.gam = gam;
  ps.parts = clamp_threads(threads, n);
  ps.segCap = cap / ps.parts;
  for (int t = 0; t <= ps.parts; t++) ps.bounds[t] = (int)((int64_t)n * t / ps.parts);
  int range[MAX_THREADS + 1];
  for (int t = 0; t <= MAX_THREADS; t++) range[t] = t; /* part t of a fork_join is [t, t+1) */
  const int64_t key = ((int64_t)n * 1000003 + c) * 1000003 + K;
  float g = ws->memoKey == key && ws->memo > 0 ? ws->memo * 0.97f : -1.0f;
  int passes = 0, sampled = 0;
  double mult = 1.3; /* sampled guesses aim at mult K entries with L >= g */
  int64_t total = 0, totalL = 0;
  for (;;) {
    if (!(g > 0)) {
      g = sample_guess(ws, bias, n, c, cp, gam, K, mult);
      sampled = 1;
    }
    memset(ps.overflow, 0, sizeof ps.overflow);
    ps.g = g;
    fork_join(pass_part, &ps, range, ps.parts);
    passes++;
    int over = 0;
    total = 0, totalL = 0;
    for (int t = 0; t < ps.parts; t++) over |= ps.overflow[t], total += ps.count[t], totalL += ps.countL[t];
    const int lowest = g <= 0x1p-149f;
    if (!over && (totalL >= K || lowest)) break; /* g ≤ theta_L (or every U > 0 is kept) */
    if (over && (sampled || lowest)) return -1; /* too many even at a sampled guess */
    if (sampled) mult *= 2; /* the sample was too high: aim lower */
    g = -1.0f;              /* (the memo was too low or too high: sample) */
  }
  TICK();
  /* theta_L: the K-th largest L (every L ≥ g is among the kept entries) */
  float thetaL = g;
  if (totalL >= K) {
    int64_t q = 0;
    for (int t = 0; t < ps.parts; t++) {
      const int64_t off = (int64_t)t * ps.segCap;
      for (int64_t e = 0; e < ps.count[t]; e++)
        if (ws->cl[off + e] >= g) ws->tmp[q++] = ws->cl[off + e];
    }
    thetaL = select_desc(ws->tmp, (int)q, (int)(K - 1));
  }
  TICK();
  ws->memo = thetaL, ws->memoKey = key;
  /* compact the candidates (U ≥ theta_L), in flat order */
  int64_t nc = 0;
  for (int t = 0; t < ps.parts; t++) {
    const int64_t off = (int64_t)t * ps.segCap;
    for (int64_t e = 0; e < ps.count[t]; e++)
      if (ws->cu[off + e] >= thetaL) ws->cf[nc++] = ws->cf[off + e];
  }
  TICK();
  rescore(ws, x, w, bias, nc, n, c, d, threads);
  TICK();

  /* the K largest positive exact values; ties by lower flat index */
  int64_t pos = 0;
  for (int64_t e = 0; e < nc; e++)
    if (ws->cv[e] > 0) ws->tmp[pos++] = ws->cv[e];
  float th = 0; /* fewer than K positive: every positive value is kept */
  int64_t ties = 0;
  if (pos >= K) {
    th = select_desc(ws->tmp, (int)pos, (int)(K - 1));
    int64_t above = 0;
    for (int64_t e = 0; e < nc; e++) above += ws->cv[e] > th;
    ties = K - above;
  }
  int64_t o = 0;
  int row = 0;
  rowPtr[0] = 0;
  float minv = 0;
  for (int64_t e = 0; e < nc; e++) {
    const float v = ws->cv[e];
    if (!(v > th || (v == th && ties > 0))) continue;
    if (v == th) ties--;
    const int32_t f = ws->cf[e], i = f / c;
    while (row < i) rowPtr[++row] = (int32_t)o;
    index[o] = f - i * c;
    value[o] = v;
    minv = o == 0 || v < minv ? v : minv;
    o++;
  }
  while (row < n) rowPtr[++row] = (int32_t)o;
  *minKept = minv;
  TICK();
#undef TICK
  ws->stats[0] = (double)nc, ws->stats[1] = passes, ws->stats[2] = thetaL, ws->stats[3] = g;
  return (int32_t)o;
}

/* ---- per-row top-k of the screen ----------------------------------------------------------------- */
typedef struct {
  ws_t *ws;
  const float *bias;
  int n, c, cp, k;
  float gam;
  int64_t segCap;
  int64_t count[MAX_THREADS];
  int overflow[MAX_THREADS];
  int bounds[MAX_THREADS + 1];
} rows_t;


/*
 * One pass over row i's allowed entries with a cut that starts at `cut` and rises (every value
 * it drops lies at or below k kept ones): the L values above the cut go to lb (nb of them), and
 * the entries whose U is at or above the cut so far to (ub, ib) (*nu of them). Returns nb; when
 * nb ≥ k the cut never passed theta_i (the k-th largest L), so theta_i is the k-th largest of lb
 * and every entry with U ≥ theta_i is in (ub, ib). nb < k: the starting cut was above theta_i.
 */
static int row_pass(const rows_t *p, int i, float cut, float *lb, float *ub, int32_t *ib, int *nu) {
  const ws_t *ws = p->ws;
  const int c = p->c, k = p->k;
  const int lim = 8 * k > 256 ? 8 * k : 256;
  const float *row = ws->a + (int64_t)i * p->cp;
  const __m512 pi = _mm512_set1_ps(ws->px[i]), qi = _mm512_set1_ps(ws->qx[i]);
  const __m512 gi = _mm512_set1_ps(p->gam * ws->nx[i]);
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512 cv = _mm512_set1_ps(cut);
  int nb = 0, last = 0, m = 0;
  for (int j = 0; j < c; j += 16) {
    const __mmask16 in = ws->am[j >> 4];
    if (!in) continue;
    __m512 y, e;
    row_block(ws, row, p->bias, j, in, pi, qi, gi, &y, &e);
    const __mmask16 up = _mm512_mask_cmp_ps_mask(in, _mm512_add_ps(y, e), cv, _CMP_GE_OQ);
    if (!up) continue; /* L ≤ U < cut */
    const __m512 l = _mm512_sub_ps(y, e);
    _mm512_mask_compressstoreu_ps(ub + m, up, _mm512_add_ps(y, e));
    _mm512_mask_compressstoreu_epi32(ib + m, up, _mm512_add_epi32(_mm512_set1_epi32(j), lanes));
    m += __builtin_popcount(up);
    const __mmask16 keep = _mm512_mask_cmp_ps_mask(up, l, cv, _CMP_GT_OQ);
    if (!keep) continue;
    _mm512_mask_compressstoreu_ps(lb + nb, keep, l);
    nb += __builtin_popcount(keep);
    if (nb >= lim && nb > last) { /* raise the cut to the k-th largest kept, drop the rest */
      cut = select_desc(lb, nb, k - 1);
      int q = 0;
      for (int u = 0; u < nb; u++)
        if (lb[u] >= cut) lb[q++] = lb[u];
      nb = last = q;
      q = 0;
      for (int u = 0; u < m; u++)
        if (ub[u] >= cut) ub[q] = ub[u], ib[q++] = ib[u];
      m = q;
      cv = _mm512_set1_ps(cut);
    }
  }
  *nu = m;
  return nb;
}

/*
 * Part t (rows bounds[t]..bounds[t+1]): per row, theta_i (the k-th largest L over the allowed
 * columns), the flat indices of the allowed entries with U ≥ theta_i, and ro[i] = their count.
 * The pass starts at a guess below the last row's theta (most entries then fail one compare);
 * a row where the guess was above its theta is passed again from −∞, and the guess's margin
 * adapts. The result does not depend on the guess.
 */
static void rows_part(void *p_, int t, int t1) {
  (void)t1;
  rows_t *p = (rows_t *)p_;
  ws_t *ws = p->ws;
  const int c = p->c, cp = p->cp, k = p->k;
  float *lb = ws->rb + (int64_t)t * 3 * (cp + 16), *ub = lb + cp + 16;
  int32_t *ib = (int32_t *)(ub + cp + 16);
  int32_t *cf = ws->cf + (int64_t)t * p->segCap;
  int64_t m = 0;
  float prev = 0, margin = -1; /* margin < 0: no guess yet */
  for (int i = p->bounds[t]; i < p->bounds[t + 1]; i++) {
    if (m + c > p->segCap) {
      p->overflow[t] = 1;
      break;
    }
    int nu = 0, nb = -1;
    if (margin >= 0) {
      nb = row_pass(p, i, prev - margin, lb, ub, ib, &nu);
      if (nb < k) margin = 2 * margin + 1e-6f; /* the guess was above theta_i: pass again */
      else if (nb > 2 * k) margin *= 0.7f;
    }
    if (nb < k) nb = row_pass(p, i, -__builtin_inff(), lb, ub, ib, &nu);
    const float theta = select_desc(lb, nb, k - 1);
    if (margin < 0) margin = 0.25f * __builtin_fabsf(theta) + 1e-6f;
    prev = theta;
    const int64_t m0 = m;
    for (int u = 0; u < nu; u++)
      if (ub[u] >= theta) cf[m++] = i * c + ib[u];
    ws->ro[i] = (int32_t)(m - m0);
  }
  p->count[t] = m;
}

typedef struct {
  ws_t *ws;
  int c, k, cp;
  int32_t *rowPtr, *index;
  float *value;
  int bounds[MAX_THREADS + 1];
} pick_t;

/* part t: per row, the k largest exact values (ties: lower column), columns ascending, values
 * clamped at 0 (topkRows's codes); ro holds the row offsets into cv / cf */
static void pick_part(void *p_, int t, int t1) {
  (void)t1;
  pick_t *p = (pick_t *)p_;
  ws_t *ws = p->ws;
  const int c = p->c, k = p->k;
  float *tmp = ws->rb + (int64_t)t * 3 * (p->cp + 16);
  for (int i = p->bounds[t]; i < p->bounds[t + 1]; i++) {
    const int32_t e0 = ws->ro[i], e1 = ws->ro[i + 1];
    const float *v = ws->cv + e0;
    const int cnt = e1 - e0;
    memcpy(tmp, v, sizeof(float) * (size_t)cnt);
    const float th = select_desc(tmp, cnt, k - 1);
    int above = 0;
    for (int e = 0; e < cnt; e++) above += v[e] > th;
    int ties = k - above;
    int64_t o = (int64_t)i * k;
    p->rowPtr[i] = (int32_t)o;
    for (int e = 0; e < cnt; e++) {
      if (!(v[e] > th || (v[e] == th && ties > 0))) continue;
      if (v[e] == th) ties--;
      p->index[o] = ws->cf[e0 + e] - i * c;
      p->value[o] = v[e] > 0 ? v[e] : 0.0f;
      o++;
    }
  }
}

/*
 * The per-row top-k of the screen (A already computed) over the columns whose mask value is 0
 * (every column without a mask): rowPtr/index/value as topkRows writes them. Returns n k, or -1
 * (refuse: fewer than k allowed columns, too many candidates). *ms: the time taken; *cand: the
 * entries whose exact value was computed.
 */
static int32_t select_rows(ws_t *ws, const float *x, const float *w, const float *bias,
                           const float *mask, int n, int d, int c, float gam, int k, int64_t cap,
                           int32_t *rowPtr, int32_t *index, float *value, int threads,
                           double *ms, double *cand) {
  struct timespec T0, T1;
  clock_gettime(CLOCK_MONOTONIC, &T0);
  const int cp = (c + 31) & ~31;
  int allowed = 0;
  for (int j = 0; j < cp; j += 16) {
    uint32_t bits = 0;
    for (int l = 0; l < 16 && j + l < c; l++)
      if (!mask || mask[j + l] == 0.0f) bits |= 1u << l;
    ws->am[j >> 4] = (uint16_t)bits;
    allowed += __builtin_popcount(bits);
  }
  if (k < 1 || allowed < k) return -1;
  rows_t rp;
  memset(&rp, 0, sizeof rp);
  rp.ws = ws, rp.bias = bias, rp.n = n, rp.c = c, rp.cp = cp, rp.k = k, rp.gam = gam;
  const int parts = clamp_threads(threads, n);
  rp.segCap = cap / parts;
  for (int t = 0; t <= parts; t++) rp.bounds[t] = (int)((int64_t)n * t / parts);
  int range[MAX_THREADS + 1];
  for (int t = 0; t <= MAX_THREADS; t++) range[t] = t;
  fork_join(rows_part, &rp, range, parts);
  for (int t = 0; t < parts; t++)
    if (rp.overflow[t]) return -1;
  /* compact the parts' segments (rows ascending) and turn the counts into offsets */
  int64_t nc = 0;
  for (int t = 0; t < parts; t++) {
    const int64_t off = (int64_t)t * rp.segCap;
    if (nc != off) memmove(ws->cf + nc, ws->cf + off, sizeof(int32_t) * (size_t)rp.count[t]);
    nc += rp.count[t];
  }
  if (nc >= (1ll << 31)) return -1;
  int32_t run = 0;
  for (int i = 0; i < n; i++) {
    const int32_t r = ws->ro[i];
    ws->ro[i] = run, run += r;
  }
  ws->ro[n] = run;
  rescore(ws, x, w, bias, nc, n, c, d, threads);
  pick_t pk = {ws, c, k, cp, rowPtr, index, value, {0}};
  for (int t = 0; t <= parts; t++) pk.bounds[t] = rp.bounds[t];
  fork_join(pick_part, &pk, range, parts);
  rowPtr[n] = (int32_t)((int64_t)n * k);
  clock_gettime(CLOCK_MONOTONIC, &T1);
  *ms = (T1.tv_sec - T0.tv_sec) * 1e3 + (T1.tv_nsec - T0.tv_nsec) * 1e-6;
  *cand = (double)nc;
  return (int32_t)((int64_t)n * k);
}

int32_t atlas_encode_screen(void *ws_, uint8_t *base, uint32_t x_, int32_t n, int32_t d,
                            uint32_t w_, int32_t c, uint32_t bias_, int32_t perRow, int32_t K_,
                            uint32_t rowPtr_, uint32_t index_, uint32_t value_, uint32_t minKept_,
                            int32_t auxK, uint32_t auxMask_, uint32_t auxRowPtr_,
                            uint32_t auxIndex_, uint32_t auxValue_, int32_t threads) {
  ws_t *ws = (ws_t *)ws_;
  int64_t K = K_;
  for (int t = 0; t < STATS; t++) ws->stats[t] = t == 5 ? ws->stats[t] : 0;
  if (!atlas_screen_ready() || n < 1 || c < 1 || d < 1 || (int64_t)n * c >= (1ll << 31) || K < 1)
    return -1;
  if (perRow && (K > c || (int64_t)n * K >= (1ll << 31))) return -1;
  if (auxK < 0 || auxK > c || (int64_t)n * auxK >= (1ll << 31)) return -1;
  const float *x = AT(const float, x_), *w = AT(const float, w_);
  const float *bias = bias_ ? AT(const float, bias_) : 0;
  const int64_t N = (int64_t)n * c;
  if (!perRow && K > N) K = N;
  /* candidates: about K for the batch, k (plus near-ties) a row for the per-row selections */
  int64_t cap = 4 * (perRow ? (int64_t)n * K : K) + 65536;
  if (4 * (int64_t)n * auxK + 65536 > cap) cap = 4 * (int64_t)n * auxK + 65536;
  const int64_t most = N + (int64_t)(c + 16) * MAX_THREADS;
  if (cap > most) cap = most;

  struct timespec T0, T1;
  clock_gettime(CLOCK_MONOTONIC, &T0);
  float gam;
  if (prepare(ws, x, w, bias, n, d, c, cap, threads, &gam) < 0) return refuse(ws);
  clock_gettime(CLOCK_MONOTONIC, &T1);
  ws->stats[STAT_MS] = (T1.tv_sec - T0.tv_sec) * 1e3 + (T1.tv_nsec - T0.tv_nsec) * 1e-6;
  T0 = T1;
  const int dp = (d + 31) & ~31, np = (n + 31) & ~31, cp = (c + 31) & ~31;
  gemm_t gm = {ws, dp, cp};
  parallel(amx_rows, &gm, np / 32, threads);
  clock_gettime(CLOCK_MONOTONIC, &T1);
  ws->stats[STAT_MS + 1] = (T1.tv_sec - T0.tv_sec) * 1e3 + (T1.tv_nsec - T0.tv_nsec) * 1e-6;

  int32_t *rowPtr = AT(int32_t, rowPtr_), *index = AT(int32_t, index_);
  float *value = AT(float, value_);
  int32_t kept;
  if (perRow) {
    double cand = 0;
    kept = select_rows(ws, x, w, bias, 0, n, d, c, gam, (int)K, cap, rowPtr, index, value,
                       threads, &ws->stats[STAT_MS + 2], &cand);
    ws->stats[0] = cand, ws->stats[1] = 1;
  } else {
    kept = select_batch(ws, x, w, bias, n, d, c, gam, K, cap, rowPtr, index, value,
                        AT(float, minKept_), threads);
  }
  if (kept < 0) return refuse(ws);
  ws->stats[4] = (double)K;
  if (auxK > 0) {
    const int32_t a = select_rows(ws, x, w, bias, AT(const float, auxMask_), n, d, c, gam, auxK,
                                  cap, AT(int32_t, auxRowPtr_), AT(int32_t, auxIndex_),
                                  AT(float, auxValue_), threads, &ws->stats[14], &ws->stats[13]);
    if (a < 0) return refuse(ws);
  }
  return kept;
}
#endif
