/**
 * Use case: execute one task message (SPEC §5). Each task is idempotent: it acts only if the
 * record is still at the version the task was issued against (anything else is stale and is
 * acknowledged without acting), a retried CREATE adopts the server it already made, and a
 * duplicate REMOVE is a success. What to do about a failure is decided in one place,
 * {@link failureVerdict}; the consuming edge applies the returned disposition.
 */
import { METRICS } from '../config/deployment.ts';
import type { HousekeeperConfig } from '../config/schema.ts';
import {
  type AmphoraRecord,
  type AmphoraState,
  expiryTime,
  type FailureCode,
  pendingTask,
  transition,
  update,
} from '../domain/amphora.ts';
import {
  AmphoraDriverError,
  driverErrorKind,
  NotFoundError,
  VersionConflictError,
} from '../domain/errors.ts';
import { planOrphans } from '../domain/orphans.ts';
import { type FailureKind, failureVerdict, retryDelaySeconds } from '../domain/retry-policy.ts';
import { decodeTask, type RecordTask, type Task, taskMessageFor } from '../domain/tasks.ts';
import type { AmphoraDriver, CallOptions } from '../ports/amphora-driver.ts';
import type { Clock, IdSource } from '../ports/clock.ts';
import type { PoolStore } from '../ports/pool-store.ts';
import type { Disposition, IncomingMessage, TaskQueue } from '../ports/task-queue.ts';
import type { Logger, Metrics } from '../ports/telemetry.ts';

