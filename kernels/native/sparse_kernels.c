/*
 * Native kernels of the CPU backend: the sparse products and the optimiser passes of a training
 * step (Concept Atlas; kernels/native_sparse.ts builds and
 * loads this file with the system C compiler; without one the backend uses its WebAssembly
 * kernels). Every tensor lives in the backend's WebAssembly memory: functions take that memory's
 * base address and byte offsets into it. Shapes are row-major float32; sparse codes are CSR
 * (rowPtr i32 [n+1], index i32, value f32); the gather's column view (colPtr i32 [c+1], slotRow,
 * slotEntry) is built by the backend.
 *
 * Slabs: a sparse product reads, per entry (i, j), a whole row of a matrix that does not fit the
 * per-core L2 cache (the dictionary: 6144 x 3 KB), so a row-by-row kernel runs at memory speed.
 * These kernels first copy the gathered matrix into slab-major order (slab s holds floats
 * 64s..64s+63 of every row, zero-padded, contiguous), then sweep slab by slab: the slab being
 * gathered (c x 256 B = 1.5 MB) stays in L2, and a row's piece is four 512-bit registers.
 *
 * The optimiser kernels are plain streaming loops over rows (one pass where the wasm path needs
 * two or three).
 *
 * Exports (all synchronous; `threads` >= 1 worker threads are started per call):
 *   atlas_native_version()                                     -> ABI version
 *   atlas_native_slab()                                        -> floats per slab
 *   atlas_resid(base, rowPtr, index, value, dict, d, bias|0, x|0, scale, out, rowSs|0, vals|0,
 *               n, c, pack, threads)
 *       out_i = scale * (Z_i D + bias - x_i)   (x = 0: out_i = Z_i D + bias, scale ignored)
 *       rowSs_i = || Z_i D + bias - x_i ||^2   (when rowSs and x are given)
 *       vals_e = < out_i, D_j >                (when vals is given)
 *   atlas_sample(base, g, dict, d, rowPtr, index, vals, n, c, pack, threads)
 *       vals_e = < G_i, D_j >
 *   atlas_gather(base, colPtr, slotRow, slotEntry, vals, src, d, out, beta, c, n, pack, threads)
 *       out_j = beta out_j + sum_{s in column j, vals != 0} vals[slotEntry_s] src_{slotRow_s}
 *       (beta 0 overwrites, even NaN; a zero value is skipped, even over a NaN source row)
 *   atlas_topk_rows(base, pre, n, c, k, rowPtr, index, value, threads)
 *       per row of pre (n x c): the k largest entries (ties: lower column first), value
 *       max(pre, 0), columns ascending; rowPtr[i] = i k. The k-th largest of the maxima of the
 *       row's groups of 16 (8, 4, 2, 1: at least 4k groups) entries bounds the k-th largest
 *       entry from below: one pass keeps the entries at or above it, an exact selection among
 *       those picks the k. Rows with NaN or an infinity, and k above a quarter of the entries,
 *       take a min-heap of k instead (the same result).
 *   atlas_scale_rows(base, v, a, rows, cols, out, beta, threads)
 *       out_i = beta out_i + v_i a_i (beta 0 overwrites, even NaN)
 *   atlas_removepar(base, dict, grad, rows, d, rowSs|0, threads)
 *       grad_j -= <grad_j, D_j> D_j (unit rows D); rowSs_j = || grad_j ||^2 after
 *   atlas_adamw(base, p, g, m, v, rows, cols, beta1, a1, beta2, a2, stepSize, invSqrtBc2, eps,
 *               decay, normalize, threads)
 *       m = beta1 m + a1 g; v = beta2 v + a2 g^2; p = decay p - stepSize m / (sqrt(v) invSqrtBc2
 *       + eps), then (normalize) each row of p (rows x cols) scaled to unit norm (zero rows kept)
 * `pack` is scratch of at least ceil(d/SLAB)*SLAB*max(n, c) floats (64-byte aligned).
 */

#include "common.h"
#if defined(__AVX__) && !defined(__AVX512F__)
#include <immintrin.h>
#endif

#ifndef SLAB
#define SLAB 64 /* floats per slab: a multiple of 16 */
#endif
#define NV (SLAB / 16)
/*
 * The sparse products' inner loops keep two partial sums of a row piece in registers, as `rv`
 * vectors of the machine's width (RW floats): with 32 registers of 16 floats (AVX-512) a whole
 * slab at once; with 16 registers of 8 (AVX2) a half slab at a time. The generic 16-float type
 * would not fit there and GCC keeps its pieces on the stack. Either way each lane's operations
 * run in the same order, so the sums are the same bits.
 */
