/**
 * One planner cycle as a pure function (SPEC §4): the pool state, the settings and the time in;
 * decisions out, each a write group that commits atomically plus the tasks to send once it has,
 * each with machine-readable reasons.
 *
 * Reading happens in two steps so that a cycle reads only what it decides on: {@link readPlan}
 * turns the counters into the lists to fetch, then {@link plan} decides. ALLOCATED and DELETED
 * records are never listed, READY ones only when a zone must shrink or rotate.
 */
import {
  type AmphoraRecord,
  type AmphoraState,
  DEPLOYING_STATES,
  type LaunchRecord,
  newAmphora,
  oldestFirst,
  type PendingTask,
  pendingTask,
  transition,
  update,
} from './amphora.ts';
import { createAllowance } from './backoff.ts';
import { droppedByBreaker, isRefusing } from './cloud-health.ts';
import {
  countedZones,
  countOf,
  type PoolCounts,
  type PoolImage,
  type PoolState,
  stateTotals,
  type WriteGroup,
  type WriteOp,
  type ZoneCreateStats,
} from './pool.ts';
import {
  computeZoneOf,
  launchDigest,
  type PoolSpec,
  poolDeployingCap,
  poolOf,
  poolPreservedCap,
  type Settings,
  zoneOf,
  zoneTarget,
} from './settings.ts';
import { type OutgoingTask, TASK_SCHEMA_VERSION, taskMessageFor } from './tasks.ts';

/** Machine-readable reasons for decisions. */
export type ReasonCode =
  | 'TOP_UP'
  | 'ROTATE_STALE_LAUNCH'
  | 'SHRINK_EXCESS'
  | 'BOOT_TIMEOUT'
  | 'BOOT_TIMEOUT_CHECK'
  | 'TASK_STUCK'
  | 'TASK_MISSING'
  | 'TASK_EXHAUSTED'
  | 'TASK_AFTER_OUTAGE'
  | 'TASK_UNSENT'
  | 'PRESERVE_TIMEOUT'
  | 'CLOUD_PROBE'
  | 'PRESERVATION_DISABLED'
  | 'NOTHING_TO_PRESERVE'
  | 'PRESERVE_BELOW_LIMIT'
  | 'KEEP_LIMIT_REACHED'
  | 'CYCLE_EVICT_OLDEST'
  | 'CYCLE_SUPERSEDED'
  | 'PRESERVED_OVER_LIMIT'
  | 'PURGE_EXPIRED'
  | 'RESOLVE_IMAGE'
  | 'FLEET_CURRENT'
  | 'SWEEP_DUE';

/** Things the planner chose not to do, and why; for logs, `plan` and `status`. */
export type Note =
  | {
      readonly code: 'CREATE_BACKOFF';
      readonly pool: string;
      readonly zone: string;
      readonly until: number;
    }
  | {
      readonly code: 'CREATE_SLOW_START';
      readonly pool: string;
      readonly zone: string;
      readonly window: number;
      readonly unmet: number;
    }
  | {
      readonly code: 'DEPLOYING_CAP_REACHED';
      readonly deploying: number;
      readonly cap: number;
      readonly unmet: number;
    }
  | {
      readonly code: 'POOL_DEPLOYING_CAP_REACHED';
      readonly pool: string;
      readonly deploying: number;
      readonly cap: number;
      readonly unmet: number;
    }
  | {
      readonly code: 'IMAGE_UNRESOLVED';
      readonly pool: string;
      readonly tag: string;
      readonly error?: string;
    }
  | {
      readonly code: 'ROTATING';
      readonly pool: string;
      readonly zone: string;
      /** READY spares on an old launch still to be replaced. */
      readonly stale: number;
      /** Replacements in flight. */
      readonly replacing: number;
    }
  | { readonly code: 'PRESERVE_WAITS_FOR_IN_FLIGHT'; readonly amphoraId: string }
  | {
      /** The cloud refuses (the breaker is open): no cloud work but one probe per interval. */
      readonly code: 'CLOUD_REFUSING';
      readonly kind: 'Unauthorized' | 'Unavailable';
      readonly since: number;
      readonly probeAt: number;
      readonly error?: string;
    }
  | { readonly code: 'NEEDS_OPERATOR'; readonly amphoraId: string; readonly failure: string };

/** One state change a decision makes, for display. */
export interface Change {
  readonly amphoraId: string;
  readonly pool: string;
  readonly zone: string;
  readonly from: AmphoraState | 'NEW';
  readonly to: AmphoraState | 'PURGED';
}

/** One decision: an atomic write group and the tasks to send once it is applied. */
export interface Decision {
  readonly reasons: readonly ReasonCode[];
  readonly changes: readonly Change[];
  readonly writes: WriteGroup;
  readonly tasks: readonly OutgoingTask[];
}

/** Per-zone figures the cycle logs and publishes. */
export interface ZoneSummary {
  readonly pool: string;
  readonly zone: string;
  readonly target: number;
  readonly ready: number;
  readonly deploying: number;
  readonly toCreate: number;
  readonly toShrink: number;
  /** READY spares on an old launch (known only when the zone was read for rotation). */
  readonly stale: number;
}

/** Per-pool figures. */
export interface PoolSummary {
  readonly pool: string;
  readonly target: number;
  readonly ready: number;
  readonly deploying: number;
  /** The image new amphorae of the pool boot, when it has one. */
  readonly imageId?: string;
}