/** What an executor needs. */
export interface ExecutorDeps {
  readonly store: PoolStore;
  readonly queue: TaskQueue;
  readonly driver: AmphoraDriver;
  readonly clock: Clock;
  readonly newId: IdSource;
  readonly config: HousekeeperConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** What happened to one message. */
export interface ExecutionReport {
  readonly disposition: Disposition;
  readonly task?: Task;
  /** A short machine-readable outcome, e.g. `ready`, `stale`, `retry`. */
  readonly outcome: string;
}

type Outcome = string;

/** Executes one delivered message and says what to do with it. Never throws. */
export async function executeMessage(
  deps: ExecutorDeps,
  message: IncomingMessage,
  options: CallOptions = {},
): Promise<ExecutionReport> {
  let task: Task;
  try {
    task = decodeTask(message.body);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    deps.logger.error('malformed task message: moving it to the dead-letter queue', {
      messageId: message.messageId,
      reason,
    });
    deps.metrics.count(METRICS.MalformedTask.name);
    return { disposition: { kind: 'dead-letter', reason }, outcome: 'malformed' };
  }
  try {
    const outcome = await run(deps, task, options);
    deps.metrics.count(METRICS.TaskOutcome.name, 1, { TaskType: task.type, Outcome: outcome });
    deps.logger.info('task done', { taskId: task.taskId, type: task.type, outcome, ...ids(task) });
    return { disposition: { kind: 'ack' }, task, outcome };
  } catch (error) {
    return failed(deps, task, error, message.receiveCount);
  }
}

function ids(task: Task): Record<string, unknown> {
  return task.type === 'SWEEP' ? {} : { amphoraId: task.amphoraId, version: task.version };
}

function run(deps: ExecutorDeps, task: Task, options: CallOptions): Promise<Outcome> {
  switch (task.type) {
    case 'CREATE':
      return create(deps, task, options);
    case 'CHECK':
      return check(deps, task, options);
    case 'REMOVE':
      return remove(deps, task, options);
    case 'PRESERVE':
      return preserve(deps, task, options);
    case 'SWEEP':
      return sweep(deps, options);
  }
}

// -- failure handling: the one place that decides retry versus acknowledge ----------------------

async function failed(
  deps: ExecutorDeps,
  task: Task,
  error: unknown,
  receiveCount: number,
): Promise<ExecutionReport> {
  const kind: FailureKind = driverErrorKind(error) ?? 'Unexpected';
  const verdict = failureVerdict(kind, receiveCount, deps.config);
  const reason = `${kind}: ${error instanceof Error ? error.message : String(error)}`;
  deps.metrics.count(METRICS.TaskError.name, 1, { TaskType: task.type, ErrorClass: kind });
  if (kind === 'Unauthorized') deps.metrics.count(METRICS.DriverUnauthorized.name);
  deps.logger[verdict.kind === 'retry' ? 'warn' : 'error']('task failed', {
    taskId: task.taskId,
    type: task.type,
    ...ids(task),
    errorClass: kind,
    error: reason,
    receiveCount,
    verdict: verdict.kind,
  });
  if (verdict.kind === 'retry') {
    return {
      disposition: { kind: 'retry', delaySeconds: verdict.delaySeconds, reason },
      task,
      outcome: 'retry',
    };
  }
  try {
    await giveUp(deps, task, kind, reason);
  } catch (sideEffectError) {
    // Recording the failure failed too: keep the message so that nothing is lost.
    deps.logger.error('could not record the failure; the task will be retried', {
      taskId: task.taskId,
      error: String(sideEffectError),
    });
    return {
      disposition: { kind: 'retry', delaySeconds: retryDelaySeconds(receiveCount), reason },
      task,
      outcome: 'retry',
    };
  }
  if (verdict.deadLetter) {
    deps.metrics.count(METRICS.TaskDeadLettered.name, 1, { TaskType: task.type, ErrorClass: kind });
    return { disposition: { kind: 'dead-letter', reason }, task, outcome: 'dead-letter' };
  }
  return { disposition: { kind: 'ack' }, task, outcome: 'gave-up' };
}

/** Records on the amphora that its task was given up, where the lifecycle has a place for it. */
async function giveUp(
  deps: ExecutorDeps,
  task: Task,
  kind: FailureKind,
  reason: string,
): Promise<void> {
  if (task.type === 'SWEEP' || task.type === 'CHECK') return;
  const now = deps.clock.now();
  const record = await current(deps, task, stateFor[task.type]);
  if (!record) return;
  if (task.type === 'CREATE') {
    const failed = transition(record, 'ERROR', {
      now,
      reason: 'CREATE_FAILED',
      patch: { failure: { code: 'CREATE_FAILED', message: reason, at: now } },
    });
    if (await write(deps, record, failed)) {
      await deps.store.recordCreateOutcome(record.zone, 'failure', now);
    }
  } else if (task.type === 'REMOVE' && kind === 'DeleteFailed') {
    deps.metrics.count(METRICS.DeleteFailed.name);
    await write(deps, record, failWith(record, 'DELETE_FAILED', reason, now));
  } else if (task.type === 'PRESERVE' && kind !== 'Unauthorized') {
    deps.metrics.count(METRICS.PreserveFailed.name);
    await write(deps, record, failWith(record, 'PRESERVE_FAILED', reason, now));
  }
  // Otherwise (e.g. Unauthorized on REMOVE) the record keeps its task: the planner re-issues
  // it after task_timeout, one slow retry at a time, once the credentials work again.
}

function failWith(
  record: AmphoraRecord,
  code: FailureCode,
  message: string,
  now: number,
): AmphoraRecord {
  return update(record, { now, patch: { failure: { code, message, at: now } } });
}

const stateFor: Record<RecordTask['type'], AmphoraState> = {
  CREATE: 'PENDING_CREATE',
  CHECK: 'BOOTING',
  REMOVE: 'PENDING_DELETE',
  PRESERVE: 'PRESERVING',
};

// -- record helpers -----------------------------------------------------------------------------

/** The record, if the task is still current for it (same version, expected state). */
async function current(
  deps: ExecutorDeps,
  task: RecordTask,
  state: AmphoraState,
): Promise<AmphoraRecord | undefined> {
  const record = await deps.store.get(task.amphoraId);
  if (!record || record.version !== task.version || record.state !== state) return undefined;
  return record;
}

/** Writes `next` over `previous`; false when someone else moved the record first. */
async function write(
  deps: ExecutorDeps,
  previous: AmphoraRecord,
  next: AmphoraRecord,
): Promise<boolean> {
  try {
    await deps.store.update(next, previous.version);
    return true;
  } catch (error) {
    if (error instanceof VersionConflictError) return false;
    throw error;
  }
}

/** Sends the record's own pending task again, at its new version, after a delay. */
async function sendFollowUp(
  deps: ExecutorDeps,
  record: AmphoraRecord,
  delaySeconds: number,
): Promise<void> {
  await deps.queue.send([
    { task: taskMessageFor(record, deps.newId()), delaySeconds: Math.round(delaySeconds) },
  ]);
}

/** Delay before the n-th poll: check_initial_delay × 2^n, capped by check_max_delay. */
function pollDelay(config: HousekeeperConfig, polls: number): number {
  return Math.min(config.check_initial_delay * 2 ** Math.min(polls, 20), config.check_max_delay);
}

// -- CREATE ---------------------------------------------------------------------------------------

async function create(deps: ExecutorDeps, task: RecordTask, o: CallOptions): Promise<Outcome> {
  const record = await current(deps, task, 'PENDING_CREATE');
  if (!record) return 'stale';
  // A retry (after a crash or a lost reply) adopts the server it already made.
  const existing = (await deps.driver.listServers({ amphoraId: record.id }, o)).find(
    (s) => s.status !== 'DELETING',
  );
  const server =
    existing ?? (await deps.driver.createServer({ amphoraId: record.id, zone: record.zone }, o));
  const now = deps.clock.now();
  const next = transition(record, 'BOOTING', {
    now,
    reason: existing ? 'SERVER_ADOPTED' : 'SERVER_REQUESTED',
    patch: {
      computeId: server.id,
      bootStartedAt: now,
      lastSeenAliveAt: now,
      task: pendingTask('CHECK', now),
    },
  });
  if (!(await write(deps, record, next))) {
    await releaseUnwantedServer(deps, record.id, server.id, o);
    return 'stale';
  }
  await sendFollowUp(deps, next, deps.config.check_initial_delay);
  return existing ? 'adopted' : 'booted';
}

/** After losing the race to record a booted server, deletes it unless the record still wants it. */
async function releaseUnwantedServer(
  deps: ExecutorDeps,
  amphoraId: string,
  serverId: string,
  o: CallOptions,
): Promise<void> {
  const now = await deps.store.get(amphoraId);
  const wanted =
    now !== undefined &&
    ((now.state === 'PENDING_CREATE' && now.computeId === undefined) ||
      (now.state !== 'DELETED' && now.computeId === serverId));
  if (wanted) return;
  try {
    await deps.driver.deleteServer(serverId, o);
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
}

// -- CHECK ----------------------------------------------------------------------------------------

async function check(deps: ExecutorDeps, task: RecordTask, o: CallOptions): Promise<Outcome> {
  const record = await current(deps, task, 'BOOTING');
  if (!record) return 'stale';
  const now = () => deps.clock.now();
  const toError = async (code: FailureCode, message: string, outcome: Outcome) => {
    const at = now();
    const next = transition(record, 'ERROR', {
      now: at,
      reason: code,
      patch: { failure: { code, message, at } },
    });
    if (!(await write(deps, record, next))) return 'stale';
    await deps.store.recordCreateOutcome(record.zone, 'failure', at);
    return outcome;
  };
  if (!record.computeId)
    return toError('SERVER_GONE', 'booting without a server id', 'server-gone');
  let server: Awaited<ReturnType<AmphoraDriver['getServer']>>;
  try {
    server = await deps.driver.getServer(record.computeId, o);
  } catch (error) {
    if (error instanceof NotFoundError) {
      return toError(
        'SERVER_GONE',
        `server ${record.computeId} disappeared while booting`,
        'server-gone',
      );
    }
    throw error;
  }
  if (server.status === 'ACTIVE') {
    const at = now();
    const next = transition(record, 'READY', {
      now: at,
      reason: 'SERVER_ACTIVE',
      patch: { lastSeenAliveAt: at },
    });
    if (!(await write(deps, record, next))) return 'stale';
    await deps.store.recordCreateOutcome(record.zone, 'success', at);
    return 'ready';
  }
  if (server.status === 'ERROR') {
    return toError('BOOT_FAILED', server.fault ?? 'server went to ERROR', 'boot-failed');
  }
  const at = now();
  if (
    record.bootStartedAt !== undefined &&
    at - record.bootStartedAt >= deps.config.boot_timeout * 1000
  ) {
    return toError(
      'BOOT_TIMEOUT',
      `server ${record.computeId} still ${server.status} after boot_timeout (${deps.config.boot_timeout} s)`,
      'boot-timeout',
    );
  }
  const polls = (record.task?.polls ?? 0) + 1;
  const next = update(record, {
    now: at,
    patch: {
      task: { ...pendingTask('CHECK', at, polls), reissues: record.task?.reissues ?? 0 },
      lastSeenAliveAt: at,
    },
  });
  if (!(await write(deps, record, next))) return 'stale';
  await sendFollowUp(deps, next, pollDelay(deps.config, polls));
  return 'still-booting';
}

// -- REMOVE ---------------------------------------------------------------------------------------

async function ignoreNotFound(call: () => Promise<void>): Promise<void> {
  try {
    await call();
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
}

async function remove(deps: ExecutorDeps, task: RecordTask, o: CallOptions): Promise<Outcome> {
  const record = await current(deps, task, 'PENDING_DELETE');
  if (!record) return 'stale';
  // Without a server id (a create that failed or crashed), find servers by the amphora's tag.
  const serverIds = record.computeId
    ? [record.computeId]
    : (await deps.driver.listServers({ amphoraId: record.id }, o)).map((s) => s.id);
  for (const id of serverIds) await ignoreNotFound(() => deps.driver.deleteServer(id, o));
  if (record.preservation?.method === 'snapshot') {
    const images = new Set(
      (await deps.driver.listImages({ amphoraId: record.id }, o)).map((i) => i.id),
    );
    if (record.preservation.imageId) images.add(record.preservation.imageId);
    for (const id of images) await ignoreNotFound(() => deps.driver.deleteImage(id, o));
  }
  const at = deps.clock.now();
  const deleted = { deletedAt: at, lastSeenAliveAt: record.lastSeenAliveAt };
  const next = transition(record, 'DELETED', {
    now: at,
    reason: 'REMOVED',
    patch: {
      deletedAt: at,
      expiresAt: expiryTime(deleted, deps.config.amphora_expiry_age * 1000),
    },
  });
  return (await write(deps, record, next)) ? 'removed' : 'stale';
}

// -- PRESERVE -------------------------------------------------------------------------------------

async function preserve(deps: ExecutorDeps, task: RecordTask, o: CallOptions): Promise<Outcome> {
  const record = await current(deps, task, 'PRESERVING');
  if (!record) return 'stale';
  const preservation = record.preservation;
  const serverId = record.computeId;
  const abandon = async (message: string): Promise<Outcome> => {
    // The server is gone: nothing left to diagnose; remove the record (and any image).
    const at = deps.clock.now();
    const next = transition(record, 'PENDING_DELETE', {
      now: at,
      reason: 'SERVER_GONE',
      patch: { failure: { code: 'SERVER_GONE', message, at }, task: pendingTask('REMOVE', at) },
    });
    if (!(await write(deps, record, next))) return 'stale';
    await sendFollowUp(deps, next, 0);
    return 'server-gone';
  };
  if (!serverId || !preservation) return abandon('no server to preserve');
  try {
    if (preservation.method === 'unplug') {
      await deps.driver.unplug(serverId, o);
      return finishPreserve(deps, record);
    }
    if (!preservation.imageId) {
      // A retry after a crash finds the image it already requested instead of making another.
      const earlier = (await deps.driver.listImages({ amphoraId: record.id }, o))[0];
      const imageId =
        earlier?.id ?? (await deps.driver.snapshot(serverId, { amphoraId: record.id }, o)).imageId;
      const at = deps.clock.now();
      const next = update(record, {
        now: at,
        patch: { preservation: { ...preservation, imageId }, task: pendingTask('PRESERVE', at) },
      });
      if (!(await write(deps, record, next))) return 'stale';
      await sendFollowUp(deps, next, pollDelay(deps.config, 0));
      return 'snapshot-requested';
    }
    const image = await deps.driver.getImage(preservation.imageId, o);
    if (image.status === 'active') {
      await deps.driver.stopServer(serverId, o);
      return finishPreserve(deps, record);
    }
    if (
      image.status === 'killed' ||
      image.status === 'deleted' ||
      image.status === 'pending_delete'
    ) {
      throw new AmphoraDriverError(`snapshot image ${image.id} ended ${image.status}`);
    }
    const at = deps.clock.now();
    const polls = (record.task?.polls ?? 0) + 1;
    const next = update(record, { now: at, patch: { task: pendingTask('PRESERVE', at, polls) } });
    if (!(await write(deps, record, next))) return 'stale';
    await sendFollowUp(deps, next, pollDelay(deps.config, polls));
    return 'image-pending';
  } catch (error) {
    if (error instanceof NotFoundError && !(await serverExists(deps, serverId, o))) {
      return abandon(`server ${serverId} disappeared before it was preserved`);
    }
    throw error;
  }
}

async function serverExists(deps: ExecutorDeps, serverId: string, o: CallOptions) {
  try {
    await deps.driver.getServer(serverId, o);
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
}

async function finishPreserve(deps: ExecutorDeps, record: AmphoraRecord): Promise<Outcome> {
  const at = deps.clock.now();
  const next = transition(record, 'PRESERVED', {
    now: at,
    reason: 'PRESERVED',
    patch: { preservation: { ...record.preservation!, preservedAt: at } },
  });
  return (await write(deps, record, next)) ? 'preserved' : 'stale';
}

// -- SWEEP ----------------------------------------------------------------------------------------

async function sweep(deps: ExecutorDeps, o: CallOptions): Promise<Outcome> {
  const servers = await deps.driver.listServers(undefined, o);
  const amphoraIds = servers.flatMap((s) => (s.amphoraId ? [s.amphoraId] : []));
  const records = new Map((await deps.store.getMany(amphoraIds)).map((r) => [r.id, r]));
  const now = deps.clock.now();
  const decisions = planOrphans({
    servers,
    records,
    marks: await deps.store.listOrphanMarks(),
    now,
    graceMs: deps.config.orphan_grace_period * 1000,
  });
  for (const mark of decisions.mark) await deps.store.putOrphanMark(mark);
  for (const orphan of decisions.remove) {
    await ignoreNotFound(() => deps.driver.deleteServer(orphan.serverId, o));
    await deps.store.deleteOrphanMark(orphan.serverId);
    deps.logger.warn('removed an orphaned server', { ...orphan });
  }
  for (const serverId of decisions.unmark) await deps.store.deleteOrphanMark(serverId);
  for (const id of decisions.zombies) {
    const record = records.get(id)!;
    // Seen alive after deletion: push the purge back (Octavia's zombie rule).
    const next = update(record, {
      now,
      patch: {
        lastSeenAliveAt: now,
        expiresAt: expiryTime(
          { ...record, lastSeenAliveAt: now },
          deps.config.amphora_expiry_age * 1000,
        ),
      },
    });
    await write(deps, record, next);
  }
  deps.metrics.count(METRICS.OrphansMarked.name, decisions.mark.length);
  deps.metrics.count(METRICS.OrphansRemoved.name, decisions.remove.length);
  deps.logger.info('sweep', { servers: servers.length, ...countsOf(decisions) });
  return 'swept';
}

function countsOf(d: ReturnType<typeof planOrphans>) {
  return {
    marked: d.mark.length,
    removed: d.remove.length,
    unmarked: d.unmark.length,
    zombies: d.zombies.length,
  };
}