#ifdef __AVX512F__
#define RW 16
#define PARTS 1
#else
#define RW 8
#define PARTS 2
#endif
typedef float rv __attribute__((vector_size(4 * RW)));
typedef float rvu __attribute__((vector_size(4 * RW), aligned(4)));
#define RH (SLAB / RW / PARTS) /* register pieces of one part */
static inline rv ldr(const float *p) { return *(const rvu *)p; }
static inline rv splatr(float x) { return (rv){0} + x; }

/*
 * Two interleaved partial sums (even and odd entries, hiding the multiply-add latency) of
 * value(e) * piece(e) over the entries e in [e0, e1) with a nonzero value when `skip0`, into
 * out[0..SLAB): piece(e) = rows + row(e) * SLAB, the slab piece of the row of entry e; out =
 * even + odd. row(e) = idx[e], value(e) = val[vix ? vix[e] : e].
 */
static inline void slab_sums(const float *rows, const int32_t *idx, const int32_t *vix,
                             const float *val, int e0, int e1, int skip0, float *out) {
  for (int h = 0; h < PARTS; h++) {
    const int f0 = h * RH * RW;
    rv acc[RH] = {0}, acc2[RH] = {0};
    int e = e0;
    for (; e + 1 < e1; e += 2) {
      const float v0 = val[vix ? vix[e] : e], v1 = val[vix ? vix[e + 1] : e + 1];
      if (!skip0 || v0 != 0.0f) {
        const float *q = rows + (int64_t)idx[e] * SLAB + f0;
        for (int u = 0; u < RH; u++) acc[u] += splatr(v0) * ldr(q + RW * u);
      }
      if (!skip0 || v1 != 0.0f) {
        const float *q = rows + (int64_t)idx[e + 1] * SLAB + f0;
        for (int u = 0; u < RH; u++) acc2[u] += splatr(v1) * ldr(q + RW * u);
      }
    }
    if (e < e1) {
      const float v0 = val[vix ? vix[e] : e];
      if (!skip0 || v0 != 0.0f) {
        const float *q = rows + (int64_t)idx[e] * SLAB + f0;
        for (int u = 0; u < RH; u++) acc[u] += splatr(v0) * ldr(q + RW * u);
      }
    }
    for (int u = 0; u < RH; u++) *(rvu *)(out + f0 + RW * u) = acc[u] + acc2[u];
  }
}

/* ---- slab-major copies ------------------------------------------------------------------------ */
typedef struct {
  const float *src;
  float *dst;
  int rows, d, slabs;
} pack_t;
/* dst[(s*rows + i)*SLAB + t] = src[i*d + SLAB*s + t] (0 past d), rows [lo, hi) */
static void pack_rows(void *a, int lo, int hi) {
  pack_t *p = (pack_t *)a;
  for (int i = lo; i < hi; i++) {
    const float *row = p->src + (int64_t)i * p->d;
    for (int s = 0; s < p->slabs; s++) {
      float *o = p->dst + ((int64_t)s * p->rows + i) * SLAB;
      int w = p->d - s * SLAB;
      if (w >= SLAB) {
        for (int u = 0; u < NV; u++) st(o + 16 * u, ld(row + s * SLAB + 16 * u));
      } else {
        for (int t = 0; t < SLAB; t++) o[t] = t < w ? row[s * SLAB + t] : 0.0f;
      }
    }
  }
}
static void pack(const float *src, int rows, int d, float *dst, int threads) {
  pack_t p = {src, dst, rows, d, (d + SLAB - 1) / SLAB};
  parallel(pack_rows, &p, rows, threads);
}

/* load / store w <= SLAB floats of a row piece as NV registers (zero-padded) */
static inline void load_piece(const float *p, int w, v16 *x) {
  if (w >= SLAB) {
    for (int u = 0; u < NV; u++) x[u] = ld(p + 16 * u);
    return;
  }
  float tmp[SLAB] __attribute__((aligned(64))) = {0};
  memcpy(tmp, p, (size_t)w * sizeof(float));
  for (int u = 0; u < NV; u++) x[u] = ld(tmp + 16 * u);
}
static inline void store_piece(float *p, int w, const v16 *x) {
  if (w >= SLAB) {
    for (int u = 0; u < NV; u++) st(p + 16 * u, x[u]);
    return;
  }
  float tmp[SLAB] __attribute__((aligned(64)));
  for (int u = 0; u < NV; u++) st(tmp + 16 * u, x[u]);
  memcpy(p, tmp, (size_t)w * sizeof(float));
}
static inline int slab_width(int d, int s) { return d - s * SLAB < SLAB ? d - s * SLAB : SLAB; }