/** Everything one cycle decided. */
export interface Plan {
  readonly decisions: readonly Decision[];
  readonly notes: readonly Note[];
  readonly zones: readonly ZoneSummary[];
  readonly pools: readonly PoolSummary[];
  /** Target size of the spare pool over all pools and zones. */
  readonly spareTarget: number;
  /** READY amphorae over all pools, before this cycle's decisions. */
  readonly spareReady: number;
  /** Record counts by state over all pools, as read. */
  readonly stateCounts: Readonly<Record<AmphoraState, number>>;
  /** The counters as read, by pool, zone and state. */
  readonly counts: PoolCounts;
}

/** One list a cycle reads: records of one state of one pool (one zone), oldest first. */
export interface ListRead {
  readonly pool: string;
  readonly state: AmphoraState;
  readonly zone?: string;
  readonly limit?: number;
}

/** What a cycle reads after the pool state. */
export interface ReadPlan {
  readonly lists: readonly ListRead[];
  /** Whether to read the preserved queue in order. */
  readonly preservedQueue: boolean;
  /** DELETED records past their expiry to read (and purge), at most this many; 0 for none. */
  readonly expired: number;
}

/** The input of one cycle. */
export interface PlannerInput {
  readonly settings: Settings;
  readonly now: number;
  /** Fencing token of the lease the cycle runs under; orders the preserved queue. */
  readonly leaseToken: number;
  /** The newest token whose cycle confirmed its sends (`Lease.sentThrough`), if any did. */
  readonly sentThrough?: number;
  readonly state: PoolState;
  /** The records fetched per the read plan (duplicates allowed). */
  readonly records: readonly AmphoraRecord[];
  /** The preserved queue in order, when the read plan asked for it. */
  readonly preservedQueue: readonly AmphoraRecord[];
  /** DELETED records past their expiry, when the read plan asked for them. */
  readonly expired: readonly AmphoraRecord[];
  /** Makes ids for new amphorae and tasks. */
  readonly newId: () => string;
}

/** The most expired records one cycle purges (the rest wait for the next cycle). */
export const PURGE_PER_CYCLE = 25;

const TASK_FOR_STATE: Partial<Record<AmphoraState, PendingTask['type']>> = {
  PENDING_CREATE: 'CREATE',
  BOOTING: 'CHECK',
  PENDING_DELETE: 'REMOVE',
  PRESERVING: 'PRESERVE',
};

/** States the planner lists in full whenever a pool has any record in them. */
const LISTED_STATES: readonly AmphoraState[] = [
  'PENDING_CREATE',
  'BOOTING',
  'PENDING_DELETE',
  'ERROR',
  'PRESERVE',
  'PRESERVING',
];

const DEPLOYING = DEPLOYING_STATES;
const PRESERVED: readonly AmphoraState[] = ['PRESERVING', 'PRESERVED'];

/** Whether a record waits for an operator (a terminal failure the planner must not retry). */
export function needsOperator(record: AmphoraRecord): boolean {
  return (
    (record.state === 'PENDING_DELETE' && record.failure?.code === 'DELETE_FAILED') ||
    (record.state === 'PRESERVING' && record.failure?.code === 'PRESERVE_FAILED')
  );
}

/** Every (pool, zone) the cycle looks at: the configured ones, then any other that has records. */
function allZones(settings: Settings, counts: PoolCounts): Array<{ pool: string; zone: string }> {
  const zones = settings.pools.flatMap((p) => p.zones.map((z) => ({ pool: p.name, zone: z.name })));
  const known = new Set(zones.map((z) => `${z.pool}\u0000${z.zone}`));
  const extra = countedZones(counts)
    .filter((z) => !known.has(`${z.pool}\u0000${z.zone}`))
    .sort((a, b) => (a.pool + a.zone < b.pool + b.zone ? -1 : 1));
  return [...zones, ...extra];
}

/** The image new amphorae of a pool boot, the tag it came from, and whether one is needed. */
export function currentImage(
  spec: PoolSpec,
  images: readonly PoolImage[],
): { needed: boolean; imageId?: string; tag?: string; error?: string } {
  const launch = spec.launch;
  if (launch.image_id !== undefined) return { needed: true, imageId: launch.image_id };
  if (launch.image_tag === undefined) return { needed: false };
  const img = images.find((i) => i.pool === spec.name);
  const matches =
    img !== undefined && img.tag === launch.image_tag && img.ownerId === launch.image_owner_id;
  return {
    needed: true,
    tag: launch.image_tag,
    ...(matches && img.imageId !== undefined ? { imageId: img.imageId } : {}),
    ...(matches && img.error !== undefined ? { error: img.error } : {}),
  };
}

/** Whether a pool's image tag must be resolved now (stale, changed, or never resolved). */
function imageResolutionDue(settings: Settings, spec: PoolSpec, state: PoolState, now: number) {
  const launch = spec.launch;
  if (launch.image_id !== undefined || launch.image_tag === undefined) return false;
  const img = state.images.find((i) => i.pool === spec.name);
  // A failed resolution (no image carries the tag yet) is tried again like a failed create,
  // after create_backoff_initial, rather than after a whole refresh interval.
  const freshFor =
    img?.error !== undefined
      ? Math.min(settings.create_backoff_initial, settings.image_refresh_interval)
      : settings.image_refresh_interval;
  const fresh =
    img !== undefined &&
    img.tag === launch.image_tag &&
    img.ownerId === launch.image_owner_id &&
    img.resolvedAt !== undefined &&
    now - img.resolvedAt < freshFor * 1000;
  if (fresh) return false;
  // One resolution in flight at a time: re-issued only when it made no progress in time.
  const inFlight =
    img?.issuedAt !== undefined &&
    img.issuedAt > (img.resolvedAt ?? Number.NEGATIVE_INFINITY) &&
    now - img.issuedAt < settings.task_timeout * 1000;
  return !inFlight;
}

