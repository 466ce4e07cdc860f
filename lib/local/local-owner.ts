/**
 * One writer for the local data (issue 7): DynamoDB Local on `.local/dynamodb` is opened by
 * exactly one process at a time. That process holds `.local/owner.json`, created exclusively;
 * every other command joins a running local run, or waits for the owner with a message.
 *
 * An owner is identified by more than its PID, which the system reuses: by its PID and its
 * process start time (from `/proc/<pid>/stat` where there is one). A record whose process is
 * gone, or whose PID now belongs to another process, is stale: it is replaced, with a message.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HousekeeperError } from '../domain/errors.ts';

/** Who owns the local data. */
export interface LocalOwner {
  readonly pid: number;
  /** The process's start time as the system reports it; absent where it cannot be read. */
  readonly startedAt?: string;
  /** What it is doing, for the message others print. */
  readonly purpose: string;
}

/** The start time of process `pid` (field 22 of `/proc/<pid>/stat`), if the system has it. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Whether the process an owner record names is still that process. */
export function ownerAlive(
  owner: Pick<LocalOwner, 'pid' | 'startedAt'>,
  startTimeOf: (pid: number) => string | undefined = processStartTime,
): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: it exists but is someone else's; that is still a live process.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.startedAt === undefined) return true;
  const now = startTimeOf(owner.pid);
  return now === undefined || now === owner.startedAt;
}

/** This process, as an owner record. */
export function thisProcess(purpose: string): LocalOwner {
  const startedAt = processStartTime(process.pid);
  return { pid: process.pid, ...(startedAt !== undefined ? { startedAt } : {}), purpose };
}

function ownerFile(dir: string): string {
  return join(dir, 'owner.json');
}

/** The owner record, or undefined when there is none or it cannot be read (being written). */
export function readOwner(dir: string): LocalOwner | undefined {
  try {
    return JSON.parse(readFileSync(ownerFile(dir), 'utf8')) as LocalOwner;
  } catch {
    return undefined;
  }
}

/**
 * Takes ownership of the local data, waiting (at most `waitMs`) while another live process
 * holds it, and replacing a stale owner record. Returns the function that gives it up.
 * @throws HousekeeperError naming the owner when it is still held after `waitMs`.
 */
export async function takeLocalOwnership(options: {
  readonly dir: string;
  readonly purpose: string;
  readonly waitMs: number;
  /** Says why this process waits or what it replaced (stderr in the CLI). */
  readonly say: (message: string) => void;
  /** Whether a running local run appeared meanwhile: then the caller joins it instead. */
  readonly joinable?: () => boolean;
  readonly pollMs?: number;
}): Promise<(() => void) | 'join'> {
  const file = ownerFile(options.dir);
  const me = thisProcess(options.purpose);
  const deadline = Date.now() + options.waitMs;
  let told = false;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${JSON.stringify(me)}\n`);
      closeSync(fd);
      return () => {
        if (readOwner(options.dir)?.pid === me.pid) rmSync(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readOwner(options.dir);
    if (owner && !ownerAlive(owner)) {
      options.say(
        `replacing a stale owner of the local data: pid ${owner.pid} (${owner.purpose}) is gone${owner.startedAt !== undefined ? ' or is another process now' : ''}`,
      );
      rmSync(file, { force: true });
      continue;
    }
    if (options.joinable?.()) return 'join';
    if (Date.now() >= deadline) {
      throw new HousekeeperError(
        `the local data is in use by pid ${owner?.pid ?? '?'} (${owner?.purpose ?? 'starting'}) and stayed so for ${Math.round(options.waitMs / 1000)} s; wait for it to finish, or stop it`,
      );
    }
    if (!told && owner) {
      options.say(
        `waiting for pid ${owner.pid} (${owner.purpose}), which has the local data open…`,
      );
      told = true;
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
  }
}
