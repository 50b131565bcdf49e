/**
 * What a test needs from the machine, as `Deno.test`'s `ignore:` condition: a test whose
 * prerequisite is missing shows as `ignored` (never as a silent pass). A machine that is meant to
 * have a prerequisite lists it in `CONCEPT_ATLAS_REQUIRE` (comma-separated names, `.ci/run` sets
 * it from what CI's machine has); then a missing one fails the test file instead of skipping.
 *
 *   Deno.test({ name, ignore: missing("cc", haveCompiler), fn });
 */

/** A named prerequisite and what provides it (the hint in the failure message). */
export const PREREQUISITES = {
  /** A C compiler for the native kernels (`gcc`). */
  cc: "a C compiler for the native kernels (install gcc)",
  /** A CBLAS library loadable through FFI. */
  openblas: "a CBLAS library (install libopenblas0)",
  /** A WebGPU adapter (hardware, or Mesa's llvmpipe through Vulkan). */
  webgpu: "a WebGPU adapter (install mesa-vulkan-drivers)",
  /** The AMX tile unit of the CPU (and a C compiler), for the screened encoder. */
  amx: "a CPU with the AMX tile unit (amx_tile in /proc/cpuinfo) and a C compiler",
  /** Chromium for the explorer's browser tests. */
  chromium: "Chromium (install chromium)",
  /** The npm package @duckdb/node-api loading (native binary for this platform). */
  duckdb: "@duckdb/node-api loading here (deno install)",
  /** Slurm's daemons and commands, run as root (the one-node test cluster). */
  slurm: "Slurm and munge, as root (scripts/slurm_cluster.sh install)",
  /** The shared COCO-500 CLIP fixture at ../shared/data/coco500-clip-vitb16/. */
  coco500: "the COCO-500 CLIP fixture at ../shared/data/coco500-clip-vitb16/",
} as const;

/** Name of a prerequisite. */
export type Prerequisite = keyof typeof PREREQUISITES;

/** The prerequisites this machine must have (`CONCEPT_ATLAS_REQUIRE`, comma-separated). */
export function requiredPrerequisites(
  env: string | undefined = Deno.env.get("CONCEPT_ATLAS_REQUIRE"),
): Set<string> {
  const names = (env ?? "").split(",").map((s) => s.trim()).filter((s) => s);
  for (const n of names) {
    if (!(n in PREREQUISITES)) {
      throw new Error(
        `CONCEPT_ATLAS_REQUIRE: unknown prerequisite ${n}; known: ${
          Object.keys(PREREQUISITES).join(", ")
        }`,
      );
    }
  }
  return new Set(names);
}

/**
 * The `ignore:` value of a test that needs `what`: true (skip, shown as ignored) when it is not
 * `available`; throws when it is not available but this machine is meant to have it
 * (`CONCEPT_ATLAS_REQUIRE` names it), so that a CI run cannot pass with the test skipped.
 */
export function missing(
  what: Prerequisite,
  available: boolean,
  required: Set<string> = requiredPrerequisites(),
): boolean {
  if (available) return false;
  if (required.has(what)) {
    throw new Error(
      `prerequisite ${what} is missing but CONCEPT_ATLAS_REQUIRE lists it: this machine needs ${
        PREREQUISITES[what]
      }`,
    );
  }
  return true;
}

/** True when the file or folder exists. */
export async function exists(path: string | URL): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
