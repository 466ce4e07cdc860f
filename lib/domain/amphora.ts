/**
 * The amphora lifecycle (SPEC §3): states, the records that carry them, and the only legal
 * moves between them. Pure: every function returns a new record and never touches I/O.
 */
import { IllegalTransitionError } from './errors.ts';

/** Every state an amphora record can be in. */
export const AMPHORA_STATES = [
  'PENDING_CREATE',
  'BOOTING',
  'READY',
  'ALLOCATED',
  'PENDING_DELETE',
  'DELETED',
  'ERROR',
  'PRESERVE',
  'PRESERVING',
  'PRESERVED',
] as const;

/** A lifecycle state. */
export type AmphoraState = (typeof AMPHORA_STATES)[number];

/**
 * Whether a transition frees a deploying slot (a boot became READY, failed or timed out), so
 * that a planner run now may start the next boot instead of waiting for the schedule.
 */
export function freesDeployingSlot(from: AmphoraState, to: AmphoraState): boolean {
  return DEPLOYING_STATES.includes(from) && !DEPLOYING_STATES.includes(to);
}

/** States that count as *deploying*: toward the target and toward the deploying cap. */
export const DEPLOYING_STATES: readonly AmphoraState[] = ['PENDING_CREATE', 'BOOTING'];

/** States that occupy a place in the preserved set (the in-flight ones included). */
export const PRESERVED_STATES: readonly AmphoraState[] = ['PRESERVING', 'PRESERVED'];

/** States the planner reads in full every cycle; the others it only counts. */
export const ACTIONABLE_STATES: readonly AmphoraState[] = [
  'PENDING_CREATE',
  'BOOTING',
  'PENDING_DELETE',
  'ERROR',
  'PRESERVE',
  'PRESERVING',
  'PRESERVED',
];

/** The zone of records in a pool that has no availability zones configured. */
export const ANY_ZONE = '*';

/**
 * The legal moves. Anything not listed is an {@link IllegalTransitionError}.
 * PENDING_DELETE and DELETED are reachable from every live state so that an operator can
 * always hand an amphora back; nothing leaves DELETED.
 */
export const TRANSITIONS: Readonly<Record<AmphoraState, readonly AmphoraState[]>> = {
  PENDING_CREATE: ['BOOTING', 'ERROR', 'PENDING_DELETE'],
  BOOTING: ['READY', 'ERROR', 'PENDING_DELETE'],
  READY: ['ALLOCATED', 'ERROR', 'PRESERVE', 'PENDING_DELETE'],
  ALLOCATED: ['ERROR', 'PRESERVE', 'PENDING_DELETE'],
  ERROR: ['PRESERVING', 'PENDING_DELETE'],
  PRESERVE: ['PRESERVING', 'PENDING_DELETE'],
  PRESERVING: ['PRESERVED', 'PENDING_DELETE'],
  PRESERVED: ['PENDING_DELETE'],
  PENDING_DELETE: ['DELETED'],
  DELETED: [],
};

/** The kinds of work an executor does. */
export const TASK_TYPES = [
  'CREATE',
  'CHECK',
  'REMOVE',
  'PRESERVE',
  'SWEEP',
  'RESOLVE_IMAGE',
] as const;
/** A kind of executor work. */
export type TaskType = (typeof TASK_TYPES)[number];
/** The kinds of work done on one amphora record. */
export type RecordTaskType = Exclude<TaskType, 'SWEEP' | 'RESOLVE_IMAGE'>;

/** The task a record is waiting on: what was issued, when, and how many times it was re-issued. */
export interface PendingTask {
  readonly type: RecordTaskType;
  readonly issuedAt: number;
  /** 0 for the first issue; incremented each time the planner re-issues a stuck task. */
  readonly reissues: number;
  /** Polls so far (CHECK of a slow boot, PRESERVE waiting on an image); drives the back-off. */
  readonly polls: number;
  /**
   * The CHECK the planner sends when a boot runs past `boot_timeout`: the cloud is asked once
   * before the boot is failed (an ACTIVE server becomes READY, one still building ERROR).
   */
  readonly final?: boolean;
  /**
   * The fencing token of the planner cycle that issued it; absent when an executor did (it
   * sends right after its write). A cycle that never confirmed its sends leaves this token
   * newer than the lease's `sentThrough`: the next cycle sends the task again.
   */
  readonly token?: number;
}

