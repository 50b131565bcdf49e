/**
 * Progress for stage code that calls pure functions: those report `(done, total)` through a
 * plain callback (data/, learn/ and analysis/ know no logs); these helpers turn such callbacks
 * into the stage log's {@link Progress} (a bar on a terminal, lines with rate and ETA in logs).
 */
import type { Progress, StageLog } from "./stage.ts";

/**
 * A `(done) => void` callback that advances `bar` to `done` units (ticks by the difference;
 * a `done` below the last one is ignored).
 */
export function progressCallback(bar: Progress): (done: number) => void {
  let last = 0;
  return (done) => {
    if (done > last) {
      bar.tick(done - last);
      last = done;
    }
  };
}

/**
 * Run `work` under a progress bar of `total` `unit`s labelled `label`: `work` gets a callback
 * taking the units done so far; the bar is closed when `work` settles (also on error).
 * @returns what `work` returns
 */
export async function withProgress<T>(
  log: StageLog,
  label: string,
  total: number,
  unit: string,
  work: (advance: (done: number) => void) => Promise<T> | T,
): Promise<T> {
  const bar = log.progress(label, total, unit);
  try {
    return await work(progressCallback(bar));
  } finally {
    bar.done();
  }
}
