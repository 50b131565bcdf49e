/**
 * Learning-rate schedule of the SAE trainers (method.md §2): linear warm-up, then cosine decay.
 */

/** Shape of the schedule. */
export interface LrSchedule {
  /** Peak learning rate (reached at the end of the warm-up). */
  lr: number;
  /** Total number of optimiser steps of the run (≥ 1). */
  totalSteps: number;
  /** Number of warm-up steps (linear ramp from lr/warmupSteps to lr); 0 disables warm-up. */
  warmupSteps: number;
  /** Final learning rate as a fraction of `lr` (cosine decays from lr to lr·minFraction). */
  minFraction: number;
}

/**
 * Learning rate of the 0-based optimiser step `step`: during warm-up lr·(step+1)/warmupSteps,
 * afterwards lr·(f + (1−f)·(1 + cos(π·t))/2) with t ∈ [0, 1] the fraction of the decay phase
 * done at the start of this step and f = minFraction. Steps past the end keep the final rate.
 * @returns the learning rate (same unit as `lr`).
 */
export function learningRate(step: number, s: LrSchedule): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return s.lr * (step + 1) / s.warmupSteps;
  const decaySteps = s.totalSteps - s.warmupSteps;
  if (decaySteps <= 1) return s.lr;
  const t = Math.min(1, (step - s.warmupSteps) / (decaySteps - 1));
  const f = s.minFraction;
  return s.lr * (f + (1 - f) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/**
 * Number of warm-up steps for a run of `totalSteps` steps: `fraction` of the run, at least 1 step
 * when the fraction is positive, never more than the whole run.
 */
export function warmupStepsFor(totalSteps: number, fraction: number): number {
  if (fraction <= 0) return 0;
  return Math.min(totalSteps, Math.max(1, Math.round(totalSteps * fraction)));
}
