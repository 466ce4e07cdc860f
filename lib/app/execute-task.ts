/**
 * Use case: execute one task message (SPEC §5). Each task is idempotent: it acts only if the
 * record is still at the version the task was issued against (anything else is stale and is
 * acknowledged without acting), a retried CREATE adopts the server it already made, and a
 * duplicate REMOVE is a success. What each observation means is decided by the pure functions
 * of `lib/domain/execution.ts`; what to do about a failure, in one place, {@link failureVerdict}.
 * This module does the I/O around them; the consuming edge applies the returned disposition.
 */
import { METRICS } from '../config/deployment.ts';
import { type AmphoraRecord, freesDeployingSlot } from '../domain/amphora.ts';
import {
  afterRefusal,
  afterSuccess,
  type CloudHealth,
  claimProbe,
  gate,
  isRefusing,
} from '../domain/cloud-health.ts';
import {
  AmphoraDriverError,
  driverErrorKind,
  NotFoundError,
  ServerBusyError,
  VersionConflictError,
} from '../domain/errors.ts';
import {
  afterBoot,
  afterImageStatus,
  afterRemove,
  afterStatusCheck,
  bootPlan,
  givenUp,
  preservationAbandoned,
  preservationAction,
  preservationDone,
  type ServerObservation,
  STATE_OF_TASK,
  type Step,
  seenAliveAfterDeletion,
  snapshotRequested,
  stopDeferred,
} from '../domain/execution.ts';
import { allocatedGhosts, GHOST_WATCHED_STATES, planGhosts } from '../domain/ghosts.ts';
import { planOrphans } from '../domain/orphans.ts';
import { countDrift, type PoolCounts } from '../domain/pool.ts';
import { type FailureKind, failureVerdict, retryDelaySeconds } from '../domain/retry-policy.ts';
import { poolOf, type Settings } from '../domain/settings.ts';
import {
  decodeTask,
  type RecordTask,
  type ResolveImageTask,
  type Task,
  taskMessageFor,
} from '../domain/tasks.ts';
import type { AmphoraDriver, CallOptions, ServerInfo } from '../ports/amphora-driver.ts';
import type { Clock, IdSource } from '../ports/clock.ts';
import type { OrphanMarkStore, PoolStateStore, RecordStore } from '../ports/pool-store.ts';
import type { Disposition, IncomingMessage, TaskQueue } from '../ports/task-queue.ts';
import type { Logger, Metrics } from '../ports/telemetry.ts';

/** What an executor needs. */
export interface ExecutorDeps {
  readonly store: RecordStore &
    OrphanMarkStore &
    Pick<
      PoolStateStore,
      'recordImage' | 'getCloudHealth' | 'putCloudHealth' | 'getPoolState' | 'repairCounts'
    >;
  readonly queue: TaskQueue;
  readonly driver: AmphoraDriver;
  readonly clock: Clock;
  readonly newId: IdSource;
  readonly config: Settings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * Told when a write freed a deploying slot (see freesDeployingSlot). Set by executeMessage,
   * which reports it as `wakesPlanner`; callers read the report.
   */
  readonly onSlotFreed?: () => void;
}

/** What happened to one message. */
export interface ExecutionReport {
  readonly disposition: Disposition;
  readonly task?: Task;
  /** A short machine-readable outcome, e.g. `ready`, `stale`, `retry`. */
  readonly outcome: string;
  /**
   * The task freed a deploying slot: the edge should request a planner run now
   * (requestPlannerRun), so that the next boot starts within seconds, not at the next tick.
   */
  readonly wakesPlanner?: boolean;
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
  let freed = false;
  const report = await executeTask(
    {
      ...deps,
      onSlotFreed: () => {
        freed = true;
      },
    },
    task,
    message.receiveCount,
    options,
  );
  return freed ? { ...report, wakesPlanner: true } : report;
}

async function executeTask(
  deps: ExecutorDeps,
  task: Task,
  receiveCount: number,
  options: CallOptions,
): Promise<ExecutionReport> {
  const breaker = new Breaker(deps);
  try {
    const admitted = await breaker.admit();
    if (!admitted) {
      deps.metrics.count(METRICS.TaskOutcome.name, 1, { TaskType: task.type, Outcome: DROPPED });
      deps.logger.info('task dropped: the cloud refuses', {
        taskId: task.taskId,
        type: task.type,
        ...ids(task),
      });
      return { disposition: { kind: 'ack' }, task, outcome: DROPPED };
    }
    const outcome = await run({ ...deps, driver: breaker.watch(deps.driver) }, task, options);
    await breaker.succeeded();
    deps.metrics.count(METRICS.TaskOutcome.name, 1, { TaskType: task.type, Outcome: outcome });
    deps.logger.info('task done', { taskId: task.taskId, type: task.type, outcome, ...ids(task) });
    return { disposition: { kind: 'ack' }, task, outcome };
  } catch (error) {
    return failed(deps, task, error, receiveCount, breaker);
  }
}

