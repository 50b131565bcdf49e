/**
 * Per-key locks: `<cache>/.locks/<key>.lock`, created exclusively (O_EXCL), holding the owner's
 * host, boot id, pid and a heartbeat (the file's mtime, refreshed every few seconds). A lock whose
 * owner is gone (same machine — host name and boot id — and no such process, or a heartbeat older
 * than {@link STALE_MS}) is taken over. Two runs on one cache therefore never compute the same key
 * at once, also when the cache is shared by several nodes (cluster workers): a lock from another
 * machine is only taken over once its heartbeat stops, and nodes that share a host name (containers)
 * are told apart by their boot id.
 */
import { join } from "node:path";
import { hostname } from "node:os";

/** A lock held by this process. */
export interface HeldLock {
  release(): Promise<void>;
}

/** Heartbeat age after which a lock from another host counts as abandoned (ms). */
export const STALE_MS = 60_000;
const HEARTBEAT_MS = 5_000;

let bootIdMemo: string | undefined;
/** This machine's boot id (Linux), or `""` where there is none. */
export function bootId(): string {
  if (bootIdMemo === undefined) {
    try {
      bootIdMemo = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    } catch {
      bootIdMemo = "";
    }
  }
  return bootIdMemo;
}

/** True when process `pid` exists on this machine. */
export function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const f = await Deno.open(path, { write: true, createNew: true });
    const body = JSON.stringify({
      host: hostname(),
      boot: bootId(),
      pid: Deno.pid,
      since: new Date().toISOString(),
    });
    await f.write(new TextEncoder().encode(body));
    f.close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  }
}

async function isStale(path: string): Promise<boolean> {
  let owner: { host?: string; boot?: string; pid?: number };
  let mtime: number;
  try {
    owner = JSON.parse(await Deno.readTextFile(path));
    mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch {
    // Vanished (released) or half-written: a half-written file older than STALE_MS is stale.
    try {
      mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
      return Date.now() - mtime > STALE_MS;
    } catch {
      return false;
    }
  }
  const heartbeatStopped = Date.now() - mtime > STALE_MS;
  const sameMachine = owner.host === hostname() && (owner.boot ?? bootId()) === bootId();
  if (sameMachine && typeof owner.pid === "number") {
    return owner.pid !== Deno.pid && !processAlive(owner.pid);
  }
  return heartbeatStopped;
}

/** Describe the owner of a lock file for a waiting message. */
async function ownerText(path: string): Promise<string> {
  try {
    const o = JSON.parse(await Deno.readTextFile(path));
    return `pid ${o.pid} on ${o.host}`;
  } catch {
    return "another run";
  }
}

/**
 * Acquire the lock of `key`, waiting while another live run holds it. `onWait` is called once
 * with a description of the holder when the lock is busy.
 */
export async function acquireKeyLock(
  lockRoot: string,
  key: string,
  onWait?: (holder: string) => void,
): Promise<HeldLock> {
  await Deno.mkdir(lockRoot, { recursive: true });
  const path = join(lockRoot, `${key}.lock`);
  let told = false;
  while (!(await tryCreate(path))) {
    if (await isStale(path)) {
      // Take over by renaming the stale file away: only one contender wins the rename.
      const grave = `${path}.stale.${Deno.pid}.${crypto.randomUUID().slice(0, 6)}`;
      try {
        await Deno.rename(path, grave);
        await Deno.remove(grave);
      } catch { /* someone else took it over first */ }
      continue;
    }
    if (!told && onWait) {
      onWait(await ownerText(path));
      told = true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const timer = setInterval(() => {
    const now = new Date();
    try {
      Deno.utimeSync(path, now, now);
    } catch { /* released */ }
  }, HEARTBEAT_MS);
  Deno.unrefTimer(timer);
  return {
    async release() {
      clearInterval(timer);
      try {
        await Deno.remove(path);
      } catch { /* already gone */ }
    },
  };
}
