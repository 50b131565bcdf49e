/**
 * Splitting a wave for `runner.shards` (docs/cluster.md "Splitting a stage"): the instances of a
 * stage named there run as `count` part tasks (`Stage.runShard`) in the wave's first job array,
 * beside the wave's other instances, and then as one merge task (the instance itself, its `run`)
 * in a second array once every part succeeded. Pure: no I/O, no Slurm.
 */
import type { TaskSpec } from "./task.ts";

/** One array task of a step: a whole instance, one part of an instance, or a merge. */
export interface StepTask {
  /** Index of the wave's task (the instance) this array task belongs to. */
  of: number;
  /** What the worker runs (`shard` set for a part). */
  spec: TaskSpec;
  /** How the coordinator names it in its messages, e.g. `embed[clip] shard 2/8`. */
  label: string;
}

/** The first step of a split wave, and the instances whose merge follows it. */
export interface SplitWave {
  /** Every instance not split, then every part of the split ones (instance order, part order). */
  first: StepTask[];
  /** Wave indices of the split instances: each runs as a merge task after its parts succeed. */
  split: number[];
}

/**
 * Split a wave: an instance of a stage with `shards[stage] = count > 1` becomes `count` part tasks
 * (`{...task, shard: {index, count}}`) in the first step; every other instance runs whole in it.
 * @param tasks the wave's instances
 * @param shards parts per stage name (`runner.shards`); absent or 1: the stage runs whole
 */
export function splitWave(tasks: TaskSpec[], shards: Record<string, number>): SplitWave {
  const first: StepTask[] = [];
  const split: number[] = [];
  tasks.forEach((spec, of) => {
    const count = shards[spec.stage] ?? 1;
    if (count <= 1) first.push({ of, spec, label: spec.id });
  });
  tasks.forEach((spec, of) => {
    const count = shards[spec.stage] ?? 1;
    if (count <= 1) return;
    split.push(of);
    for (let index = 0; index < count; index++) {
      first.push({
        of,
        spec: { ...spec, shard: { index, count } },
        label: `${spec.id} shard ${index + 1}/${count}`,
      });
    }
  });
  return { first, split };
}