/** The launch a new amphora of a pool zone gets, and whether a record's launch is stale. */
function zoneLaunch(spec: PoolSpec, zone: string, imageId: string | undefined): LaunchRecord {
  return {
    ...(imageId !== undefined ? { imageId } : {}),
    ...(spec.launch.flavor_id !== undefined ? { flavorId: spec.launch.flavor_id } : {}),
    digest: launchDigest(spec.launch, zoneOf(spec, zone)),
  };
}

function sameLaunch(a: LaunchRecord | undefined, b: LaunchRecord): boolean {
  return a !== undefined && a.imageId === b.imageId && a.digest === b.digest;
}

/** Whether a record was booted with another launch than `current`. Legacy records never are. */
function isStale(record: AmphoraRecord, current: LaunchRecord): boolean {
  return record.launch !== undefined && !sameLaunch(record.launch, current);
}

/**
 * Whether a zone's READY spares must be read to find stale ones: the zone's fleet (the launch
 * every READY spare is known to have) differs from the current launch.
 */
function rotationCheckDue(
  stats: ZoneCreateStats | undefined,
  current: LaunchRecord | undefined,
): boolean {
  if (current === undefined) return false;
  return !sameLaunch(stats?.fleet, current);
}

/** The lists a cycle must read, given the pool state. Steady state reads no list at all. */
export function readPlan(settings: Settings, state: PoolState): ReadPlan {
  const { counts } = state;
  const lists: ListRead[] = [];
  const pools = new Set([...settings.pools.map((p) => p.name), ...Object.keys(counts)]);
  for (const pool of pools) {
    for (const s of LISTED_STATES) {
      if (countOf(counts, [s], { pool }) > 0) lists.push({ pool, state: s });
    }
  }
  for (const { pool, zone } of allZones(settings, counts)) {
    const ready = countOf(counts, ['READY'], { pool, zone });
    if (ready === 0) continue;
    const spec = poolOf(settings, pool);
    const current = spec ? launchNow(spec, zone, state) : undefined;
    const stats = state.zones.find((s) => s.pool === pool && s.zone === zone);
    if (rotationCheckDue(stats, current)) {
      lists.push({ pool, state: 'READY', zone });
      continue;
    }
    const excess =
      ready + countOf(counts, DEPLOYING, { pool, zone }) - zoneTarget(settings, pool, zone);
    if (excess > 0) lists.push({ pool, state: 'READY', zone, limit: Math.min(excess, ready) });
  }
  const preserved = countOf(counts, PRESERVED);
  // BOOTING counts too: a boot that times out this cycle becomes a candidate at once.
  const candidates = countOf(counts, ['ERROR', 'PRESERVE', 'BOOTING']);
  const poolOver = settings.pools.some(
    (p) =>
      p.maximum_preserved_amphora_count !== undefined &&
      countOf(counts, PRESERVED, { pool: p.name }) > p.maximum_preserved_amphora_count,
  );
  const preservedQueue =
    preserved > settings.maximum_preserved_amphora_count ||
    poolOver ||
    (candidates > 0 && preserved > 0 && settings.preservation_scheme === 'cycle');
  const expired = countOf(counts, ['DELETED']) > 0 ? PURGE_PER_CYCLE : 0;
  return { lists, preservedQueue, expired };
}

/** The launch new amphorae of a pool zone get now, or undefined while the image is unresolved. */
export function launchNow(
  spec: PoolSpec,
  zone: string,
  state: PoolState,
): LaunchRecord | undefined {
  const image = currentImage(spec, state.images);
  if (image.needed && image.imageId === undefined) return undefined;
  return zoneLaunch(spec, zone, image.imageId);
}

function queueSeq(token: number, index: number): string {
  return `${String(token).padStart(12, '0')}:${String(index).padStart(6, '0')}`;
}

interface Pending {
  reasons: ReasonCode[];
  ids: string[];
  extra: WriteOp[];
  extraTasks: OutgoingTask[];
}

/** Accumulates changes to working copies and merges those that touch the same record. */
class PlanBuilder {
  private readonly original = new Map<string, AmphoraRecord>();
  private readonly created = new Set<string>();
  private readonly purged = new Set<string>();
  readonly current = new Map<string, AmphoraRecord>();
  private readonly groups: Pending[] = [];
  private readonly groupOf = new Map<string, Pending>();

  constructor(records: readonly AmphoraRecord[]) {
    for (const r of records) {
      this.original.set(r.id, r);
      this.current.set(r.id, r);
    }
  }

  /** Records a decision over `next` records (replacing working copies); merges groups. */
  change(reason: ReasonCode, next: readonly AmphoraRecord[], created = false): void {
    const touched = new Set<Pending>();
    for (const r of next) {
      const g = this.groupOf.get(r.id);
      if (g) touched.add(g);
    }
    const group: Pending = { reasons: [], ids: [], extra: [], extraTasks: [] };
    for (const g of touched) {
      group.reasons.push(...g.reasons);
      group.ids.push(...g.ids);
      group.extra.push(...g.extra);
      group.extraTasks.push(...g.extraTasks);
      this.groups.splice(this.groups.indexOf(g), 1);
    }
    if (!group.reasons.includes(reason)) group.reasons.push(reason);
    for (const r of next) {
      if (!group.ids.includes(r.id)) group.ids.push(r.id);
      if (created) this.created.add(r.id);
      this.current.set(r.id, r);
    }
    for (const id of group.ids) this.groupOf.set(id, group);
    this.groups.push(group);
  }

