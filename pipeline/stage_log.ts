/**
 * The log and progress reporting given to running stages. On a terminal (stderr is a TTY) a
 * progress bar is drawn; otherwise plain lines at each 10% step (or every 30 s), with rate and ETA. Everything
 * goes to stderr so that stdout carries only the results (and the `--json` line).
 */
import cliProgress from "cli-progress";
import type { Progress, StageLog } from "./stage.ts";

const encoder = new TextEncoder();

/** Write one line to stderr. */
export function writeErr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/** Options of {@link createStageLog}. */
export interface StageLogOptions {
  /** Prefix of every line, e.g. the instance id. */
  prefix: string;
  /** Draw bars (default: when stderr is a terminal). */
  tty?: boolean;
  /** Silence info lines (warnings still shown). */
  quiet?: boolean;
  /** Where lines go (default stderr). */
  sink?: (line: string) => void;
}

/** A {@link StageLog} writing to stderr. */
export function createStageLog(opts: StageLogOptions): StageLog {
  const sink = opts.sink ?? writeErr;
  const tty = opts.tty ?? Deno.stderr.isTerminal();
  return {
    info(message) {
      if (!opts.quiet) sink(`  ${opts.prefix}: ${message}`);
    },
    warn(message) {
      sink(`warning: ${opts.prefix}: ${message}`);
    },
    progress(label, total, unit = "") {
      return tty ? barProgress(`${opts.prefix} ${label}`, total, unit) : lineProgress(
        `${opts.prefix} ${label}`,
        total,
        unit,
        opts.quiet ? () => {} : sink,
      );
    },
  };
}

/**
 * `value/total unit`; progress counted in `bytes` is shown in MB: `12.5/600.0 MB`.
 */
function amount(value: number, total: number, unit: string): string {
  if (unit !== "bytes") return `${value}/${total}${unit ? ` ${unit}` : ""}`;
  return `${(value / 1e6).toFixed(1)}/${(total / 1e6).toFixed(1)} MB`;
}

/** A rate: `45.1k rows/s`, or for `bytes` `8.1 MB/s`. */
function rateOf(perSecond: number, unit: string): string {
  if (unit === "bytes") return `${(perSecond / 1e6).toFixed(1)} MB/s`;
  return `${formatCount(perSecond)}${unit ? ` ${unit}` : ""}/s`;
}

function barProgress(label: string, total: number, unit: string): Progress {
  const bar = new cliProgress.SingleBar({
    format: `  ${label} [{bar}] {percentage}% {amount} {rate} eta {eta_formatted} {extra}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  const start = performance.now();
  bar.start(total, 0, { extra: "", rate: "", amount: amount(0, total, unit) });
  let value = 0;
  return {
    tick(n = 1, extra = "") {
      value += n;
      const s = (performance.now() - start) / 1000;
      bar.update(value, {
        extra,
        amount: amount(value, total, unit),
        rate: s > 0 ? rateOf(value / s, unit) : "",
      });
    },
    done() {
      bar.stop();
    },
  };
}

/** Plain progress lines: at most one per 10% step or per `everyMs`, none in the first `quietMs`. */
export interface LineProgressOptions {
  /** Print at least this often while work goes on (default 30,000 ms). */
  everyMs?: number;
  /** Stay silent (but for the final line) while the work is younger than this (default 1000 ms). */
  quietMs?: number;
  /** Clock in ms (default performance.now; tests pass a fake one). */
  now?: () => number;
}

/**
 * Progress as plain lines for logs and non-terminal stderr: `label: value/total unit (p%),
 * rate unit/s, eta Ns extra` whenever a new 10% step is reached or `everyMs` passed (none while
 * the work is younger than `quietMs`), and one final `label: value/total unit in Ts (rate)`.
 */
export function lineProgress(
  label: string,
  total: number,
  unit: string,
  sink: (l: string) => void,
  opts: LineProgressOptions = {},
): Progress {
  const now = opts.now ?? (() => performance.now());
  const everyMs = opts.everyMs ?? 30000, quietMs = opts.quietMs ?? 1000;
  const start = now();
  let value = 0;
  let lastPrint = start;
  let lastDecile = 0;
  let lastExtra = "";
  return {
    tick(n = 1, extra = "") {
      value += n;
      lastExtra = extra;
      const t = now();
      const decile = total > 0 ? Math.floor((10 * value) / total) : 0;
      if (t - start < quietMs || (decile <= lastDecile && t - lastPrint < everyMs)) return;
      lastPrint = t;
      lastDecile = Math.max(lastDecile, decile);
      if (total > 0 && value >= total) return; // the final line says it
      const rate = value / ((t - start) / 1000);
      const pct = total > 0 ? ` (${Math.floor((100 * value) / total)}%)` : "";
      const eta = total > 0 && rate > 0 ? `, eta ${formatSeconds((total - value) / rate)}` : "";
      sink(
        `  ${label}: ${amount(value, total, unit)}${pct}, ${rateOf(rate, unit)}${eta} ${extra}`
          .trimEnd(),
      );
    },
    done() {
      const s = (now() - start) / 1000;
      const rate = s > 0 ? ` (${rateOf(value / s, unit)})` : "";
      sink(
        `  ${label}: ${amount(value, total, unit)} in ${s.toFixed(1)}s${rate} ${lastExtra}`
          .trimEnd(),
      );
    },
  };
}

/** 1234567 → "1.23M", 45100 → "45.1k", 12.3 → "12.3". */
export function formatCount(x: number): string {
  if (!Number.isFinite(x)) return "?";
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${(x / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${(x / 1e3).toPrecision(3)}k`;
  return a >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

/** 75 → "75s", 130 → "2m10s". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const r = Math.round(s);
  return r < 60 ? `${r}s` : `${Math.floor(r / 60)}m${String(r % 60).padStart(2, "0")}s`;
}