/* ---- decode / residual / sample by rows ------------------------------------------------------- */
typedef struct {
  const int32_t *rowPtr, *index;
  const float *value, *dictPack, *bias, *x, *g;
  float *out, *rowSs, *vals;
  float scale;
  int d, c, slabs;
} rows_t;

/*
 * The lane sums of 16 vectors, as one vector (lane l = sum of x[l]): a transposing tree of
 * pairwise folds, three operations per vector instead of a full horizontal sum each.
 */
static inline v16 fold2(v16 a, v16 b) { /* lanes 0-7: a folded to 8, lanes 8-15: b */
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
         __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30,
                                 31);
}
static inline v16 fold4(v16 a, v16 b) { /* groups of 8 -> groups of 4 */
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
         __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}
static inline v16 fold8(v16 a, v16 b) { /* groups of 4 -> groups of 2 */
  return __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
         __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
}
static inline v16 fold16(v16 a, v16 b) { /* groups of 2 -> single lanes */
  return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
static inline v16 sum16(const v16 *x) {
  v16 h[8], q[4], r[2];
  for (int t = 0; t < 8; t++) h[t] = fold2(x[2 * t], x[2 * t + 1]);
  for (int t = 0; t < 4; t++) q[t] = fold4(h[2 * t], h[2 * t + 1]);
  for (int t = 0; t < 2; t++) r[t] = fold8(q[2 * t], q[2 * t + 1]);
  return fold16(r[0], r[1]);
}
/* <g, D piece> as one vector of partial sums */
static inline v16 dot_piece(const v16 *g, const float *q) {
  v16 x = g[0] * ld(q);
  for (int u = 1; u < NV; u++) x += g[u] * ld(q + 16 * u);
  return x;
}

/*
 * vals_e += <g, piece(e)> for the entries e in [e0, e1), piece(e) = Ds + index[e] * SLAB, g one
 * slab piece (SLAB floats): the dot product's 16 lanes (products summed over the NV vectors) and
 * then their {@link hsum} tree. With 16-float registers, 16 entries at a time through the folds
 * of {@link sum16} (the same tree, lane by lane); with 8-float registers, each lane pair (l, l+8)
 * as one 8-float vector, which is that tree's first level.
 */
static inline void sample_slab(const float *g, const float *Ds, const int32_t *index, int e0,
                               int e1, float *vals) {
#ifdef __AVX512F__
  v16 gi[NV];
  for (int u = 0; u < NV; u++) gi[u] = ld(g + 16 * u);
  int e = e0;
  for (; e + 15 < e1; e += 16) {
    v16 x[16];
    for (int u = 0; u < 16; u++) x[u] = dot_piece(gi, Ds + (int64_t)index[e + u] * SLAB);
    st(vals + e, ld(vals + e) + sum16(x));
  }
  for (; e < e1; e++) vals[e] += hsum(dot_piece(gi, Ds + (int64_t)index[e] * SLAB));
#else
  typedef float v8u __attribute__((vector_size(32), aligned(4)));
  v8 lo[NV], hi[NV];
  for (int u = 0; u < NV; u++) {
    lo[u] = *(const v8u *)(g + 16 * u);
    hi[u] = *(const v8u *)(g + 16 * u + 8);
  }
  for (int e = e0; e < e1; e++) {
    const float *q = Ds + (int64_t)index[e] * SLAB;
    v8 xl = lo[0] * *(const v8u *)q, xh = hi[0] * *(const v8u *)(q + 8);
    for (int u = 1; u < NV; u++) {
      xl += lo[u] * *(const v8u *)(q + 16 * u);
      xh += hi[u] * *(const v8u *)(q + 16 * u + 8);
    }
    const v8 a = xl + xh;
    const v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    vals[e] += (b[0] + b[2]) + (b[1] + b[3]);
  }
#endif
}

/* out_i (and rowSs_i) for rows [lo, hi), slab by slab */
static void decode_rows(void *a, int lo, int hi) {
  rows_t *p = (rows_t *)a;
  if (p->rowSs && p->x)
    for (int i = lo; i < hi; i++) p->rowSs[i] = 0.0f;
  if (p->x && p->vals)
    for (int e = p->rowPtr[lo]; e < p->rowPtr[hi]; e++) p->vals[e] = 0.0f;
  const v16 sc = splat(p->scale);
  float sum[SLAB] __attribute__((aligned(64)));
  for (int s = 0; s < p->slabs; s++) {
    const float *Ds = p->dictPack + (int64_t)s * p->c * SLAB;
    const int w = slab_width(p->d, s);
    for (int i = lo; i < hi; i++) {
      const int e1 = p->rowPtr[i + 1];
      slab_sums(Ds, p->index, 0, p->value, p->rowPtr[i], e1, 0, sum);
      v16 acc[NV];
      for (int u = 0; u < NV; u++) acc[u] = ld(sum + 16 * u);
      if (p->bias) {
        v16 b[NV];
        load_piece(p->bias + s * SLAB, w, b);
        for (int u = 0; u < NV; u++) acc[u] += b[u];
      }
      float *o = p->out + (int64_t)i * p->d + s * SLAB;
      if (p->x) {
        v16 x[NV], sq = {0};
        load_piece(p->x + (int64_t)i * p->d + s * SLAB, w, x);
        for (int u = 0; u < NV; u++) {
          acc[u] -= x[u];
          sq += acc[u] * acc[u];
          acc[u] *= sc;
        }
        if (p->rowSs) p->rowSs[i] += hsum(sq);
      }
      store_piece(o, w, acc);
      if (p->x && p->vals) {
        /* the sample on this slab while its pieces are in L1: vals_e += <r_i piece, D_j piece> */
        for (int u = 0; u < NV; u++) st(sum + 16 * u, acc[u]);
        sample_slab(sum, Ds, p->index, p->rowPtr[i], e1, p->vals);
      }
    }
  }
}

/* vals_e = <g_i, D_j> for the entries of rows [lo, hi) (g = p->g, or out when g is null) */
static void sample_rows(void *a, int lo, int hi) {
  rows_t *p = (rows_t *)a;
  const float *g = p->g ? p->g : p->out;
  float piece[SLAB] __attribute__((aligned(64)));
  for (int e = p->rowPtr[lo]; e < p->rowPtr[hi]; e++) p->vals[e] = 0.0f;
  for (int s = 0; s < p->slabs; s++) {
    const float *Ds = p->dictPack + (int64_t)s * p->c * SLAB;
    const int w = slab_width(p->d, s);
    for (int i = lo; i < hi; i++) {
      v16 gi[NV];
      load_piece(g + (int64_t)i * p->d + s * SLAB, w, gi);
      for (int u = 0; u < NV; u++) st(piece + 16 * u, gi[u]);
      sample_slab(piece, Ds, p->index, p->rowPtr[i], p->rowPtr[i + 1], p->vals);
    }
  }
}

static void decode_sample_rows(void *a, int lo, int hi) {
  rows_t *p = (rows_t *)a;
  decode_rows(a, lo, hi);
  if (p->vals && !p->x) sample_rows(a, lo, hi); /* with x the sample is fused in */
}


int atlas_native_version(void) { return 6; }
int atlas_native_slab(void) { return SLAB; }

void atlas_resid(uint8_t *base, uint32_t rowPtr, uint32_t index, uint32_t value, uint32_t dict,
                 int32_t d, uint32_t bias, uint32_t x, float scale, uint32_t out, uint32_t rowSs,
                 uint32_t vals, int32_t n, int32_t c, uint32_t packOff, int32_t threads) {
  float *dp = AT(float, packOff);
  pack(AT(const float, dict), c, d, dp, threads);
  rows_t p = {AT(const int32_t, rowPtr),
              AT(const int32_t, index),
              AT(const float, value),
              dp,
              bias ? AT(const float, bias) : 0,
              x ? AT(const float, x) : 0,
              0,
              AT(float, out),
              rowSs ? AT(float, rowSs) : 0,
              vals ? AT(float, vals) : 0,
              scale,
              d,
              c,
              (d + SLAB - 1) / SLAB};
  parallel(decode_sample_rows, &p, n, threads);
}

void atlas_sample(uint8_t *base, uint32_t g, uint32_t dict, int32_t d, uint32_t rowPtr,
                  uint32_t index, uint32_t vals, int32_t n, int32_t c, uint32_t packOff,
                  int32_t threads) {
  float *dp = AT(float, packOff);
  pack(AT(const float, dict), c, d, dp, threads);
  rows_t p = {AT(const int32_t, rowPtr),
              AT(const int32_t, index),
              0,
              dp,
              0,
              0,
              AT(const float, g),
              0,
              0,
              AT(float, vals),
              1.0f,
              d,
              c,
              (d + SLAB - 1) / SLAB};
  parallel(sample_rows, &p, n, threads);
}

/* ---- gather by concept ---------------------------------------------------------------------- */
typedef struct {
  const int32_t *colPtr, *slotRow, *slotEntry;
  const float *vals, *srcPack;
  float *out;
  float beta;
  int d, n, slabs;
} gather_t;

static void gather_cols(void *a, int lo, int hi) {
  gather_t *p = (gather_t *)a;
  const v16 bv = splat(p->beta);
  float sum[SLAB] __attribute__((aligned(64)));
  for (int s = 0; s < p->slabs; s++) {
    const float *Ss = p->srcPack + (int64_t)s * p->n * SLAB;
    const int w = slab_width(p->d, s);
    for (int j = lo; j < hi; j++) {
      slab_sums(Ss, p->slotRow, p->slotEntry, p->vals, p->colPtr[j], p->colPtr[j + 1], 1, sum);
      v16 acc[NV];
      for (int u = 0; u < NV; u++) acc[u] = ld(sum + 16 * u);
      float *o = p->out + (int64_t)j * p->d + s * SLAB;
      if (p->beta != 0.0f) {
        v16 old[NV];
        load_piece(o, w, old);
        for (int u = 0; u < NV; u++) acc[u] += p->beta == 1.0f ? old[u] : bv * old[u];
      }
      store_piece(o, w, acc);
    }
  }
}

void atlas_gather(uint8_t *base, uint32_t colPtr, uint32_t slotRow, uint32_t slotEntry,
                  uint32_t vals, uint32_t src, int32_t d, uint32_t out, float beta, int32_t c,
                  int32_t n, uint32_t packOff, int32_t threads) {
  float *sp = AT(float, packOff);
  pack(AT(const float, src), n, d, sp, threads);
  gather_t p = {AT(const int32_t, colPtr), AT(const int32_t, slotRow),
                AT(const int32_t, slotEntry), AT(const float, vals), sp, AT(float, out), beta, d,
                n, (d + SLAB - 1) / SLAB};
  /* concepts split so that each thread gets about the same number of slots */
  int parts = clamp_threads(threads, c), bounds[MAX_THREADS + 1];
  const int32_t *cp = p.colPtr;
  const int64_t nnz = cp[c];
  bounds[0] = 0;
  int j = 0;
  for (int t = 1; t < parts; t++) {
    const int64_t want = nnz * t / parts;
    while (j < c && cp[j] < want) j++;
    bounds[t] = j;
  }
  bounds[parts] = c;
  fork_join(gather_cols, &p, bounds, parts);
}

/* ---- optimiser: parallel-component removal and AdamW (rows) --------------------------------- */
typedef struct {
  const float *dict;
  float *grad, *rowSs;
  int d;
} removepar_t;


static void removepar_rows(void *a, int lo, int hi) {
  removepar_t *p = (removepar_t *)a;
  for (int j = lo; j < hi; j++) {
    const float *dj = p->dict + (int64_t)j * p->d;
    float *gj = p->grad + (int64_t)j * p->d;
    const float c = dot_row(gj, dj, p->d);
    const v16 cv = splat(c);
    int t = 0;
    for (; t + 16 <= p->d; t += 16) st(gj + t, ld(gj + t) - cv * ld(dj + t));
    for (; t < p->d; t++) gj[t] -= c * dj[t];
    if (p->rowSs) p->rowSs[j] = dot_row(gj, gj, p->d);
  }
}

void atlas_removepar(uint8_t *base, uint32_t dict, uint32_t grad, int32_t rows, int32_t d,
                     uint32_t rowSs, int32_t threads) {
  removepar_t p = {AT(const float, dict), AT(float, grad), rowSs ? AT(float, rowSs) : 0, d};
  parallel(removepar_rows, &p, rows, threads);
}

typedef struct {
  float *p, *m, *v;
  const float *g;
  int cols, normalize;
  float b1, a1, b2, a2, ss, isb, eps, dec;
} adamw_t;

/* lane-wise square root of a register vector (correctly rounded, as each scalar one) */
static inline rv vsqrtr(rv x) {
#ifdef __AVX512F__
  return vsqrt(x);
#elif defined(__AVX__)
  return (rv)_mm256_sqrt_ps((__m256)x);
#else
  for (int l = 0; l < RW; l++) x[l] = __builtin_sqrtf(x[l]);
  return x;
#endif
}

static void adamw_rows(void *a, int lo, int hi) {
  adamw_t *q = (adamw_t *)a;
  /* register vectors (see slab_sums): eight constants of 16 floats would fill AVX2's registers */
  const rv b1 = splatr(q->b1), a1 = splatr(q->a1), b2 = splatr(q->b2), a2 = splatr(q->a2);
  const rv ss = splatr(q->ss), isb = splatr(q->isb), eps = splatr(q->eps), dec = splatr(q->dec);
  for (int r = lo; r < hi; r++) {
    const int64_t o = (int64_t)r * q->cols;
    float *P = q->p + o, *M = q->m + o, *V = q->v + o;
    const float *G = q->g + o;
    int t = 0;
    for (; t + 16 <= q->cols; t += 16) {
      for (int h = t; h < t + 16; h += RW) {
        const rv g = ldr(G + h);
        const rv m = b1 * ldr(M + h) + a1 * g;
        const rv v = b2 * ldr(V + h) + a2 * g * g;
        *(rvu *)(M + h) = m;
        *(rvu *)(V + h) = v;
        *(rvu *)(P + h) = ldr(P + h) * dec - ss * m / (vsqrtr(v) * isb + eps);
      }
    }
    for (; t < q->cols; t++) {
      const float g = G[t];
      const float m = q->b1 * M[t] + q->a1 * g;
      const float v = q->b2 * V[t] + q->a2 * g * g;
      M[t] = m;
      V[t] = v;
      P[t] = P[t] * q->dec - q->ss * m / (__builtin_sqrtf(v) * q->isb + q->eps);
    }
    if (q->normalize) {
      const float n2 = dot_row(P, P, q->cols);
      if (n2 > 0.0f) {
        const float inv = 1.0f / __builtin_sqrtf(n2);
        const v16 iv = splat(inv);
        int u = 0;
        for (; u + 16 <= q->cols; u += 16) st(P + u, ld(P + u) * iv);
        for (; u < q->cols; u++) P[u] *= inv;
      }
    }
  }
}

void atlas_adamw(uint8_t *base, uint32_t p, uint32_t g, uint32_t m, uint32_t v, int32_t rows,
                 int32_t cols, float beta1, float a1, float beta2, float a2, float stepSize,
                 float invSqrtBc2, float eps, float decay, int32_t normalize, int32_t threads) {
  adamw_t q = {AT(float, p), AT(float, m), AT(float, v), AT(const float, g), cols, normalize,
               beta1, a1, beta2, a2, stepSize, invSqrtBc2, eps, decay};
  parallel(adamw_rows, &q, rows, threads);
}

/* ---- per-row top-k ---------------------------------------------------------------------------- */
typedef struct {
  const float *pre;
  int32_t *rowPtr, *index;
  float *value;
  int c, k;
} topk_t;

/* heap entry a is weaker than b: smaller value, or equal value and larger column */
static inline int weaker(const float *hv, const int32_t *hc, int a, int b) {
  return hv[a] < hv[b] || (hv[a] == hv[b] && hc[a] > hc[b]);
}
static inline void swap_entries(float *hv, int32_t *hc, int a, int b) {
  const float tv = hv[a];
  hv[a] = hv[b];
  hv[b] = tv;
  const int32_t tc = hc[a];
  hc[a] = hc[b];
  hc[b] = tc;
}
static void sift_up(float *hv, int32_t *hc, int j) {
  while (j > 0) {
    const int parent = (j - 1) >> 1;
    if (!weaker(hv, hc, j, parent)) break;
    swap_entries(hv, hc, j, parent);
    j = parent;
  }
}
static void sift_down(float *hv, int32_t *hc, int size) {
  int j = 0;
  for (;;) {
    const int l = 2 * j + 1, r = l + 1;
    if (l >= size) break;
    int w = l;
    if (r < size && weaker(hv, hc, r, l)) w = r;
    if (!weaker(hv, hc, w, j)) break;
    swap_entries(hv, hc, w, j);
    j = w;
  }
}
static int cmp_i32(const void *a, const void *b) {
  const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static void sort_cols(int32_t *x, int n) {
  if (n > 64) {
    qsort(x, (size_t)n, sizeof(int32_t), cmp_i32);
    return;
  }
  for (int i = 1; i < n; i++) {
    const int32_t t = x[i];
    int j = i - 1;
    while (j >= 0 && x[j] > t) {
      x[j + 1] = x[j];
      j--;
    }
    x[j + 1] = t;
  }
}

/* lane-wise maximum (a NaN lane gives b; rows with a NaN never use the result) */
typedef int32_t i16v __attribute__((vector_size(64)));
static inline v16 vmax(v16 a, v16 b) {
  const i16v m = (i16v)(a > b);
  return (v16)(((i16v)a & m) | ((i16v)b & ~m));
}

/*
 * Order key of a float that is not NaN: unsigned order of keys = float order, −0 and +0 one key
 * (x + 0 turns −0 into +0).
 */
static inline uint32_t order_key(float x) {
  union {
    float f;
    int32_t i;
  } u = {x + 0.0f};
  return (uint32_t)(u.i ^ ((u.i >> 31) & 0x7fffffff)) ^ 0x80000000u;
}

/* the float of an order key (+0 for the key of ±0) */
static inline float key_float(uint32_t k) {
  const int32_t s = (int32_t)(k ^ 0x80000000u);
  union {
    int32_t i;
    float f;
  } u = {s ^ ((s >> 31) & 0x7fffffff)};
  return u.f;
}

/*
 * The r-th largest (0-based) of keys x[0..n), bit by bit from the top with branch-free counts,
 * from the highest bit in which the keys differ (the bits above it are those of every key); as
 * soon as exactly r + 1 keys are at or above the bits found so far, the smallest of those.
 */
static uint32_t select_key(const uint32_t *x, int n, int r) {
  uint32_t lo = x[0], hi = x[0];
  for (int i = 1; i < n; i++) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  if (lo == hi) return lo;
  const int top = 31 - __builtin_clz(lo ^ hi);
  uint32_t t = lo & ~((2u << top) - 1u);
  for (int b = top; b >= 0; b--) {
    const uint32_t want = t | (1u << b);
    int cnt = 0;
    for (int i = 0; i < n; i++) cnt += x[i] >= want;
    if (cnt <= r) continue;
    t = want;
    if (cnt == r + 1) {
      uint32_t m = UINT32_MAX;
      for (int i = 0; i < n; i++) m = x[i] >= t && x[i] < m ? x[i] : m;
      return m;
    }
  }
  return t;
}

/*
 * Fast path of one row: columns of the k largest into hc, ascending; 0 when the row needs the
 * heap (a NaN or an infinity, or k above a quarter of the entries). Groups of g entries (g = 16,
 * 8, 4, 2 or 1: the widest with at least 4k groups), lane l of vectors h*g .. h*g+g-1 of each
 * 256-float chunk, then the tail one entry per group: the k-th largest group maximum bounds the
 * k-th largest entry from below, one pass keeps the entries at or above it (in column order),
 * and the k-th largest of those splits them: every one above it, and the first ties in column
 * order (ties go to the lower column), so hc comes out ascending. Comparisons on
 * {@link order_key}s (the float order, −0 = +0); selections by {@link select_key}.
 */
static int topk_row_blocks(const float *row, int c, int k, int32_t *hc, uint32_t *keys,
                           int32_t *cols) {
  const int chunks = c / 256, tail = c - 256 * chunks;
  int g = 16;
  while (g > 1 && 4 * k > (256 / g) * chunks + tail) g >>= 1;
  const int per = 256 / g, ng = per * chunks + tail;
  if (4 * k > ng) return 0;
  v16 bad = {0}; /* 0 * x: NaN for a NaN or an infinity */
  float mx16[16] __attribute__((aligned(64)));
  for (int q = 0; q < chunks; q++) {
    const float *r = row + 256 * q;
    for (int h = 0; h < 16 / g; h++) {
      v16 mx = ld(r + 16 * h * g);
      bad += mx * 0.0f;
      for (int u = 1; u < g; u++) {
        const v16 v = ld(r + 16 * (h * g + u));
        bad += v * 0.0f;
        mx = vmax(mx, v);
      }
      st(mx16, mx);
      for (int l = 0; l < 16; l++) keys[per * q + 16 * h + l] = order_key(mx16[l]);
    }
  }
  float tb = 0.0f;
  for (int t = 0; t < tail; t++) {
    const float v = row[256 * chunks + t];
    tb += v * 0.0f;
    keys[per * chunks + t] = order_key(v);
  }
  if (tb != tb) return 0;
  for (int l = 0; l < 16; l++)
    if (bad[l] != bad[l]) return 0;
  const uint32_t t0 = select_key(keys, ng, k - 1);
  /* candidates in column order (branch-free: a slot is taken only when kept) */
  int m = 0, j = 0;
#ifdef __AVX2__
  /* 8 at a time: the float comparison (the same order) picks the lanes to take */
  const __m256 tf = _mm256_set1_ps(key_float(t0));
  for (; j + 8 <= c; j += 8) {
    int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + j), tf, _CMP_GE_OQ));
    while (hit) {
      const int l = __builtin_ctz((unsigned)hit);
      hit &= hit - 1;
      keys[m] = order_key(row[j + l]);
      cols[m++] = j + l;
    }
  }
