/**
 * Loading a YAML configuration validated by a zod schema: the built-in defaults, an optional
 * `--config FILE`, then `--set a.b=value` overrides (value parsed as YAML: numbers, booleans,
 * lists `[4,8]` work). Any problem is a UserError naming the file or key path and what is allowed.
 */
import YAML from "yaml";
import type { z } from "zod";
import { UserError } from "./errors.ts";

/** Sources of a configuration. */
export interface ConfigSources {
  /** Path of a YAML file (optional). */
  file?: string;
  /** `key.path=value` overrides, applied in order. */
  sets?: string[];
}

/** Read, merge and validate a configuration. */
export async function loadConfig<T>(schema: z.ZodType<T>, sources: ConfigSources): Promise<T> {
  let raw: Record<string, unknown> = {};
  if (sources.file) {
    let text: string;
    try {
      text = await Deno.readTextFile(sources.file);
    } catch {
      throw new UserError(
        `config file ${sources.file} cannot be read: check the path given to --config`,
      );
    }
    const doc = YAML.parseDocument(text);
    if (doc.errors.length) {
      const e = doc.errors[0];
      const line = e.linePos?.[0]?.line;
      throw new UserError(
        `config file ${sources.file}${line ? `, line ${line}` : ""}: ${e.message.split("\n")[0]}`,
      );
    }
    const value = doc.toJS();
    if (value !== null && (typeof value !== "object" || Array.isArray(value))) {
      throw new UserError(
        `config file ${sources.file}: the top level must be a mapping of sections`,
      );
    }
    raw = (value as Record<string, unknown>) ?? {};
  }
  for (const s of sources.sets ?? []) applySet(raw, s);
  return validate(schema, raw, sources.file ?? "the configuration");
}

/** Apply one `a.b.c=value` override to a plain object. */
export function applySet(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf("=");
  if (eq <= 0) {
    throw new UserError(`--set ${assignment}: expected key.path=value, e.g. --set train.epochs=5`);
  }
  const path = assignment.slice(0, eq).trim().split(".");
  const text = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = text === "" ? "" : YAML.parse(text);
  } catch {
    value = text;
  }
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (next === undefined || next === null) node[part] = {};
    else if (typeof next !== "object" || Array.isArray(next)) {
      throw new UserError(`--set ${assignment}: ${part} is not a section`);
    }
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/** Validate with the schema and turn the first issue into one clear UserError. */
export function validate<T>(schema: z.ZodType<T>, raw: unknown, where: string): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0] as z.core.$ZodIssue & { keys?: string[] };
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const key = [...path, issue.keys![0]].join(".");
    const allowed = allowedKeys(schema, path);
    throw new UserError(
      `${where}: unknown key ${key}${
        allowed.length ? `; allowed here: ${allowed.join(", ")}` : ""
      }`,
    );
  }
  const received = valueAt(raw, path);
  const got = received === undefined ? "" : ` (got ${JSON.stringify(received)})`;
  throw new UserError(`${where}: key ${path.join(".") || "(top level)"}: ${issue.message}${got}`);
}

function valueAt(raw: unknown, path: string[]): unknown {
  let v = raw;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** Keys allowed by an object schema at a path (unwrapping defaults/optionals). */
export function allowedKeys(schema: z.ZodType, path: string[]): string[] {
  // deno-lint-ignore no-explicit-any
  let s: any = schema;
  const unwrap = () => {
    while (
      s?._zod?.def &&
      ["default", "optional", "nullable", "prefault", "pipe"].includes(s._zod.def.type)
    ) {
      s = s._zod.def.innerType ?? s._zod.def.in;
    }
  };
  unwrap();
  for (const p of path) {
    if (s?._zod?.def?.type !== "object") return [];
    s = s._zod.def.shape[p];
    unwrap();
  }
  return s?._zod?.def?.type === "object" ? Object.keys(s._zod.def.shape) : [];
}
