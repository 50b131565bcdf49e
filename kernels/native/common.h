/*
 * Shared by the native kernels of the CPU backend (sparse_kernels.c, encoder_screen.c): vector
 * types, a fork-join over row ranges, and small helpers. Everything is static: each file gets its
 * own copy.
 */
#ifndef ATLAS_NATIVE_COMMON_H
#define ATLAS_NATIVE_COMMON_H
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define MAX_THREADS 16

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

static inline v16 ld(const float *p) { return *(const v16u *)p; }
static inline void st(float *p, v16 v) { *(v16u *)p = v; }
static inline v16 splat(float x) { return (v16){0} + x; }
static inline v16 vsqrt(v16 x) {
#ifdef __AVX512F__
  return (v16)_mm512_sqrt_ps((__m512)x);
#else
  for (int l = 0; l < 16; l++) x[l] = __builtin_sqrtf(x[l]);
  return x;
#endif
}
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
static inline float hsum(v16 v) {
  const v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
               __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  const v4 c = b + __builtin_shufflevector(b, b, 2, 3, 0, 1);
  return c[0] + c[1];
}

/* ---- a fork-join over [lo, hi) split at the given boundaries -------------------------------- */
typedef void (*range_fn)(void *args, int lo, int hi);
typedef struct {
  range_fn fn;
  void *args;
  int lo, hi;
} job_t;
static void *thunk(void *p) {
  job_t *j = (job_t *)p;
  j->fn(j->args, j->lo, j->hi);
  return 0;
}
/* bounds[0..parts] ascending; part 0 runs on the calling thread. */
static void fork_join(range_fn fn, void *args, const int *bounds, int parts) {
  pthread_t th[MAX_THREADS];
  job_t jobs[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (int t = 1; t < parts; t++) {
    jobs[t] = (job_t){fn, args, bounds[t], bounds[t + 1]};
    if (bounds[t + 1] > bounds[t]) started[t] = pthread_create(&th[t], 0, thunk, &jobs[t]) == 0;
    if (!started[t] && bounds[t + 1] > bounds[t]) fn(args, bounds[t], bounds[t + 1]);
  }
  if (bounds[1] > bounds[0]) fn(args, bounds[0], bounds[1]);
  for (int t = 1; t < parts; t++)
    if (started[t]) pthread_join(th[t], 0);
}
static int clamp_threads(int threads, int work) {
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (threads < 1) threads = 1;
  if (threads > work) threads = work > 0 ? work : 1;
  return threads;
}
/* even split of [0, n) */
static void parallel(range_fn fn, void *args, int n, int threads) {
  int parts = clamp_threads(threads, n), bounds[MAX_THREADS + 1];
  for (int t = 0; t <= parts; t++) bounds[t] = (int)((int64_t)n * t / parts);
  fork_join(fn, args, bounds, parts);
}


#define AT(type, off) ((type *)(base + (off)))

static inline float dot_row(const float *a, const float *b, int n) {
  v16 acc = {0};
  int t = 0;
  for (; t + 16 <= n; t += 16) acc += ld(a + t) * ld(b + t);
  float s = hsum(acc);
  for (; t < n; t++) s += a[t] * b[t];
  return s;
}

/* the r-th largest (0-based) of x[0..n) by quickselect (x is reordered) */
__attribute__((unused)) static float select_desc(float *x, int n, int r) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    const float pivot = x[(lo + hi) >> 1];
    int i = lo, j = hi;
    while (i <= j) {
      while (x[i] > pivot) i++;
      while (x[j] < pivot) j--;
      if (i <= j) {
        const float t = x[i];
        x[i] = x[j];
        x[j] = t;
        i++;
        j--;
      }
    }
    if (r <= j) hi = j;
    else if (r >= i) lo = i;
    else return x[r];
  }
  return x[r];
}

#endif
