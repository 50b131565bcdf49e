/**
 * Hand-made stage contexts for running one stage's `run` in a test: upstream artifacts from
 * folders, log lines, manifest meta and progress ticks collected for assertions.
 */
import { bareRole, type InputArtifact, type StageContext } from "../../pipeline/stage.ts";

/** Options of {@link testContext}; everything not given is empty. */
export interface TestContextOptions {
  /** Instance id (default `test`). */
  id?: string;
  /**
   * Upstream artifacts by role (see {@link testArtifacts}); a declared `x?` may be given as `x?` or
   * `x` (the stage sees `x`, as the engine hands it).
   */
  inputs?: Record<string, InputArtifact>;
  /** Upstream artifact lists by `*` role (`runs*` or `runs`; the stage sees `runs`). */
  inputLists?: Record<string, InputArtifact[]>;
  /** Run options (default `{backend: "cpu"}`). */
  options?: Record<string, string>;
  /** Raw file inputs by role. */
  rawInputs?: Record<string, string>;
  /** Partial-progress folder (default `<outDir>/.partial`). */
  partialDir?: string;
  /** Collect log lines into this array (default a new one). */
  lines?: string[];
  /** Collect `setMeta` calls into this object (default a new one). */
  meta?: Record<string, unknown>;
}

/**
 * A stage context plus what the stage reported through it. Its inputs are bound by hand, so they
 * are typed loosely: any stage's `run` accepts it (the engine, not the test, guarantees roles).
 */
export type TestContext<P> = Omit<StageContext<P>, "inputs" | "inputLists"> & {
  // deno-lint-ignore no-explicit-any
  inputs: any;
  // deno-lint-ignore no-explicit-any
  inputLists: any;
  /** Log lines in order; warnings prefixed `warning: `. */
  lines: string[];
  /** Everything the stage passed to `setMeta`. */
  meta: Record<string, unknown>;
  /** Every progress tick's count. */
  ticks: number[];
};

/**
 * A stage context writing into `outDir` on the `cpu` backend, recording lines, meta and ticks.
 * Roles lose their `?`/`*` suffix as in the engine; list roles not given are not filled in.
 */
export function testContext<P>(
  params: P,
  outDir: string,
  opts: TestContextOptions = {},
): TestContext<P> {
  const lines = opts.lines ?? [], meta = opts.meta ?? {}, ticks: number[] = [];
  return {
    id: opts.id ?? "test",
    params,
    inputs: bare(opts.inputs ?? {}),
    inputLists: bare(opts.inputLists ?? {}),
    rawInputs: opts.rawInputs ?? {},
    outDir,
    key: "0".repeat(64),
    options: opts.options ?? { backend: "cpu" },
    setMeta: (k, v) => void (meta[k] = v),
    log: {
      info: (m) => void lines.push(m),
      warn: (m) => void lines.push(`warning: ${m}`),
      progress: () => ({ tick: (n = 1) => void ticks.push(n), done() {} }),
    },
    partialDir: opts.partialDir ?? `${outDir}/.partial`,
    lines,
    meta,
    ticks,
  };
}

/** The same entries with roles as the stage sees them (suffix stripped). */
function bare<T>(byRole: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(byRole).map(([r, v]) => [bareRole(r), v]));
}

/** An upstream artifact of stage `role` (id `<role>[test]`, key all zeros) in folder `dir`. */
export function testArtifact(
  role: string,
  dir: string,
  params: Record<string, unknown> = {},
  meta: Record<string, unknown> = {},
): InputArtifact {
  return { id: `${role}[test]`, stage: role, key: "0".repeat(64), dir, params, meta };
}

/**
 * Artifacts by role from folders by role ({@link testArtifact}), with optional params and meta
 * per role.
 */
export function testArtifacts(
  dirs: Record<string, string>,
  params: Record<string, Record<string, unknown>> = {},
  meta: Record<string, Record<string, unknown>> = {},
): Record<string, InputArtifact> {
  return Object.fromEntries(
    Object.entries(dirs).map(([r, d]) => [r, testArtifact(r, d, params[r], meta[r])]),
  );
}
