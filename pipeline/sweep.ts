/** Matrix fan-out of sweep parameters and readable instance ids. */

/**
 * Cartesian product of sweep axes, in axis order then value order:
 * `sweep({method: ["topk","relu"], k: [4, 8]})` → 4 combinations, `method` varying slowest.
 */
export function sweep<T extends Record<string, readonly unknown[]>>(
  axes: T,
): { [K in keyof T]: T[K][number] }[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [name, values] of Object.entries(axes)) {
    const next: Record<string, unknown>[] = [];
    for (const partial of out) for (const v of values) next.push({ ...partial, [name]: v });
    out = next;
  }
  return out as { [K in keyof T]: T[K][number] }[];
}

/** Instance id `stage[a=1,b=x]` from a stage name and the labelled coordinates of the instance. */
export function instanceId(stage: string, coords: Record<string, unknown> = {}): string {
  const parts = Object.entries(coords).map(([k, v]) => `${k}=${v}`);
  return parts.length ? `${stage}[${parts.join(",")}]` : stage;
}
