/**
 * Stage declarations: the data the engine executes. The engine knows nothing about what a
 * stage computes; it only resolves the graph of stage instances, computes their keys, decides
 * what is stale, runs `run` into a temporary folder and publishes it atomically.
 */
import type { z } from "zod";
import type { ExternalInput } from "./content_hash.ts";

/** Logger and progress reporting handed to a running stage. */
export interface StageLog {
  /** One informational line (goes to stderr; never to the `--json` stdout line). */
  info(message: string): void;
  /** One warning line, prefixed `warning:`. */
  warn(message: string): void;
  /**
   * Start a progress bar of `total` units (a bar on a terminal, periodic plain lines
   * otherwise). Call `tick(n)` as work completes and `done()` at the end.
   */
  progress(label: string, total: number, unit?: string): Progress;
}

/** A running progress indicator. */
export interface Progress {
  /** Advance by `n` units (default 1); `extra` is a short status text (e.g. `loss=0.12`). */
  tick(n?: number, extra?: string): void;
  /** Finish the bar. */
  done(): void;
}

/** A finished upstream stage instance as seen by a downstream stage. */
export interface InputArtifact {
  /** Stage instance id, e.g. `train[method=topk,k=8,seed=0,diet=natural]`. */
  id: string;
  /** Stage name, e.g. `train`. */
  stage: string;
  /** 64-hex content key. */
  key: string;
  /** Absolute path of its published key folder (read only). */
  dir: string;
  /** Its resolved parameters. */
  params: Record<string, unknown>;
  /** Extra facts the stage put in its manifest via `ctx.setMeta` (row counts, dims, ...). */
  meta: Record<string, unknown>;
}

/**
 * Input roles of a stage: role name → the upstream stage it takes (alternatives with `|`, e.g.
 * `"dataset|embed"`). A role ending in `*` takes a list of instances, one ending in `?` is optional;
 * the stage sees every role without its suffix.
 */
export type InputRoles = Readonly<Record<string, string>>;

/** A role's name as the stage sees it: `train?` → `train`, `runs*` → `runs`. */
export type BareRole<R extends string> = R extends `${infer B}?` ? B
  : R extends `${infer B}*` ? B
  : R;

/** `role` without its `?` (optional) or `*` (list) suffix, as the stage sees it. */
export function bareRole<R extends string>(role: R): BareRole<R> {
  return (role.endsWith("?") || role.endsWith("*") ? role.slice(0, -1) : role) as BareRole<R>;
}

type RequiredRole<R> = R extends `${string}?` | `${string}*` ? never : R;
type OptionalRole<R> = R extends `${infer B}?` ? B : never;
type ListRole<R> = R extends `${infer B}*` ? B : never;

/**
 * Single upstream instances by bare role: every required role is present (the engine guarantees
 * it), an optional one (`x?`) may be absent.
 */
export type StageInputs<I extends InputRoles> = string extends keyof I
  ? Record<string, InputArtifact>
  :
    & { [K in keyof I as RequiredRole<K & string>]: InputArtifact }
    & { [K in keyof I as OptionalRole<K & string>]?: InputArtifact };

/** Upstream instance lists by bare role (`runs*` → `runs`); an unbound list role is `[]`. */
export type StageInputLists<I extends InputRoles> = string extends keyof I
  ? Record<string, InputArtifact[]>
  : { [K in keyof I as ListRole<K & string>]: InputArtifact[] };

/**
 * What a stage's `run` receives. `I` is the stage's input declaration (see {@link defineStage}):
 * with it, `ctx.inputs.train` is typed present for a required role and possibly absent for `train?`.
 */