/** The outcome of a task the breaker dropped: the record keeps it; the planner re-issues it. */
export const DROPPED = 'dropped-cloud-refusing';

/** How long an executor trusts the cloud's health it last read (other executors may change it). */
export const CLOUD_HEALTH_MAX_AGE_MS = 5_000;

const healthCache = new WeakMap<object, { readonly at: number; readonly health?: CloudHealth }>();
/** The read of the cloud's health in flight per store: a batch's tasks, expiring together, share it. */
const healthReads = new WeakMap<object, Promise<CloudHealth | undefined>>();

function readHealth(store: ExecutorDeps['store']): Promise<CloudHealth | undefined> {
  let read = healthReads.get(store);
  if (!read) {
    read = store.getCloudHealth().finally(() => healthReads.delete(store));
    healthReads.set(store, read);
  }
  return read;
}

/**
 * The cloud breaker around one task (lib/domain/cloud-health.ts decides; this does the I/O). The
 * health is read at most every {@link CLOUD_HEALTH_MAX_AGE_MS} per store, so a healthy cloud
 * costs no request per task. Only a driver call that answered counts as a success: a stale task
 * proves nothing about the cloud.
 */
class Breaker {
  private health: CloudHealth | undefined;
  private probe = false;
  private claimed: CloudHealth | undefined;
  private answered = 0;
  private readonly deps: ExecutorDeps;

  constructor(deps: ExecutorDeps) {
    this.deps = deps;
  }

  /** Whether the task may call the cloud: always while it accepts; one probe while it refuses. */
  async admit(): Promise<boolean> {
    const { deps } = this;
    const now = deps.clock.now();
    const cached = healthCache.get(deps.store);
    if (cached && now - cached.at < CLOUD_HEALTH_MAX_AGE_MS) this.health = cached.health;
    else this.remember(await readHealth(deps.store));
    const g = gate(this.health, now);
    if (g === 'go') return true;
    if (g === 'drop') return false;
    const claim = claimProbe(this.health!, now, deps.config);
    if (!(await deps.store.putCloudHealth(claim, this.health?.probeAt ?? null))) {
      healthCache.delete(deps.store);
      return false;
    }
    this.probe = true;
    this.claimed = claim;
    this.remember(claim);
    deps.logger.info('probing the cloud', { lastError: claim.lastError, kind: claim.kind });
    return true;
  }

  /** The driver, counting the calls that answered. */
  watch<D extends object>(driver: D): D {
    return new Proxy(driver, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const result = value.apply(target, args);
          if (result instanceof Promise) {
            return result.then(
              (v) => {
                this.answered += 1;
                return v;
              },
              (error: unknown) => {
                // A NotFound is an answer too: the cloud took the credentials.
                if (driverErrorKind(error) === 'NotFound') this.answered += 1;
                throw error;
              },
            );
          }
          return result;
        };
      },
    });
  }

  /** After the task succeeded: closes the breaker if the cloud answered, else hands back the probe. */
  async succeeded(): Promise<void> {
    const { deps } = this;
    if (this.answered === 0) {
      if (this.probe && this.claimed && this.health) {
        // The probe made no call (a stale task): let the next task probe instead.
        const back = { ...this.claimed, probeAt: deps.clock.now() };
        if (await deps.store.putCloudHealth(back, this.claimed.probeAt ?? null))
          this.remember(back);
      }
      return;
    }
    const next = afterSuccess(this.health, deps.clock.now());
    if (!next) return;
    await deps.store.putCloudHealth(next);
    this.remember(next);
    if (this.probe) deps.logger.info('the cloud answers again: the breaker closes', {});
  }

  /** After a refusal of the cloud: opens the breaker, or pushes the next probe out. */
  async refused(kind: 'Unauthorized' | 'Unavailable', message: string): Promise<boolean> {
    const { deps } = this;
    const next = afterRefusal(
      this.health,
      { kind, message, probe: this.probe },
      deps.clock.now(),
      deps.config,
    );
    if (next) {
      await deps.store.putCloudHealth(next);
      this.remember(next);
      if (isRefusing(next) && !this.probe && !isRefusing(this.health)) {
        deps.logger.error('the cloud refuses: cloud work stops, except one probe per interval', {
          kind,
          error: message,
          probeAt: next.probeAt,
        });
      }
    }
    return isRefusing(next ?? this.health);
  }

  private remember(health: CloudHealth | undefined): void {
    this.health = health;
    healthCache.set(this.deps.store, { at: this.deps.clock.now(), ...(health ? { health } : {}) });
  }
}

