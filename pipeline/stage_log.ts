/**
 * The log and progress reporting given to running stages. On a terminal (stderr is a TTY) a
 * progress bar is drawn; otherwise plain lines are printed at most every few seconds. Everything
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
 * Progress counted in `bytes` is shown in MB with the rate in MB/s: `12.5/600.0 MB 8.1 MB/s`.
 * Other units are shown as counts.
 */
function amount(value: number, total: number, unit: string, seconds: number): string {
  if (unit !== "bytes") return `${value}/${total} ${unit}`;
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const rate = seconds > 0 ? value / 1e6 / seconds : 0;
  return `${mb(value)}/${mb(total)} MB ${rate.toFixed(1)} MB/s`;
}

function barProgress(label: string, total: number, unit: string): Progress {
  const start = performance.now();
  const bar = new cliProgress.SingleBar({
    format: `  ${label} [{bar}] {percentage}% {amount} eta {eta_formatted} {extra}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { extra: "", amount: amount(0, total, unit, 0) });
  let value = 0;
  return {
    tick(n = 1, extra = "") {
      value += n;
      const s = (performance.now() - start) / 1000;
      bar.update(value, { extra, amount: amount(value, total, unit, s) });
    },
    done() {
      bar.stop();
    },
  };
}

function lineProgress(
  label: string,
  total: number,
  unit: string,
  sink: (l: string) => void,
): Progress {
  const start = performance.now();
  let value = 0;
  let lastPrint = start;
  let lastExtra = "";
  return {
    tick(n = 1, extra = "") {
      value += n;
      lastExtra = extra;
      const now = performance.now();
      if (now - lastPrint > 5000) {
        lastPrint = now;
        const pct = total > 0 ? Math.round((100 * value) / total) : 0;
        const s = (now - start) / 1000;
        const eta = value > 0 && value < total
          ? ` eta ${Math.round(((total - value) * s) / value)}s`
          : "";
        sink(`  ${label}: ${amount(value, total, unit, s)} (${pct}%)${eta} ${extra}`.trimEnd());
      }
    },
    done() {
      const s = (performance.now() - start) / 1000;
      sink(
        `  ${label}: ${amount(value, total, unit, s)} in ${s.toFixed(1)}s ${lastExtra}`.trimEnd(),
      );
    },
  };
}