/** How an amphora was, or is being, preserved for diagnosis. */
export interface Preservation {
  readonly method: 'unplug' | 'snapshot';
  /** Position in the preserved queue: ordered by (fencing token of the cycle, index in cycle). */
  readonly seq: string;
  /** When the planner decided to preserve it. */
  readonly queuedAt: number;
  /** When preservation completed (the record entered PRESERVED). */
  readonly preservedAt?: number;
  /** The Glance image of a snapshot, once requested. */
  readonly imageId?: string;
}

/** Why a record needs an operator: a terminal failure the planner will not retry on its own. */
export interface Failure {
  readonly code: FailureCode;
  readonly message: string;
  readonly at: number;
}

/** Machine-readable failure codes on records. */
export type FailureCode =
  | 'CREATE_FAILED'
  | 'BOOT_FAILED'
  | 'BOOT_TIMEOUT'
  | 'SERVER_GONE'
  | 'SERVER_MISSING'
  | 'SERVER_FAILED'
  | 'DELETE_FAILED'
  | 'PRESERVE_FAILED'
  | 'PRESERVE_TIMEOUT'
  | 'TASK_EXHAUSTED'
  | 'REPORTED';

/** One entry of a record's bounded history. */
export interface HistoryEntry {
  readonly at: number;
  readonly from: AmphoraState;
  readonly to: AmphoraState;
  readonly reason: string;
}

/** The most history entries a record keeps; older ones are dropped first. */
export const HISTORY_LIMIT = 20;

/** What an amphora was booted with (decided by the planner, confirmed by the boot). */
export interface LaunchRecord {
  /** The Glance image, resolved from the pool's tag at the time, when the pool names one. */
  readonly imageId?: string;
  readonly flavorId?: string;
  /** The launch digest of everything else (`launchDigest` in settings.ts). */
  readonly digest: string;
}

/** What sweeps saw of a record's server when it was not there, or not well. */
export interface Missing {
  /** The first sweep (epoch ms) of this run of sightings. */
  readonly since: number;
  /** Sweeps in a row that did not find the server healthy. */
  readonly sweeps: number;
  /** Nova's status when the server was listed but not healthy; absent when it was not listed. */
  readonly status?: string;
}

/** One amphora as stored. Times are epoch milliseconds. */
export interface AmphoraRecord {
  readonly id: string;
  /** The pool it belongs to. */
  readonly pool: string;
  /** Octavia's availability-zone name, or {@link ANY_ZONE}. */
  readonly zone: string;
  /** The compute zone its server was requested in, when one was. */
  readonly computeZone?: string;
  /** What it boots (or booted) with. */
  readonly launch?: LaunchRecord;
  readonly state: AmphoraState;
  /** Incremented by every write; every write is conditional on the version it read. */
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the record entered its current state: the order for "oldest first". */
  readonly stateSince: number;
  /** The Nova server id, once booted. */
  readonly computeId?: string;
  readonly bootStartedAt?: number;
  /** Last time a driver call saw the server alive; guards the purge of deleted records. */
  readonly lastSeenAliveAt?: number;
  readonly task?: PendingTask;
  readonly preservation?: Preservation;
  readonly failure?: Failure;
  /**
   * Set by sweeps that did not find the server (or found it broken): the first such sweep, and
   * how many in a row. Two in a row make a ghost (see ghosts.ts); a sweep that sees it clears it.
   */
  readonly missing?: Missing;
  readonly deletedAt?: number;
  /** When a DELETED record may be purged (epoch ms); the store maps it to its TTL. */
  readonly expiresAt?: number;
  readonly history: readonly HistoryEntry[];
}

/** Fields a transition or an update may set besides the state. `undefined` clears a field. */
export type RecordPatch = {
  -readonly [K in
    | 'computeId'
    | 'launch'
    | 'bootStartedAt'
    | 'lastSeenAliveAt'
    | 'task'
    | 'preservation'
    | 'failure'
    | 'missing'
    | 'deletedAt'
    | 'expiresAt']?: AmphoraRecord[K] | undefined;
};