function ids(task: Task): Record<string, unknown> {
  if (task.type === 'SWEEP') return {};
  if (task.type === 'RESOLVE_IMAGE') return { pool: task.pool };
  return { amphoraId: task.amphoraId, version: task.version };
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
    case 'RESOLVE_IMAGE':
      return resolveImage(deps, task, options);
  }
}

// -- failure handling: the one place that decides retry versus acknowledge ----------------------

async function failed(
  deps: ExecutorDeps,
  task: Task,
  error: unknown,
  receiveCount: number,
  breaker: Breaker,
): Promise<ExecutionReport> {
  const kind: FailureKind = driverErrorKind(error) ?? 'Unexpected';
  const message = error instanceof Error ? error.message : String(error);
  let verdict = failureVerdict(kind, receiveCount, deps.config, task.type);
  const reason = `${kind}: ${message}`;
  deps.metrics.count(METRICS.TaskError.name, 1, { TaskType: task.type, ErrorClass: kind });
  if (kind === 'Unauthorized') deps.metrics.count(METRICS.DriverUnauthorized.name);
  if (kind === 'Unauthorized' || kind === 'Unavailable') {
    try {
      if ((await breaker.refused(kind, message)) && kind === 'Unavailable') {
        verdict = { kind: 'cloud-refusing' };
      }
    } catch (storeError) {
      deps.logger.error('could not record the cloud’s refusal', { error: String(storeError) });
    }
  }
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
  if (verdict.kind === 'cloud-refusing') {
    // No retry storm and no dead letter: the record keeps its task, re-issued after recovery.
    return { disposition: { kind: 'ack' }, task, outcome: 'cloud-refusing' };
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
  if (task.type === 'SWEEP' || task.type === 'CHECK' || task.type === 'RESOLVE_IMAGE') return;
  const record = await current(deps, task);
  if (!record) return;
  const step = givenUp(record, task.type, kind, reason, deps.clock.now());
  if (!step) return;
  if (step.metric) deps.metrics.count(METRICS[step.metric].name);
  await write(deps, record, { ...step, outcome: 'gave-up' });
}

// -- record helpers -----------------------------------------------------------------------------

/** The record, if the task is still current for it (same version, expected state). */
async function current(deps: ExecutorDeps, task: RecordTask): Promise<AmphoraRecord | undefined> {
  const record = await deps.store.get(task.amphoraId);
  if (!record || record.version !== task.version || record.state !== STATE_OF_TASK[task.type]) {
    return undefined;
  }
  return record;
}

/**
 * Writes a step over `previous` (the counters and the creation back-off move in the same
 * write), then sends its follow-up task. False when someone else moved the record first.
 */
async function write(deps: ExecutorDeps, previous: AmphoraRecord, step: Step): Promise<boolean> {
  try {
    await deps.store.update(
      step.next,
      { version: previous.version, state: previous.state },
      step.createOutcome ? { createOutcome: step.createOutcome } : {},
    );
  } catch (error) {
    if (error instanceof VersionConflictError) return false;
    throw error;
  }
  if (freesDeployingSlot(previous.state, step.next.state)) deps.onSlotFreed?.();
  if (step.followUpSeconds !== undefined && step.next.task) {
    await deps.queue.send([
      {
        task: taskMessageFor(step.next, deps.newId()),
        delaySeconds: Math.round(step.followUpSeconds),
      },
    ]);
  }
  return true;
}

/** Writes a step and reports its outcome, or `stale` when the record moved on. */
async function apply(deps: ExecutorDeps, previous: AmphoraRecord, step: Step): Promise<Outcome> {
  return (await write(deps, previous, step)) ? step.outcome : 'stale';
}

async function ignoreNotFound(call: () => Promise<void>): Promise<void> {
  try {
    await call();
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
}

// -- CREATE ---------------------------------------------------------------------------------------

async function create(deps: ExecutorDeps, task: RecordTask, o: CallOptions): Promise<Outcome> {
  const record = await current(deps, task);
  if (!record) return 'stale';
  const boot = bootPlan(deps.config, record);
  if (!boot.ok) {
    const step = givenUp(record, 'CREATE', 'AmphoraDriverError', boot.reason, deps.clock.now())!;
    return (await write(deps, record, { ...step, outcome: 'not-bootable' }))
      ? 'not-bootable'
      : 'stale';
  }
  // A retry (after a crash or a lost reply) adopts the server it already made: a lookup by this
  // amphora's own tag, never a listing of the pool.
  const existing = (await deps.driver.listServers({ amphoraId: record.id }, o)).find(
    (s) => s.status !== 'DELETING',
  );
  const server =
    existing ??
    (await deps.driver.createServer(
      {
        amphoraId: record.id,
        pool: boot.pool,
        ...(boot.computeZone !== undefined ? { computeZone: boot.computeZone } : {}),
        spec: boot.spec,
      },
      o,
    ));
  const step = afterBoot(
    record,
    { serverId: server.id, adopted: existing !== undefined, launch: boot.launch },
    deps.clock.now(),
    deps.config,
  );
  if (!(await write(deps, record, step))) {
    await releaseUnwantedServer(deps, record.id, server.id, o);
    return 'stale';
  }
  return step.outcome;
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
  await ignoreNotFound(() => deps.driver.deleteServer(serverId, o));
}

// -- CHECK ----------------------------------------------------------------------------------------

async function check(deps: ExecutorDeps, task: RecordTask, o: CallOptions): Promise<Outcome> {
  const record = await current(deps, task);
  if (!record) return 'stale';
  let seen: ServerObservation;
  if (!record.computeId) seen = { kind: 'no-server-id' };
  else {
    try {
      const server = await deps.driver.getServer(record.computeId, o);
      seen = {
        kind: 'seen',
        status: server.status,
        ...(server.fault !== undefined ? { fault: server.fault } : {}),
      };
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      seen = { kind: 'gone' };
    }
  }
  return apply(deps, record, afterStatusCheck(record, seen, deps.clock.now(), deps.config));
}

// -- REMOVE ---------------------------------------------------------------------------------------

async function remove(deps: ExecutorDeps, task: RecordTask, o: CallOptions): Promise<Outcome> {
  const record = await current(deps, task);
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
  const next = afterRemove(record, deps.clock.now(), deps.config);
  return apply(deps, record, { next, outcome: 'removed' });
}

// -- PRESERVE -------------------------------------------------------------------------------------

async function preserve(deps: ExecutorDeps, task: RecordTask, o: CallOptions): Promise<Outcome> {
  const record = await current(deps, task);
  if (!record) return 'stale';
  const action = preservationAction(record);
  const now = () => deps.clock.now();
  if (action.kind === 'abandon') {
    return apply(deps, record, preservationAbandoned(record, action.message, now()));
  }
  try {
    switch (action.kind) {
      case 'unplug':
        await deps.driver.unplug(action.serverId, o);
        return apply(deps, record, preservationDone(record, now()));
      case 'snapshot': {
        // A retry after a crash finds the image it already requested instead of making another.
        const earlier = (await deps.driver.listImages({ amphoraId: record.id }, o))[0];
        const imageId =
          earlier?.id ??
          (await deps.driver.snapshot(action.serverId, { amphoraId: record.id }, o)).imageId;
        return apply(deps, record, snapshotRequested(record, imageId, now(), deps.config));
      }
      case 'check-image': {
        const image = await deps.driver.getImage(action.imageId, o);
        const next = afterImageStatus(record, image.status, now(), deps.config);
        if ('next' in next) return apply(deps, record, next);
        if (next.kind === 'failed') throw new AmphoraDriverError(next.message);
        try {
          await deps.driver.stopServer(action.serverId, o);
        } catch (error) {
          if (error instanceof ServerBusyError) {
            return apply(deps, record, stopDeferred(record, now(), deps.config));
          }
          throw error;
        }
        return apply(deps, record, preservationDone(record, now()));
      }
    }
  } catch (error) {
    if (error instanceof NotFoundError && !(await serverExists(deps, action.serverId, o))) {
      const message = `server ${action.serverId} disappeared before it was preserved`;
      return apply(deps, record, preservationAbandoned(record, message, now()));
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

// -- RESOLVE_IMAGE --------------------------------------------------------------------------------

async function resolveImage(
  deps: ExecutorDeps,
  task: ResolveImageTask,
  o: CallOptions,
): Promise<Outcome> {
  const spec = poolOf(deps.config, task.pool);
  const tag = spec?.launch.image_tag;
  if (!spec || tag === undefined) return 'stale';
  const owner = spec.launch.image_owner_id;
  const base = { pool: task.pool, tag, ...(owner !== undefined ? { ownerId: owner } : {}) };
  try {
    const image = await deps.driver.resolveImage(
      { tag, ...(owner !== undefined ? { ownerId: owner } : {}) },
      o,
    );
    await deps.store.recordImage({ ...base, imageId: image.id, resolvedAt: deps.clock.now() });
    return 'resolved';
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    // No image with the tag: the pool cannot boot; the planner notes why until one appears.
    await deps.store.recordImage({ ...base, error: error.message, resolvedAt: deps.clock.now() });
    return 'no-image';
  }
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
    await write(deps, record, {
      next: seenAliveAfterDeletion(record, now, deps.config),
      outcome: 'zombie',
    });
  }
  const ghosts = await sweepGhosts(deps, servers, now);
  deps.metrics.count(METRICS.OrphansMarked.name, decisions.mark.length);
  deps.metrics.count(METRICS.OrphansRemoved.name, decisions.remove.length);
  deps.logger.info('sweep', {
    servers: servers.length,
    marked: decisions.mark.length,
    removed: decisions.remove.length,
    unmarked: decisions.unmark.length,
    zombies: decisions.zombies.length,
    ...ghosts,
  });
  return 'swept';
}

/**
 * The other direction: live records whose server this listing lacks, or lists broken (see
 * ghosts.ts). The listing above is complete (every server with our tag), so a record's server
 * missing from it is missing from the cloud, or was deleted since: hence two sweeps in a row.
 */
async function sweepGhosts(
  deps: ExecutorDeps,
  servers: readonly ServerInfo[],
  now: number,
): Promise<{
  ghosts: number;
  missingOnce: number;
  allocatedMissing: number;
  countersRepaired: boolean;
}> {
  const { counts } = await deps.store.getPoolState();
  const pools = [...new Set([...deps.config.pools.map((p) => p.name), ...Object.keys(counts)])];
  const records = (
    await Promise.all(
      pools.flatMap((pool) => GHOST_WATCHED_STATES.map((st) => deps.store.listByState(pool, st))),
    )
  ).flat();
  const repaired = await repairIfDrifted(deps, counts, records);
  let ghosts = 0;
  let missingOnce = 0;
  const stillMissing: AmphoraRecord[] = [];
  for (const change of planGhosts({ records, servers, now })) {
    // A freed preserved slot sends its REMOVE at once.
    const removing = change.next.state === 'PENDING_DELETE';
    const step: Step = {
      next: change.next,
      outcome: 'server-gone',
      ...(removing ? { followUpSeconds: 0 } : {}),
    };
    // A record that moved on since the listing (a version conflict) is left to the next sweep.
    if (!(await write(deps, change.record, step))) continue;
    if (change.outcome === 'seen-missing') missingOnce += 1;
    if (change.outcome === 'ghost' && change.next.state !== 'ALLOCATED') {
      ghosts += 1;
      deps.logger.warn('a record whose server is gone or broken', {
        amphoraId: change.record.id,
        serverId: change.record.computeId,
        state: change.record.state,
        to: change.next.state,
        code: change.code,
      });
    }
    if (change.next.state === 'ALLOCATED') stillMissing.push(change.next);
  }
  const allocated = allocatedGhosts(stillMissing);
  for (const r of allocated) {
    deps.logger.error(
      'an ALLOCATED amphora has no healthy server: the load balancer needs an operator',
      {
        amphoraId: r.id,
        serverId: r.computeId,
        missing: r.missing,
      },
    );
  }
  deps.metrics.count(METRICS.GhostsFound.name, ghosts);
  deps.metrics.count(METRICS.AllocatedServersMissing.name, allocated.length);
  return { ghosts, missingOnce, allocatedMissing: allocated.length, countersRepaired: repaired };
}

/**
 * The sweep's listing of the watched states is complete, so it doubles as a check of their
 * counters. A difference that is still there when the counters are read again (no transition
 * moved them meanwhile) is a drift, e.g. records deleted behind the counters' back: the
 * counters are rebuilt from the records, as `housekeeper repair-counts` does.
 * @returns whether the counters were rebuilt.
 */
async function repairIfDrifted(
  deps: ExecutorDeps,
  counts: PoolCounts,
  records: readonly AmphoraRecord[],
): Promise<boolean> {
  const drift = countDrift(counts, records, GHOST_WATCHED_STATES);
  if (drift.length === 0) return false;
  const again = countDrift((await deps.store.getPoolState()).counts, records, GHOST_WATCHED_STATES);
  if (JSON.stringify(again) !== JSON.stringify(drift)) return false; // moved: look next sweep
  deps.logger.warn('the counters differ from the records: rebuilding them', { drift });
  await deps.store.repairCounts();
  deps.metrics.count(METRICS.CountersRepaired.name);
  return true;
}