export interface StageContext<P, I extends InputRoles = InputRoles> {
  /** Instance id. */
  id: string;
  /** Resolved, validated parameters. */
  params: P;
  /**
   * Upstream instances by bare role (suffix `?` stripped), for roles bound to one instance. Every
   * required role is present: stages need not check.
   */
  inputs: StageInputs<I>;
  /** Upstream instances by bare role (suffix `*` stripped) for list roles; `[]` when unbound. */
  inputLists: StageInputLists<I>;
  /** Raw file inputs by role (absolute paths), already content-hashed into the key. */
  rawInputs: Record<string, string>;
  /** Temporary output folder: write every artifact here. It is renamed into place on success. */
  outDir: string;
  /** This instance's key (64 hex). */
  key: string;
  /**
   * Run options the study declares ({@link StudyOption} in pipeline/study.ts, e.g. `backend`) as
   * given on the command line. They do not enter the key: they may change how a stage computes,
   * never what it writes.
   */
  options: Readonly<Record<string, string>>;
  /** Record extra manifest facts (row counts, dimensions, chosen backend, ...). */
  setMeta(key: string, value: unknown): void;
  /** Logging and progress. */
  log: StageLog;
  /**
   * Partial-progress folder that survives interruption (for resumable stages such as embed):
   * `<cache>/.partial/<stage>/<key>/` (create it when needed). Deleted once the stage is published.
   */
  partialDir: string;
}

/**
 * A stage declared as data. `P` is the parameter type produced by `params` (a zod schema), `I` its
 * input declaration (inferred by {@link defineStage}).
 */
export interface Stage<P = Record<string, unknown>, I extends InputRoles = InputRoles> {
  /** Stage name, also the cache sub-folder: `<cache>/<name>/<key>/`. */
  name: string;
  /** Bump when the stage's code changes its output: it changes every key of the stage. */
  version: number;
  /** One-line description (shown by `pipeline dag`). */
  description: string;
  /**
   * Input roles this stage expects, mapped to the upstream stage name each role takes. A role
   * whose name ends in `*` (e.g. `"runs*": "evaluate"`) takes a list of instances; one ending in
   * `?` is optional. The stage name may list alternatives: `"dataset|embed"`. The study binds the
   * roles as declared (suffix included; they enter the key); the stage reads them without suffix.
   */
  inputs: I;
  /**
   * Parameter schema; unknown keys must be rejected (use `.strict()`). Omit it for a stage without
   * parameters (the engine then accepts only `{}`).
   */
  params?: z.ZodType<P>;
  /** Files the stage writes into `outDir` (checked after `run`; each is sha256'd). */
  outputs: readonly string[];
  /** Compute the artifacts. Throw {@link UserError} for bad input. */
  run(ctx: StageContext<P, I>): Promise<void>;
  /**
   * Optional: compute part `part.index` of `part.count` of the work into `ctx.partialDir` only
   * (never `ctx.outDir`; nothing is published), so that a cluster runner can spread one instance
   * over several array tasks before `run` — the merge — reads what the parts left. Parts of one key
   * may run at the same time on different nodes, and `run` must give the same artifacts whether
   * or not (or how many) parts ran first. Stages without it always run whole.
   */
  runShard?(ctx: StageContext<P, I>, part: ShardPart): Promise<void>;
  /**
   * Optional: the files (or remote contents) an instance with these parameters reads from outside
   * the cache, by role, resolved when the study is planned (pipeline/content_hash.ts). Their
   * content hashes enter the key; `run` gets each role's `path` in `ctx.rawInputs`. Throw
   * {@link UserError} for a missing input.
   */
  externalInputs?(params: P): Promise<Record<string, ExternalInput>>;
}

/**
 * Declare a stage with its input roles inferred, so that `run` sees them typed (required roles
 * present, `?` roles optional, `*` roles as lists, all without suffix):
 * `defineStage({ name: "encode", inputs: { train: "train" }, run: (ctx) => … ctx.inputs.train.dir … })`.
 */
export function defineStage<P = Record<string, never>, const I extends InputRoles = InputRoles>(
  stage: Stage<P, I>,
): Stage<P, I> {
  return stage;
}

/** Which part of a stage instance's work a worker computes: `index` of `count` (0-based). */
export interface ShardPart {
  /** 0 ≤ index < count. */
  index: number;
  /** Number of parts the work is split into (≥ 1). */
  count: number;
}

/** One node of the study graph: a stage with concrete parameters and concrete upstream nodes. */
export interface StageInstance {
  /** Unique, human-readable id, e.g. `train[method=topk,k=8,seed=0,diet=natural]`. */
  id: string;
  // deno-lint-ignore no-explicit-any
  stage: Stage<any>;
  /** Parameters before validation (validated by `stage.params`). */
  params: Record<string, unknown>;
  /** Upstream instance ids by role (a list for `*` roles). */
  inputs: Record<string, string | string[]>;
  /** Raw files by role: their content hash enters the key. */
  rawInputs?: Record<string, string>;
}