  /** Deletes an expired DELETED record. */
  purge(record: AmphoraRecord): void {
    this.purged.add(record.id);
    this.original.set(record.id, record);
    this.current.set(record.id, record);
    this.change('PURGE_EXPIRED', [record]);
  }

  /** Adds a pool-state write to the group of a record already changed this cycle. */
  attach(amphoraId: string, write: WriteOp): void {
    this.groupOf.get(amphoraId)!.extra.push(write);
  }

  /** A decision that writes pool state only, with the tasks it issues. */
  note(reason: ReasonCode, writes: readonly WriteOp[], tasks: readonly OutgoingTask[] = []): void {
    this.groups.push({ reasons: [reason], ids: [], extra: [...writes], extraTasks: [...tasks] });
  }

  build(now: number, newId: () => string, token: number): Decision[] {
    return this.groups.map((g) => {
      const writes: WriteOp[] = [];
      const tasks: OutgoingTask[] = [];
      const changes: Change[] = [];
      for (const id of g.ids) {
        const working = this.current.get(id)!;
        // A task issued this cycle carries the cycle's token, so that a lost send is found.
        const record =
          working.task?.issuedAt === now && !this.purged.has(id)
            ? { ...working, task: { ...working.task, token } }
            : working;
        const before = this.original.get(id);
        if (this.purged.has(id)) writes.push({ kind: 'purge', record });
        else if (this.created.has(id)) writes.push({ kind: 'create', record });
        else {
          writes.push({
            kind: 'update',
            record,
            expectedVersion: before!.version,
            expectedState: before!.state,
          });
        }
        changes.push({
          amphoraId: id,
          pool: record.pool,
          zone: record.zone,
          from: before && !this.created.has(id) ? before.state : 'NEW',
          to: this.purged.has(id) ? 'PURGED' : record.state,
        });
        if (!this.purged.has(id) && record.task && record.task.issuedAt === now) {
          tasks.push({ task: taskMessageFor(record, newId()) });
        }
      }
      writes.push(...g.extra);
      tasks.push(...g.extraTasks);
      return { reasons: g.reasons, changes, writes, tasks };
    });
  }
}

/**
 * A record whose task was issued `task_max_attempts` times without progress: a boot fails (and
 * is preserved or removed as any failed amphora), a delete waits for an operator, a preservation
 * gives up and the amphora is removed.
 */
function exhausted(r: AmphoraRecord, settings: Settings, now: number): AmphoraRecord {
  const message = `${r.task?.type} issued ${settings.task_max_attempts} times without progress (task_timeout ${settings.task_timeout} s)`;
  const failure = { code: 'TASK_EXHAUSTED' as const, message, at: now };
  switch (r.state) {
    case 'PENDING_DELETE':
      return update(r, { now, patch: { failure: { ...failure, code: 'DELETE_FAILED' } } });
    case 'PRESERVING':
      return transition(r, 'PENDING_DELETE', {
        now,
        reason: 'TASK_EXHAUSTED',
        patch: { task: pendingTask('REMOVE', now), failure },
      });
    default:
      return transition(r, 'ERROR', { now, reason: 'TASK_EXHAUSTED', patch: { failure } });
  }
}

/** Creation room of one pool zone this cycle, before the caps. */
interface Want {
  readonly pool: string;
  readonly zone: string;
  /** Creates for the target. */
  deficit: number;
  /** Creates that replace stale spares (make-before-break), within the rotation budget. */
  rotation: number;
}