#endif
  for (; j < c; j++) {
    const uint32_t x = order_key(row[j]);
    keys[m] = x;
    cols[m] = j;
    m += x >= t0;
  }
  if (m == k) {
    memcpy(hc, cols, sizeof(int32_t) * (size_t)k);
    return 1;
  }
  /* the k-th largest candidate tv: every one above it, then the first ties */
  const uint32_t tv = select_key(keys, m, k - 1);
  int above = 0;
  for (int e = 0; e < m; e++) above += keys[e] > tv;
  int ties = k - above, o = 0;
  for (int e = 0; e < m; e++) {
    const uint32_t x = keys[e];
    if (x > tv || (x == tv && ties-- > 0)) hc[o++] = cols[e];
  }
  return 1;
}

static void topk_rows(void *a, int lo, int hi) {
  topk_t *p = (topk_t *)a;
  const int c = p->c, k = p->k;
  float *hv = (float *)malloc(sizeof(float) * (size_t)k);
  int32_t *hc = (int32_t *)malloc(sizeof(int32_t) * (size_t)k);
  uint32_t *keys = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)(c + 1));
  int32_t *cols = (int32_t *)malloc(sizeof(int32_t) * (size_t)(c + 1));
  if (!hv || !hc || !keys || !cols) { /* out of memory: leave the rows empty, no crash */
    for (int i = lo; i < hi; i++) p->rowPtr[i] = i * k;
    free(hv);
    free(hc);
    free(keys);
    free(cols);
    return;
  }
  for (int i = lo; i < hi; i++) {
    const float *row = p->pre + (int64_t)i * c;
    if (topk_row_blocks(row, c, k, hc, keys, cols)) goto fast;
    for (int j = 0; j < k; j++) {
      hv[j] = row[j];
      hc[j] = j;
      sift_up(hv, hc, j);
    }
    float minV = hv[0];
    int j = k;
    /* screen 16 at a time: an equal value at a later column never beats the root */
    for (; j + 16 <= c; j += 16) {
      const v16 v = ld(row + j);
      const v16 m = splat(minV);
      int any = 0;
      for (int l = 0; l < 16; l++) any |= v[l] > m[l];
      if (!any) continue;
      for (int l = 0; l < 16; l++) {
        if (row[j + l] > minV) {
          hv[0] = row[j + l];
          hc[0] = j + l;
          sift_down(hv, hc, k);
          minV = hv[0];
        }
      }
    }
    for (; j < c; j++) {
      if (row[j] > minV) {
        hv[0] = row[j];
        hc[0] = j;
        sift_down(hv, hc, k);
        minV = hv[0];
      }
    }
    sort_cols(hc, k);
  fast:;
    const int64_t o = (int64_t)i * k;
    for (int t = 0; t < k; t++) {
      const float v = row[hc[t]];
      p->index[o + t] = hc[t];
      p->value[o + t] = v > 0.0f ? v : 0.0f;
    }
    p->rowPtr[i] = (int32_t)o;
  }
  free(hv);
  free(hc);
  free(keys);
  free(cols);
}

