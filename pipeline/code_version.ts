/** The code version recorded in manifests (not part of any key). */

/**
 * `git describe --always --dirty` of the repository holding this file, or the `CONCEPT_ATLAS_VERSION`
 * environment variable, or `unknown` outside a git checkout.
 */
export async function codeVersion(): Promise<string> {
  const env = Deno.env.get("CONCEPT_ATLAS_VERSION");
  if (env) return env;
  try {
    const dir = new URL(".", import.meta.url).pathname;
    const out = await new Deno.Command("git", {
      args: ["-C", dir, "describe", "--always", "--dirty", "--abbrev=12"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (out.success) return new TextDecoder().decode(out.stdout).trim();
  } catch { /* git missing */ }
  return "unknown";
}