/** Decides one cycle. Pure, given a deterministic `newId`. */
export function plan(input: PlannerInput): Plan {
  const { settings, now, state } = input;
  const counts = state.counts;
  const seen = new Map<string, AmphoraRecord>();
  for (const r of input.records) seen.set(r.id, r);
  for (const r of input.preservedQueue) seen.set(r.id, r);
  const b = new PlanBuilder([...seen.values()]);
  const notes: Note[] = [];
  const inState = (st: AmphoraState, where: { pool?: string; zone?: string } = {}) =>
    [...b.current.values()]
      .filter(
        (r) =>
          r.state === st &&
          (where.pool === undefined || r.pool === where.pool) &&
          (where.zone === undefined || r.zone === where.zone),
      )
      .sort(oldestFirst);
  const key = (pool: string, zone: string) => `${pool}\u0000${zone}`;

  // While the cloud refuses, nothing that needs it is decided: no boot is failed without asking,
  // no task re-issued, nothing created, shrunk or preserved; one probe per interval goes out.
  const cloud = state.cloud;
  const cloudOk = !isRefusing(cloud);
  if (!cloudOk && cloud) {
    notes.push({
      code: 'CLOUD_REFUSING',
      kind: cloud.kind ?? 'Unavailable',
      since: cloud.since ?? now,
      probeAt: cloud.probeAt ?? now,
      ...(cloud.lastError !== undefined ? { error: cloud.lastError } : {}),
    });
    if (now >= (cloud.probeAt ?? 0)) {
      b.note(
        'CLOUD_PROBE',
        [],
        [{ task: { v: TASK_SCHEMA_VERSION, type: 'SWEEP', taskId: input.newId(), issuedAt: now } }],
      );
    }
  }

  // 1. Boots past the timeout: the cloud is asked once (a final CHECK); only a final CHECK that
  // went unanswered for task_timeout fails the boot unasked.
  const expired = new Map<string, number>();
  for (const r of cloudOk ? inState('BOOTING') : []) {
    if (r.bootStartedAt === undefined || now - r.bootStartedAt < settings.boot_timeout * 1000) {
      continue;
    }
    if (!r.task?.final) {
      const task: PendingTask = {
        ...pendingTask('CHECK', now, r.task?.polls ?? 0),
        reissues: r.task?.reissues ?? 0,
        final: true,
      };
      b.change('BOOT_TIMEOUT_CHECK', [update(r, { now, patch: { task } })]);
    } else if (now - r.task.issuedAt >= settings.task_timeout * 1000) {
      const message = `no answer to the status check sent at boot_timeout (${settings.boot_timeout} s) within task_timeout (${settings.task_timeout} s)`;
      b.change('BOOT_TIMEOUT', [
        transition(r, 'ERROR', {
          now,
          reason: 'BOOT_TIMEOUT',
          patch: { failure: { code: 'BOOT_TIMEOUT', message, at: now } },
        }),
      ]);
      expired.set(key(r.pool, r.zone), (expired.get(key(r.pool, r.zone)) ?? 0) + 1);
    }
  }

  // 1b. Preservations past preservation_timeout fail: the amphora leaves the preserved queue and
  // is removed, with whatever the preservation left behind (a half-made snapshot image).
  for (const r of cloudOk ? inState('PRESERVING') : []) {
    if (needsOperator(r) || now - r.stateSince < settings.preservation_timeout * 1000) continue;
    const message = `not preserved within preservation_timeout (${settings.preservation_timeout} s)`;
    b.change('PRESERVE_TIMEOUT', [
      transition(r, 'PENDING_DELETE', {
        now,
        reason: 'PRESERVE_TIMEOUT',
        patch: {
          task: pendingTask('REMOVE', now),
          failure: { code: 'PRESERVE_TIMEOUT', message, at: now },
        },
      }),
    ]);
  }

  // 2. Tasks that made no progress within task_timeout are re-issued, at most task_max_attempts
  // times, then end in a state an operator sees; missing ones are issued; after an outage of the
  // cloud, those it may have dropped are re-issued at once.
  for (const st of cloudOk
    ? (['PENDING_CREATE', 'BOOTING', 'PENDING_DELETE', 'PRESERVING'] as const)
    : []) {
    for (const r of inState(st)) {
      if (needsOperator(r)) {
        notes.push({ code: 'NEEDS_OPERATOR', amphoraId: r.id, failure: r.failure!.code });
        continue;
      }
      const type = TASK_FOR_STATE[st]!;
      if (!r.task) {
        b.change('TASK_MISSING', [update(r, { now, patch: { task: pendingTask(type, now) } })]);
      } else if (
        r.task.token !== undefined &&
        r.task.token > (input.sentThrough ?? 0) &&
        r.task.token < input.leaseToken
      ) {
        // Issued by a cycle that never confirmed its sends (it crashed, or its send failed):
        // the task may never have been sent. Sent again now, not after task_timeout.
        const task: PendingTask = { ...r.task, issuedAt: now };
        b.change('TASK_UNSENT', [update(r, { now, patch: { task } })]);
      } else if (r.task.issuedAt === now) {
        // decided this cycle
      } else if (droppedByBreaker(cloud, r.task.issuedAt)) {
        const task: PendingTask = { ...r.task, issuedAt: now };
        b.change('TASK_AFTER_OUTAGE', [update(r, { now, patch: { task } })]);
      } else if (now - r.task.issuedAt >= settings.task_timeout * 1000) {
        if (r.task.reissues + 1 >= settings.task_max_attempts) {
          b.change('TASK_EXHAUSTED', [exhausted(r, settings, now)]);
          continue;
        }
        const task: PendingTask = { ...r.task, type, issuedAt: now, reissues: r.task.reissues + 1 };
        b.change('TASK_STUCK', [update(r, { now, patch: { task } })]);
      }
    }
  }

  // 3. Images: resolve the tags that are due; note the pools that cannot boot yet.
  for (const spec of cloudOk ? settings.pools : []) {
    if (imageResolutionDue(settings, spec, state, now)) {
      b.note(
        'RESOLVE_IMAGE',
        [{ kind: 'image-resolve-issued', pool: spec.name, at: now }],
        [
          {
            task: {
              v: TASK_SCHEMA_VERSION,
              type: 'RESOLVE_IMAGE',
              taskId: input.newId(),
              issuedAt: now,
              pool: spec.name,
            },
          },
        ],
      );
    }
  }

  // 4. Top up every pool zone, share the deploying cap fairly, rotate stale spares.
  const zones = allZones(settings, counts);
  const deployingAt = (pool: string, zone: string) =>
    countOf(counts, DEPLOYING, { pool, zone }) - (expired.get(key(pool, zone)) ?? 0);
  const readyAt = (pool: string, zone: string) => countOf(counts, ['READY'], { pool, zone });
  const deployingOfPool = new Map<string, number>();
  for (const z of zones) {
    deployingOfPool.set(z.pool, (deployingOfPool.get(z.pool) ?? 0) + deployingAt(z.pool, z.zone));
  }
  let deployingTotal = [...deployingOfPool.values()].reduce((a, n) => a + n, 0);
  const wants: Want[] = [];
  const launches = new Map<string, LaunchRecord>();
  const staleReady = new Map<string, AmphoraRecord[]>();
  const shrinkOf = new Map<string, number>();
  const blockedImage = new Set<string>();
  for (const spec of settings.pools) {
    const image = currentImage(spec, state.images);
    for (const zone of spec.zones) {
      const k = key(spec.name, zone.name);
      const target = spec.spare_amphora_pool_size;
      const ready = readyAt(spec.name, zone.name);
      const deploying = deployingAt(spec.name, zone.name);
      const deficit = Math.max(0, target - ready - deploying);
      if (image.needed && image.imageId === undefined) {
        if (deficit > 0 && !blockedImage.has(spec.name)) {
          blockedImage.add(spec.name);
          notes.push({
            code: 'IMAGE_UNRESOLVED',
            pool: spec.name,
            tag: image.tag ?? '',
            ...(image.error !== undefined ? { error: image.error } : {}),
          });
        }
        continue;
      }
      const launch = zoneLaunch(spec, zone.name, image.imageId);
      launches.set(k, launch);
      const stats = state.zones.find((s) => s.pool === spec.name && s.zone === zone.name);
      const stale = rotationCheckDue(stats, launch)
        ? inState('READY', { pool: spec.name, zone: zone.name }).filter((r) => isStale(r, launch))
        : [];
      staleReady.set(k, stale);
      const deployingRecords = [
        ...inState('PENDING_CREATE', { pool: spec.name, zone: zone.name }),
        ...inState('BOOTING', { pool: spec.name, zone: zone.name }),
      ];
      const freshDeploying = deployingRecords.filter((r) => !isStale(r, launch)).length;
      // Shrink first: READY beyond the target go, stale ones first. While rotating, deploying
      // amphorae are the replacements, so only READY beyond the target counts (make-before-break).
      const excess = stale.length > 0 ? ready - target : ready + deploying - target;
      const shrink = Math.max(0, Math.min(excess, ready));
      shrinkOf.set(k, shrink);
      const readyAfter = ready - shrink;
      const freshAfter = ready - stale.length - Math.max(0, shrink - stale.length);
      // Replacements beyond the target stay within the rotation budget, and are made only for
      // stale spares that no replacement in flight covers yet.
      const rotation =
        stale.length === 0
          ? 0
          : Math.max(
              0,
              Math.min(
                target - freshAfter - freshDeploying - deficit,
                target + spec.rotation_budget - readyAfter - deploying - deficit,
              ),
            );
      const allow = createAllowance(stats, now, settings);
      if (allow.closedUntil !== undefined && deficit + rotation > 0) {
        notes.push({
          code: 'CREATE_BACKOFF',
          pool: spec.name,
          zone: zone.name,
          until: allow.closedUntil,
        });
      }
      const room = Math.max(0, allow.window - deploying);
      if (allow.closedUntil === undefined && room < deficit + rotation) {
        notes.push({
          code: 'CREATE_SLOW_START',
          pool: spec.name,
          zone: zone.name,
          window: allow.window,
          unmet: deficit + rotation - room,
        });
      }
      const d = Math.min(deficit, room);
      if (!cloudOk) continue;
      wants.push({
        pool: spec.name,
        zone: zone.name,
        deficit: d,
        rotation: Math.min(rotation, room - d),
      });
    }
  }
  const toCreate = new Map<string, { deficit: number; rotation: number }>();
  const allocated = new Map<string, number>();
  const poolUnmet = new Map<string, number>();
  let headroom = Math.max(0, settings.maximum_deploying_amphora_count - deployingTotal);
  // Max-min fairness: each create goes to the pool with the fewest amphorae in creation (those
  // already deploying and those given this cycle), deficits before rotations. A pool's own cap
  // bounds it; the global cap bounds all.
  for (const phase of ['deficit', 'rotation'] as const) {
    for (;;) {
      const candidates = wants.filter((w) => {
        if (w[phase] <= 0) return false;
        const inFlight = (deployingOfPool.get(w.pool) ?? 0) + (allocated.get(w.pool) ?? 0);
        return inFlight < poolDeployingCap(settings, w.pool);
      });
      if (candidates.length === 0 || headroom <= 0) break;
      const inFlight = (w: Want) =>
        (deployingOfPool.get(w.pool) ?? 0) + (allocated.get(w.pool) ?? 0);
      candidates.sort(
        (x, y) =>
          inFlight(x) - inFlight(y) ||
          y[phase] - x[phase] ||
          (x.pool < y.pool ? -1 : x.pool > y.pool ? 1 : x.zone < y.zone ? -1 : 1),
      );
      const w = candidates[0]!;
      w[phase] -= 1;
      const k = key(w.pool, w.zone);
      const t = toCreate.get(k) ?? { deficit: 0, rotation: 0 };
      t[phase] += 1;
      toCreate.set(k, t);
      allocated.set(w.pool, (allocated.get(w.pool) ?? 0) + 1);
      headroom -= 1;
      deployingTotal += 1;
    }
  }
  for (const w of wants) {
    const unmet = w.deficit + w.rotation;
    if (unmet > 0) poolUnmet.set(w.pool, (poolUnmet.get(w.pool) ?? 0) + unmet);
  }
  const unmetTotal = [...poolUnmet.values()].reduce((a, n) => a + n, 0);
  for (const [pool, unmet] of poolUnmet) {
    const inFlight = (deployingOfPool.get(pool) ?? 0) + (allocated.get(pool) ?? 0);
    const cap = poolDeployingCap(settings, pool);
    if (cap < settings.maximum_deploying_amphora_count && inFlight >= cap) {
      notes.push({ code: 'POOL_DEPLOYING_CAP_REACHED', pool, deploying: inFlight, cap, unmet });
    }
  }
  if (unmetTotal > 0 && headroom <= 0) {
    notes.push({
      code: 'DEPLOYING_CAP_REACHED',
      deploying: deployingTotal,
      cap: settings.maximum_deploying_amphora_count,
      unmet: unmetTotal,
    });
  }

  const summaries: ZoneSummary[] = [];
  for (const { pool, zone } of zones) {
    const k = key(pool, zone);
    const spec = poolOf(settings, pool);
    const n = toCreate.get(k) ?? { deficit: 0, rotation: 0 };
    const launch = launches.get(k);
    for (const [reason, count] of [
      ['TOP_UP', n.deficit],
      ['ROTATE_STALE_LAUNCH', n.rotation],
    ] as const) {
      for (let i = 0; i < count; i++) {
        const computeZone = computeZoneOf(zoneOf(spec, zone));
        b.change(
          reason,
          [
            newAmphora({
              id: input.newId(),
              pool,
              zone,
              now,
              task: pendingTask('CREATE', now),
              ...(computeZone !== undefined ? { computeZone } : {}),
              ...(launch ? { launch } : {}),
            }),
          ],
          true,
        );
      }
    }
    // 5. Shrink: READY beyond the target go, stale ones first (make-before-break: a stale spare
    // leaves only once READY exceeds the target, i.e. once its replacement is READY).
    const ready = readyAt(pool, zone);
    const target = zoneTarget(settings, pool, zone);
    const stale = staleReady.get(k) ?? [];
    const excess = shrinkOf.get(k) ?? Math.min(ready, ready + deployingAt(pool, zone) - target);
    let shrunk = 0;
    if (excess > 0 && cloudOk) {
      const staleIds = new Set(stale.map((r) => r.id));
      const oldest = inState('READY', { pool, zone }).sort(
        (x, y) => Number(staleIds.has(y.id)) - Number(staleIds.has(x.id)) || oldestFirst(x, y),
      );
      const removed = (r: AmphoraRecord, reason: ReasonCode) =>
        transition(r, 'PENDING_DELETE', {
          now,
          reason,
          patch: { task: pendingTask('REMOVE', now) },
        });
      const chosen = oldest.slice(0, excess);
      const rotated = chosen.filter((r) => staleIds.has(r.id));
      // The stale spares leave together, so that the zone's fleet can be noted current with them.
      if (rotated.length > 0) {
        b.change(
          'ROTATE_STALE_LAUNCH',
          rotated.map((r) => removed(r, 'ROTATE_STALE_LAUNCH')),
        );
      }
      for (const r of chosen.filter((x) => !staleIds.has(x.id))) {
        b.change('SHRINK_EXCESS', [removed(r, 'SHRINK_EXCESS')]);
      }
      shrunk = chosen.length;
    }
    const staleLeft = stale.length - Math.min(shrunk, stale.length);
    if (launch && staleLeft > 0) {
      notes.push({
        code: 'ROTATING',
        pool,
        zone,
        stale: staleLeft,
        replacing: Math.max(0, ready + deployingAt(pool, zone) + n.deficit + n.rotation - target),
      });
    }
    // The zone's fleet is current once no READY or deploying amphora has an older launch.
    const stats = state.zones.find((s) => s.pool === pool && s.zone === zone);
    if (launch && rotationCheckDue(stats, launch)) {
      const staleDeploying = [
        ...inState('PENDING_CREATE', { pool, zone }),
        ...inState('BOOTING', { pool, zone }),
      ].some((r) => isStale(r, launch));
      // Only when every READY spare the counters know of was read (an index read can lag).
      const readyRead = input.records.filter(
        (r) => r.state === 'READY' && r.pool === pool && r.zone === zone,
      ).length;
      const staleRemoved = stale.filter((r) => b.current.get(r.id)?.state === 'PENDING_DELETE');
      if (!staleDeploying && readyRead === ready && staleRemoved.length === stale.length) {
        const write: WriteOp = { kind: 'fleet-current', pool, zone, launch };
        if (staleRemoved.length > 0) b.attach(staleRemoved[0]!.id, write);
        else b.note('FLEET_CURRENT', [write]);
      }
    }
    summaries.push({
      pool,
      zone,
      target,
      ready,
      deploying: deployingAt(pool, zone),
      toCreate: n.deficit + n.rotation,
      toShrink: shrunk,
      stale: staleLeft,
    });
  }

  // 6. Deactivated amphorae: ERROR and PRESERVE, oldest first, are preserved or removed.
  if (cloudOk) planDeactivated(input, b, notes, inState);

  // 7. Purge DELETED records past their expiry (Octavia's amphora_expiry_age).
  for (const r of input.expired.slice(0, PURGE_PER_CYCLE)) {
    if (r.state === 'DELETED' && r.expiresAt !== undefined && r.expiresAt <= now) b.purge(r);
  }

  // 8. The orphan sweep, on its own cadence.
  const lastSweep = state.lastSweepAt;
  const sweepDue =
    lastSweep === undefined || now - lastSweep >= settings.orphan_sweep_interval * 1000;
  if (cloudOk && sweepDue) {
    b.note(
      'SWEEP_DUE',
      [{ kind: 'sweep-issued', at: now }],
      [{ task: { v: TASK_SCHEMA_VERSION, type: 'SWEEP', taskId: input.newId(), issuedAt: now } }],
    );
  }

  const stateCounts = stateTotals(counts);
  const pools: PoolSummary[] = settings.pools.map((spec) => {
    const image = currentImage(spec, state.images);
    return {
      pool: spec.name,
      target: spec.spare_amphora_pool_size * spec.zones.length,
      ready: countOf(counts, ['READY'], { pool: spec.name }),
      deploying: countOf(counts, DEPLOYING, { pool: spec.name }),
      ...(image.imageId !== undefined ? { imageId: image.imageId } : {}),
    };
  });
  return {
    decisions: b.build(now, input.newId, input.leaseToken),
    notes,
    zones: summaries,
    pools,
    spareTarget: pools.reduce((a, p) => a + p.target, 0),
    spareReady: stateCounts.READY,
    stateCounts,
    counts,
  };
}