void atlas_topk_rows(uint8_t *base, uint32_t pre, int32_t n, int32_t c, int32_t k, uint32_t rowPtr,
                     uint32_t index, uint32_t value, int32_t threads) {
  topk_t p = {AT(const float, pre), AT(int32_t, rowPtr), AT(int32_t, index), AT(float, value), c,
              k};
  parallel(topk_rows, &p, n, threads);
  p.rowPtr[n] = n * k;
}

/* ---- row scaling ---------------------------------------------------------------------------- */
typedef struct {
  const float *v, *a;
  float *out;
  int cols;
  float beta;
} scale_rows_t;

static void scale_rows(void *p_, int lo, int hi) {
  scale_rows_t *p = (scale_rows_t *)p_;
  for (int i = lo; i < hi; i++) {
    const float *a = p->a + (int64_t)i * p->cols;
    float *o = p->out + (int64_t)i * p->cols;
    const float s = p->v[i];
    const v16 sv = splat(s), bv = splat(p->beta);
    int t = 0;
    if (p->beta == 0.0f) {
      for (; t + 16 <= p->cols; t += 16) st(o + t, sv * ld(a + t));
      for (; t < p->cols; t++) o[t] = s * a[t];
    } else {
      for (; t + 16 <= p->cols; t += 16) st(o + t, bv * ld(o + t) + sv * ld(a + t));
      for (; t < p->cols; t++) o[t] = p->beta * o[t] + s * a[t];
    }
  }
}

void atlas_scale_rows(uint8_t *base, uint32_t v, uint32_t a, int32_t rows, int32_t cols,
                      uint32_t out, float beta, int32_t threads) {
  scale_rows_t p = {AT(const float, v), AT(const float, a), AT(float, out), cols, beta};
  parallel(scale_rows, &p, rows, threads);
}
