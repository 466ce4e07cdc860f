/**
 * What an executor decides, as pure functions (SPEC §5): how to boot an amphora, what a status
 * check, a preservation step or a poll means for its record, and what a task given up leaves
 * on it. `lib/app/execute-task.ts` only does the I/O around these.
 */
import {
  type AmphoraRecord,
  expiryTime,
  type FailureCode,
  type LaunchRecord,
  pendingTask,
  type RecordTaskType,
  transition,
  update,
} from './amphora.ts';
import { cappedExponential } from './backoff.ts';
import type { CreateOutcome } from './pool.ts';
import type { FailureKind } from './retry-policy.ts';
import {
  computeZoneOf,
  launchDigest,
  poolOf,
  type Settings,
  zoneNetworks,
  zoneOf,
} from './settings.ts';

/** The launch spec of one boot, as the driver receives it. */
export interface BootSpec {
  readonly imageId?: string;
  readonly flavorId?: string;
  readonly networkIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  readonly keyName?: string;
  readonly serverGroupId?: string;
  readonly configDrive: boolean;
  readonly userData?: string;
}

/** How to boot a record's server, or why it cannot be booted. */
export type BootPlan =
  | {
      readonly ok: true;
      readonly pool: string;
      readonly computeZone?: string;
      readonly spec: BootSpec;
      /** What the record keeps of it. */
      readonly launch: LaunchRecord;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * The boot of a PENDING_CREATE record: its pool's current launch spec for its zone, with the
 * image the planner chose when it created the record (so the record keeps what it booted).
 */
export function bootPlan(settings: Settings, record: AmphoraRecord): BootPlan {
  const spec = poolOf(settings, record.pool);
  if (!spec) return { ok: false, reason: `pool ${record.pool} is no longer configured` };
  const zone = zoneOf(spec, record.zone);
  if (!zone) {
    return {
      ok: false,
      reason: `zone ${record.zone} is no longer configured in pool ${record.pool}`,
    };
  }
  const l = spec.launch;
  const imageId = record.launch?.imageId ?? l.image_id;
  if (l.image_tag !== undefined && imageId === undefined) {
    return { ok: false, reason: `no image resolved for tag ${l.image_tag} of pool ${record.pool}` };
  }
  const computeZone = record.computeZone ?? computeZoneOf(zone);
  return {
    ok: true,
    pool: record.pool,
    ...(computeZone !== undefined ? { computeZone } : {}),
    spec: {
      ...(imageId !== undefined ? { imageId } : {}),
      ...(l.flavor_id !== undefined ? { flavorId: l.flavor_id } : {}),
      networkIds: [...zoneNetworks(l, zone)],
      securityGroupIds: [...l.security_group_ids],
      ...(l.key_name !== undefined ? { keyName: l.key_name } : {}),
      ...(l.server_group_id !== undefined ? { serverGroupId: l.server_group_id } : {}),
      configDrive: l.config_drive,
      ...(l.user_data !== undefined ? { userData: l.user_data } : {}),
    },
    launch: {
      ...(imageId !== undefined ? { imageId } : {}),
      ...(l.flavor_id !== undefined ? { flavorId: l.flavor_id } : {}),
      digest: launchDigest(l, zone),
    },
  };
}

/** A record change an executor writes, what to report, and what follows. */
export interface Step {
  readonly next: AmphoraRecord;
  /** A short machine-readable outcome, e.g. `ready`, `still-booting`. */
  readonly outcome: string;
  /** How the write counts in the creation back-off of the record's zone. */
  readonly createOutcome?: CreateOutcome;
  /** Send the record's new task again after this many seconds. */
  readonly followUpSeconds?: number;
}

/** Delay before the n-th poll: check_initial_delay × 2^n, capped by check_max_delay. */
export function pollDelay(
  settings: Pick<Settings, 'check_initial_delay' | 'check_max_delay'>,
  polls: number,
): number {
  return cappedExponential(settings.check_initial_delay, polls, settings.check_max_delay);
}

function failed(record: AmphoraRecord, code: FailureCode, message: string, now: number) {
  return transition(record, 'ERROR', {
    now,
    reason: code,
    patch: { failure: { code, message, at: now } },
  });
}

/** PENDING_CREATE → BOOTING once the server exists (booted now, or adopted from a retry). */
export function afterBoot(
  record: AmphoraRecord,
  boot: { readonly serverId: string; readonly adopted: boolean; readonly launch?: LaunchRecord },
  now: number,
  settings: Pick<Settings, 'check_initial_delay'>,
): Step {
  const next = transition(record, 'BOOTING', {
    now,
    reason: boot.adopted ? 'SERVER_ADOPTED' : 'SERVER_REQUESTED',
    patch: {
      computeId: boot.serverId,
      bootStartedAt: now,
      lastSeenAliveAt: now,
      task: pendingTask('CHECK', now),
      ...(boot.launch ? { launch: boot.launch } : {}),
    },
  });
  return {
    next,
    outcome: boot.adopted ? 'adopted' : 'booted',
    followUpSeconds: settings.check_initial_delay,
  };
}

/** What a status check saw of a booting server. */
export type ServerObservation =
  | { readonly kind: 'gone' }
  | { readonly kind: 'no-server-id' }
  | { readonly kind: 'seen'; readonly status: string; readonly fault?: string };

/**
 * A BOOTING record after a status check: READY when ACTIVE; ERROR on ERROR, a vanished server
 * or the boot timeout; otherwise polled again, with a growing delay.
 */
export function afterStatusCheck(
  record: AmphoraRecord,
  seen: ServerObservation,
  now: number,
  settings: Pick<Settings, 'boot_timeout' | 'check_initial_delay' | 'check_max_delay'>,
): Step {
  const toError = (code: FailureCode, message: string, outcome: string): Step => ({
    next: failed(record, code, message, now),
    outcome,
    createOutcome: 'failure',
  });
  if (seen.kind === 'no-server-id') {
    return toError('SERVER_GONE', 'booting without a server id', 'server-gone');
  }
  if (seen.kind === 'gone') {
    return toError(
      'SERVER_GONE',
      `server ${record.computeId} disappeared while booting`,
      'server-gone',
    );
  }
  if (seen.status === 'ACTIVE') {
    return {
      next: transition(record, 'READY', {
        now,
        reason: 'SERVER_ACTIVE',
        patch: { lastSeenAliveAt: now },
      }),
      outcome: 'ready',
      createOutcome: 'success',
    };
  }
  if (seen.status === 'ERROR') {
    return toError('BOOT_FAILED', seen.fault ?? 'server went to ERROR', 'boot-failed');
  }
  if (
    record.bootStartedAt !== undefined &&
    now - record.bootStartedAt >= settings.boot_timeout * 1000
  ) {
    return toError(
      'BOOT_TIMEOUT',
      `server ${record.computeId} still ${seen.status} after boot_timeout (${settings.boot_timeout} s)`,
      'boot-timeout',
    );
  }
  const polls = (record.task?.polls ?? 0) + 1;
  return {
    next: update(record, {
      now,
      patch: {
        task: { ...pendingTask('CHECK', now, polls), reissues: record.task?.reissues ?? 0 },
        lastSeenAliveAt: now,
      },
    }),
    outcome: 'still-booting',
    followUpSeconds: pollDelay(settings, polls),
  };
}

/** A PENDING_DELETE record once its server (and any snapshot image) is gone. */
export function afterRemove(
  record: AmphoraRecord,
  now: number,
  settings: Pick<Settings, 'amphora_expiry_age'>,
): AmphoraRecord {
  const deleted = { deletedAt: now, lastSeenAliveAt: record.lastSeenAliveAt };
  return transition(record, 'DELETED', {
    now,
    reason: 'REMOVED',
    patch: {
      deletedAt: now,
      expiresAt: expiryTime(deleted, settings.amphora_expiry_age * 1000),
    },
  });
}

/** The next I/O a PRESERVE task does for its record. */
export type PreservationAction =
  | { readonly kind: 'abandon'; readonly message: string }
  | { readonly kind: 'unplug'; readonly serverId: string }
  | { readonly kind: 'snapshot'; readonly serverId: string }
  | { readonly kind: 'check-image'; readonly serverId: string; readonly imageId: string };

/** What a PRESERVING record needs next. */
export function preservationAction(record: AmphoraRecord): PreservationAction {
  const p = record.preservation;
  if (!record.computeId || !p) return { kind: 'abandon', message: 'no server to preserve' };
  if (p.method === 'unplug') return { kind: 'unplug', serverId: record.computeId };
  if (!p.imageId) return { kind: 'snapshot', serverId: record.computeId };
  return { kind: 'check-image', serverId: record.computeId, imageId: p.imageId };
}

/** PRESERVING → PRESERVED once unplugged, or once the image is active and the server stopped. */
export function preservationDone(record: AmphoraRecord, now: number): Step {
  return {
    next: transition(record, 'PRESERVED', {
      now,
      reason: 'PRESERVED',
      patch: { preservation: { ...record.preservation!, preservedAt: now } },
    }),
    outcome: 'preserved',
  };
}

/** The record once its snapshot was requested: the image id kept, the image polled. */
export function snapshotRequested(
  record: AmphoraRecord,
  imageId: string,
  now: number,
  settings: Pick<Settings, 'check_initial_delay' | 'check_max_delay'>,
): Step {
  return {
    next: update(record, {
      now,
      patch: {
        preservation: { ...record.preservation!, imageId },
        task: pendingTask('PRESERVE', now),
      },
    }),
    outcome: 'snapshot-requested',
    followUpSeconds: pollDelay(settings, 0),
  };
}

/** What an image's status means for a preservation: done, failed, or poll again. */
export function afterImageStatus(
  record: AmphoraRecord,
  status: string,
  now: number,
  settings: Pick<Settings, 'check_initial_delay' | 'check_max_delay'>,
): { readonly kind: 'stop' } | { readonly kind: 'failed'; readonly message: string } | Step {
  if (status === 'active') return { kind: 'stop' };
  if (status === 'killed' || status === 'deleted' || status === 'pending_delete') {
    return {
      kind: 'failed',
      message: `snapshot image ${record.preservation?.imageId} ended ${status}`,
    };
  }
  const polls = (record.task?.polls ?? 0) + 1;
  return {
    next: update(record, { now, patch: { task: pendingTask('PRESERVE', now, polls) } }),
    outcome: 'image-pending',
    followUpSeconds: pollDelay(settings, polls),
  };
}

/**
 * The snapshot is active but the server refused to stop because it is still busy (Nova finishing
 * the upload): the same check runs again after the next poll delay, and then stops it.
 */
export function stopDeferred(
  record: AmphoraRecord,
  now: number,
  settings: Pick<Settings, 'check_initial_delay' | 'check_max_delay'>,
): Step {
  const polls = (record.task?.polls ?? 0) + 1;
  return {
    next: update(record, { now, patch: { task: pendingTask('PRESERVE', now, polls) } }),
    outcome: 'stop-deferred',
    followUpSeconds: pollDelay(settings, polls),
  };
}

/** A preservation whose server is gone: nothing left to diagnose; the record is removed. */
export function preservationAbandoned(record: AmphoraRecord, message: string, now: number): Step {
  return {
    next: transition(record, 'PENDING_DELETE', {
      now,
      reason: 'SERVER_GONE',
      patch: {
        failure: { code: 'SERVER_GONE', message, at: now },
        task: pendingTask('REMOVE', now),
      },
    }),
    outcome: 'server-gone',
    followUpSeconds: 0,
  };
}

/** The state a record task expects its record in. */
export const STATE_OF_TASK = {
  CREATE: 'PENDING_CREATE',
  CHECK: 'BOOTING',
  REMOVE: 'PENDING_DELETE',
  PRESERVE: 'PRESERVING',
} as const satisfies Record<RecordTaskType, AmphoraRecord['state']>;

/**
 * What a task given up leaves on its record, where the lifecycle has a place for it; undefined
 * when the record keeps its task (the planner re-issues it after task_timeout).
 */
export function givenUp(
  record: AmphoraRecord,
  type: RecordTaskType,
  kind: FailureKind,
  reason: string,
  now: number,
): (Omit<Step, 'outcome'> & { readonly metric?: 'DeleteFailed' | 'PreserveFailed' }) | undefined {
  const failWith = (code: FailureCode) =>
    update(record, { now, patch: { failure: { code, message: reason, at: now } } });
  if (type === 'CREATE') {
    return { next: failed(record, 'CREATE_FAILED', reason, now), createOutcome: 'failure' };
  }
  if (type === 'REMOVE' && kind !== 'Unauthorized' && kind !== 'Unavailable') {
    return { next: failWith('DELETE_FAILED'), metric: 'DeleteFailed' };
  }
  if (type === 'PRESERVE' && kind !== 'Unauthorized') {
    return { next: failWith('PRESERVE_FAILED'), metric: 'PreserveFailed' };
  }
  return undefined;
}

/** A DELETED record whose server a sweep saw alive: its purge waits (Octavia's zombie rule). */
export function seenAliveAfterDeletion(
  record: AmphoraRecord,
  now: number,
  settings: Pick<Settings, 'amphora_expiry_age'>,
): AmphoraRecord {
  return update(record, {
    now,
    patch: {
      lastSeenAliveAt: now,
      expiresAt: expiryTime(
        { ...record, lastSeenAliveAt: now },
        settings.amphora_expiry_age * 1000,
      ),
    },
  });
}
