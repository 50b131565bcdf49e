/**
 * The compute backend as a run option the study declares (`--backend auto|cpu|webgpu`, handed to
 * every stage as `ctx.options.backend`), and how a stage opens it. The engine knows no backends.
 */
import type { StageContext } from "../pipeline/stage.ts";
import type { StudyOption } from "../pipeline/study.ts";
import type { Backend } from "../kernels/backend.ts";
import { type BackendKind, createBackend } from "../kernels/select.ts";

/** The backends `--backend` accepts. */
export const backendKinds: readonly BackendKind[] = ["auto", "cpu", "webgpu"];

/** The `--backend` run option (default `auto`). */
export const backendOption: StudyOption = {
  name: "backend",
  description: "compute backend",
  choices: backendKinds,
  default: "auto",
};

/**
 * Open the backend the run asked for (`ctx.options.backend`, `auto` when unset) and record the
 * chosen one's name as the manifest meta `backend`. `workFlops`: the FLOPs of one unit of the
 * stage's work (see `CreateBackendOptions.workFlops`: `auto` keeps small work on the CPU). Close
 * it when done.
 */
export async function openBackend(
  ctx: Pick<StageContext<unknown>, "options" | "log" | "setMeta">,
  workFlops?: number,
): Promise<Backend> {
  const kind = (ctx.options.backend ?? backendOption.default) as BackendKind;
  const backend = await createBackend(kind, { log: (line) => ctx.log.info(line), workFlops });
  ctx.setMeta("backend", backend.name);
  return backend;
}