/** Orders records oldest in their state first (by `stateSince`, ties by id): "oldest first". */
export function oldestFirst(a: AmphoraRecord, b: AmphoraRecord): number {
  return a.stateSince - b.stateSince || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * A record as read from storage, with the fields that older versions did not write filled in:
 * records written before pools existed belong to the pool `default`.
 */
export function normalizeRecord(stored: Omit<AmphoraRecord, 'pool'> & { pool?: string }) {
  return (stored.pool === undefined ? { ...stored, pool: 'default' } : stored) as AmphoraRecord;
}

/** Whether the lifecycle allows moving from `from` to `to`. */
export function canTransition(from: AmphoraState, to: AmphoraState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** A task just issued at `now`: never re-issued, `polls` polls so far. */
export function pendingTask(type: PendingTask['type'], now: number, polls = 0): PendingTask {
  return { type, issuedAt: now, reissues: 0, polls };
}

/** A fresh PENDING_CREATE record, at version 1. */
export function newAmphora(input: {
  id: string;
  pool: string;
  zone: string;
  now: number;
  task?: PendingTask;
  computeZone?: string;
  launch?: LaunchRecord;
}): AmphoraRecord {
  return {
    id: input.id,
    pool: input.pool,
    zone: input.zone,
    ...(input.computeZone !== undefined ? { computeZone: input.computeZone } : {}),
    ...(input.launch ? { launch: input.launch } : {}),
    state: 'PENDING_CREATE',
    version: 1,
    createdAt: input.now,
    updatedAt: input.now,
    stateSince: input.now,
    ...(input.task ? { task: input.task } : {}),
    history: [],
  };
}

function applyPatch(record: AmphoraRecord, patch: RecordPatch): AmphoraRecord {
  const next: Record<string, unknown> = { ...record };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  return next as unknown as AmphoraRecord;
}

/**
 * Moves a record to a new state, one version up, with a history entry.
 * The pending task is cleared unless the patch sets a new one.
 * @throws IllegalTransitionError when the lifecycle does not allow the move.
 */
export function transition(
  record: AmphoraRecord,
  to: AmphoraState,
  change: { now: number; reason: string; patch?: RecordPatch },
): AmphoraRecord {
  if (!canTransition(record.state, to)) {
    throw new IllegalTransitionError(record.id, record.state, to);
  }
  const history = [
    ...record.history,
    { at: change.now, from: record.state, to, reason: change.reason },
  ].slice(-HISTORY_LIMIT);
  const moved: AmphoraRecord = {
    ...record,
    state: to,
    version: record.version + 1,
    updatedAt: change.now,
    stateSince: change.now,
    history,
  };
  return applyPatch(moved, { task: undefined, missing: undefined, ...change.patch });
}

/** Changes fields of a record without moving its state, one version up. */
export function update(
  record: AmphoraRecord,
  change: { now: number; patch: RecordPatch },
): AmphoraRecord {
  return applyPatch(
    { ...record, version: record.version + 1, updatedAt: change.now },
    change.patch,
  );
}

/** Whether a record still stands for a server that may exist (everything but DELETED). */
export function isLive(record: Pick<AmphoraRecord, 'state'>): boolean {
  return record.state !== 'DELETED';
}

/** The purge time of a DELETED record: never before the amphora was last seen alive + the age. */
export function expiryTime(
  record: Pick<AmphoraRecord, 'deletedAt' | 'lastSeenAliveAt'>,
  expiryAgeMs: number,
): number {
  return Math.max(record.deletedAt ?? 0, record.lastSeenAliveAt ?? 0) + expiryAgeMs;
}

/** Name given to the server of an amphora; it carries the amphora id (Nova cannot filter metadata). */
export function serverName(amphoraId: string): string {
  return `amphora-${amphoraId}`;
}

/** Name given to the snapshot image of a preserved amphora. */
export function snapshotName(amphoraId: string): string {
  return `amphora-${amphoraId}-preserved`;
}
