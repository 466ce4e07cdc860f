/**
 * Ghosts (issue 7), pure: the other direction of the sweep's comparison. Orphans are servers
 * without a live record; a ghost is a live record whose server is gone, or broken. The cloud is
 * the truth: a sweep that does not list a record's server twice in a row, or lists it in Nova
 * ERROR, acts on the record instead of trusting it.
 *
 * - READY, and BOOTING past its first check → ERROR (`SERVER_MISSING` or `SERVER_FAILED`); the
 *   planner removes it (a missing server has nothing to preserve) and boots a replacement.
 * - A READY spare whose server is listed but not ACTIVE (SHUTOFF, …) is not a spare: the same.
 * - PRESERVING and PRESERVED whose server is gone → PENDING_DELETE: the preserved slot is freed.
 *   One in Nova ERROR stays: it is kept for diagnosis, often because it broke.
 * - ALLOCATED is the load balancer's, not ours to replace: the record is marked, the sweep
 *   reports it in a metric and its log, and `status` lists it, until an operator acts.
 */
import {
  type AmphoraRecord,
  type AmphoraState,
  type FailureCode,
  pendingTask,
  transition,
  update,
} from './amphora.ts';

/** A server as a sweep lists it, with its status. */
export interface ListedServer {
  readonly id: string;
  readonly status: string;
  readonly fault?: string;
}

/** The states whose records a sweep checks against the servers it listed. */
export const GHOST_WATCHED_STATES: readonly AmphoraState[] = [
  'BOOTING',
  'READY',
  'ALLOCATED',
  'PRESERVING',
  'PRESERVED',
];

/** Sweeps in a row that must miss a server before its record counts as a ghost. */
export const MISSING_SWEEPS = 2;

/** One record change a sweep decided. */
export interface GhostChange {
  readonly record: AmphoraRecord;
  readonly next: AmphoraRecord;
  /**
   * `seen-missing`: first sighting (or a broken ALLOCATED one), marked only; `cleared`: the
   * server is back or healthy again; `ghost`: acted on.
   */
  readonly outcome: 'seen-missing' | 'cleared' | 'ghost';
  readonly code?: FailureCode;
}

/** Whether a record is checked at all: it has a server id and has been through a check. */
function watched(r: AmphoraRecord): boolean {
  if (r.computeId === undefined || !GHOST_WATCHED_STATES.includes(r.state)) return false;
  // A fresh boot's server may not be listed yet; after its first check it must be.
  return r.state !== 'BOOTING' || (r.task?.polls ?? 0) >= 1;
}

/** Why the server is not a healthy one for a record in this state, or undefined when it is. */
function unhealthy(r: AmphoraRecord, server: ListedServer | undefined): string | undefined {
  if (!server) return undefined;
  // A preserved server is kept for diagnosis, often because it broke: ERROR is no reason to drop it.
  if (r.state === 'PRESERVED' || r.state === 'PRESERVING') return undefined;
  if (server.status === 'ERROR') return 'ERROR';
  if (r.state === 'READY' && server.status !== 'ACTIVE') return server.status;
  return undefined;
}

/**
 * Compares live records with the servers one sweep listed (all of this deployment's servers).
 * Returns the records to write; records that need nothing are left out.
 */
export function planGhosts(input: {
  readonly records: readonly AmphoraRecord[];
  readonly servers: readonly ListedServer[];
  readonly now: number;
}): GhostChange[] {
  const byId = new Map(input.servers.map((s) => [s.id, s]));
  const changes: GhostChange[] = [];
  for (const r of input.records) {
    if (!watched(r)) continue;
    const server = byId.get(r.computeId!);
    const bad = unhealthy(r, server);
    if (server && bad === undefined) {
      if (r.missing) {
        changes.push({
          record: r,
          next: update(r, { now: input.now, patch: { missing: undefined } }),
          outcome: 'cleared',
        });
      }
      continue;
    }
    const sweeps = (r.missing?.sweeps ?? 0) + 1;
    const missing = {
      since: r.missing?.since ?? input.now,
      sweeps,
      ...(bad !== undefined ? { status: bad } : {}),
    };
    const code: FailureCode = server ? 'SERVER_FAILED' : 'SERVER_MISSING';
    const ghost = bad !== undefined || sweeps >= MISSING_SWEEPS;
    if (!ghost || r.state === 'ALLOCATED') {
      changes.push({
        record: r,
        next: update(r, { now: input.now, patch: { missing } }),
        outcome: ghost ? 'ghost' : 'seen-missing',
        ...(ghost ? { code } : {}),
      });
      continue;
    }
    const message = server
      ? `server ${r.computeId} is ${bad}${server.fault ? `: ${server.fault}` : ''}, found by a sweep`
      : `server ${r.computeId} was missing from ${sweeps} sweeps in a row`;
    const failure = { code, message, at: input.now };
    const next =
      r.state === 'READY' || r.state === 'BOOTING'
        ? transition(r, 'ERROR', { now: input.now, reason: code, patch: { failure } })
        : transition(r, 'PENDING_DELETE', {
            now: input.now,
            reason: code,
            patch: { failure, task: pendingTask('REMOVE', input.now) },
          });
    changes.push({ record: r, next, outcome: 'ghost', code });
  }
  return changes;
}

/** ALLOCATED records a sweep found without a healthy server: for the operator. */
export function allocatedGhosts(records: readonly AmphoraRecord[]): AmphoraRecord[] {
  return records.filter(
    (r) =>
      r.state === 'ALLOCATED' &&
      r.missing !== undefined &&
      (r.missing.status !== undefined || r.missing.sweeps >= MISSING_SWEEPS),
  );
}