function planDeactivated(
  input: PlannerInput,
  b: PlanBuilder,
  notes: Note[],
  inState: (s: AmphoraState) => AmphoraRecord[],
): void {
  const { settings, now } = input;
  const max = settings.maximum_preserved_amphora_count;
  const remove = (r: AmphoraRecord, reason: ReasonCode) =>
    transition(r, 'PENDING_DELETE', { now, reason, patch: { task: pendingTask('REMOVE', now) } });
  let index = 0;
  const preserve = (r: AmphoraRecord, reason: ReasonCode) =>
    transition(r, 'PRESERVING', {
      now,
      reason,
      patch: {
        task: pendingTask('PRESERVE', now),
        preservation: {
          method: settings.preservation_method,
          seq: queueSeq(input.leaseToken, index++),
          queuedAt: now,
        },
      },
    });
  const finished = (r: AmphoraRecord | undefined) =>
    r !== undefined && (r.state === 'PRESERVED' || needsOperator(r));

  // The preserved queue, oldest first; its size comes from the counters (the list may be partial).
  const queue = input.preservedQueue
    .map((r) => b.current.get(r.id) ?? r)
    .filter((r) => PRESERVED.includes(r.state));
  let size = countOf(input.state.counts, PRESERVED);
  const poolSize = new Map<string, number>();
  for (const pool of Object.keys(input.state.counts)) {
    poolSize.set(pool, countOf(input.state.counts, PRESERVED, { pool }));
  }
  const leave = (r: AmphoraRecord) => {
    queue.splice(queue.indexOf(r), 1);
    size -= 1;
    poolSize.set(r.pool, (poolSize.get(r.pool) ?? 0) - 1);
  };
  const enter = (r: AmphoraRecord) => {
    size += 1;
    poolSize.set(r.pool, (poolSize.get(r.pool) ?? 0) + 1);
  };
  const capOf = (pool: string) => Math.min(max, poolPreservedCap(settings, pool));

  // Over a limit (a limit was lowered): evict the oldest finished ones, per pool then overall.
  for (const pool of [...poolSize.keys()].sort()) {
    for (;;) {
      const oldest = queue.find((r) => r.pool === pool);
      if ((poolSize.get(pool) ?? 0) <= capOf(pool) || !finished(oldest)) break;
      leave(oldest!);
      b.change('PRESERVED_OVER_LIMIT', [remove(oldest!, 'PRESERVED_OVER_LIMIT')]);
    }
  }
  while (size > max && finished(queue[0])) {
    const oldest = queue[0]!;
    leave(oldest);
    b.change('PRESERVED_OVER_LIMIT', [remove(oldest, 'PRESERVED_OVER_LIMIT')]);
  }

  const candidates = [...inState('ERROR'), ...inState('PRESERVE')].sort(oldestFirst);
  let eligible: AmphoraRecord[] = [];
  for (const r of candidates) {
    if (capOf(r.pool) === 0)
      b.change('PRESERVATION_DISABLED', [remove(r, 'PRESERVATION_DISABLED')]);
    // No server id, or a server the sweeps found gone: there is nothing to diagnose.
    else if (!r.computeId || r.failure?.code === 'SERVER_MISSING')
      b.change('NOTHING_TO_PRESERVE', [remove(r, 'NOTHING_TO_PRESERVE')]);
    else eligible.push(r);
  }
  const poolCaps = settings.pools.some((p) => p.maximum_preserved_amphora_count !== undefined);
  if (settings.preservation_scheme === 'cycle' && !poolCaps && eligible.length > max) {
    // Preserving these would evict them again within this very cycle: remove them directly.
    for (const r of eligible.slice(0, eligible.length - max)) {
      b.change('CYCLE_SUPERSEDED', [remove(r, 'CYCLE_SUPERSEDED')]);
    }
    eligible = eligible.slice(eligible.length - max);
  }
  for (let i = 0; i < eligible.length; i++) {
    const r = eligible[i]!;
    const poolFull = (poolSize.get(r.pool) ?? 0) >= capOf(r.pool);
    if (size < max && !poolFull) {
      b.change('PRESERVE_BELOW_LIMIT', [preserve(r, 'PRESERVE_BELOW_LIMIT')]);
      enter(r);
    } else if (settings.preservation_scheme === 'keep') {
      b.change('KEEP_LIMIT_REACHED', [remove(r, 'KEEP_LIMIT_REACHED')]);
    } else {
      // Strict FIFO within the scope that is full: the pool's own queue, else the whole queue.
      const oldest = poolFull ? queue.find((q) => q.pool === r.pool) : queue[0];
      if (!finished(oldest)) {
        // The oldest is still being preserved; this newcomer waits for it.
        notes.push({ code: 'PRESERVE_WAITS_FOR_IN_FLIGHT', amphoraId: r.id });
        continue;
      }
      leave(oldest!);
      b.change('CYCLE_EVICT_OLDEST', [
        remove(oldest!, 'CYCLE_EVICT_OLDEST'),
        preserve(r, 'CYCLE_EVICT_OLDEST'),
      ]);
      enter(r);
    }
  }
}
