/** One benchmark figure, printed as one JSON line by `deno task bench --json`. */
export interface BenchResult {
  /** Stable name, e.g. `gemm.cpu.gflops`, `train_step.batchtopk.cpu`, `match.4096`. */
  name: string;
  value: number;
  /** Unit of `value`: `GFLOP/s`, `s`, `rows/s`, ... */
  unit: string;
  /** Extra fields (floor, reference, samples_per_s, floor_ratio, backend, ...). */
  [field: string]: unknown;
}

/** A benchmark module's entry: `bench/<area>_bench.ts` exports `benchmarks: Benchmark[]`. */
export interface Benchmark {
  /** Group name shown in the human-readable output. */
  group: string;
  /** Run and return its figures; `quick` asks for a reduced size (used by CI smoke runs). */
  run(opts: { quick: boolean; log: (line: string) => void }): Promise<BenchResult[]>;
}
