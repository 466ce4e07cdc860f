/**
 * Use cases for operators and other control-plane modules: claim a spare, hand an amphora back,
 * flag it failed, ask for it to be preserved, retry one that needs an operator. Each is a
 * conditional write on the record's version; a lost race is reported, never overwritten.
 */
import {
  type AmphoraRecord,
  type AmphoraState,
  canTransition,
  pendingTask,
  transition,
  update,
} from '../domain/amphora.ts';
import {
  AmphoraNotFoundError,
  OperatorActionError,
  VersionConflictError,
} from '../domain/errors.ts';
import { needsOperator } from '../domain/planner.ts';
import type { Settings } from '../domain/settings.ts';
import { taskMessageFor } from '../domain/tasks.ts';
import type { Clock, IdSource } from '../ports/clock.ts';
import type { RecordStore } from '../ports/pool-store.ts';
import type { TaskQueue } from '../ports/task-queue.ts';

/** What the operator actions need. */
export interface OperatorDeps {
  readonly store: RecordStore;
  readonly queue: TaskQueue;
  readonly clock: Clock;
  readonly newId: IdSource;
  readonly config: Pick<Settings, 'pools'>;
}

/** Matches listed when an id prefix names several amphorae. */
const PREFIX_MATCHES_SHOWN = 10;

/**
 * The record an id names: the whole id, or any prefix that only one amphora's id starts with
 * (as git and docker take them).
 * @throws AmphoraNotFoundError when none matches; OperatorActionError listing the matches when
 * several do.
 */
export async function resolveAmphora(
  store: Pick<RecordStore, 'get' | 'findByIdPrefix'>,
  idOrPrefix: string,
): Promise<AmphoraRecord> {
  const exact = idOrPrefix === '' ? undefined : await store.get(idOrPrefix);
  if (exact) return exact;
  const matches =
    idOrPrefix === '' ? [] : await store.findByIdPrefix(idOrPrefix, PREFIX_MATCHES_SHOWN + 1);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new AmphoraNotFoundError(idOrPrefix);
  const shown = matches.slice(0, PREFIX_MATCHES_SHOWN).map((r) => `${r.id} (${r.state})`);
  throw new OperatorActionError(
    `amphora id prefix ${idOrPrefix} is ambiguous: it matches ${matches.length > PREFIX_MATCHES_SHOWN ? `more than ${PREFIX_MATCHES_SHOWN}` : matches.length} amphorae: ${shown.join(', ')}`,
  );
}

async function load(deps: OperatorDeps, amphoraId: string): Promise<AmphoraRecord> {
  return resolveAmphora(deps.store, amphoraId);
}

/**
 * The pool an action names, or the only pool when it names none.
 * @throws OperatorActionError for an unknown pool, or none named among several.
 */
export function choosePool(config: Pick<Settings, 'pools'>, pool: string | undefined): string {
  const names = config.pools.map((p) => p.name);
  if (pool !== undefined) {
    if (!names.includes(pool)) {
      throw new OperatorActionError(`pool ${pool} is not configured (pools: ${names.join(', ')})`);
    }
    return pool;
  }
  if (names.length === 1) return names[0]!;
  throw new OperatorActionError(
    `name a pool: this deployment has ${names.length} (${names.join(', ')})`,
  );
}

async function sendTaskOf(deps: OperatorDeps, record: AmphoraRecord): Promise<void> {
  if (!record.task) return;
  await deps.queue.send([{ task: taskMessageFor(record, deps.newId()) }]);
}

/**
 * Moves one record with a conditional write, then sends its new task if it has one.
 * @throws AmphoraNotFoundError, IllegalTransitionError, VersionConflictError
 */
async function move(
  deps: OperatorDeps,
  amphoraId: string,
  to: AmphoraState,
  reason: string,
  patch: (now: number) => Parameters<typeof transition>[2]['patch'],
): Promise<AmphoraRecord> {
  const record = await load(deps, amphoraId);
  const now = deps.clock.now();
  const next = transition(record, to, { now, reason, patch: patch(now) });
  await deps.store.update(next, record);
  await sendTaskOf(deps, next);
  return next;
}

/** READY spares one claim reads at a time. */
const CLAIM_PAGE = 20;
/**
 * Listings one claim makes before it gives up. Every lost race means another claim won, so
 * each round the pool's READY spares shrink or the claim wins: this bound is only reached
 * under a burst far beyond CLAIM_PAGE × CLAIM_ROUNDS concurrent claims.
 */
const CLAIM_ROUNDS = 25;

/**
 * Claims a READY spare of a pool (oldest first, in `zone` when given) for a load balancer:
 * READY → ALLOCATED. Two concurrent claims never get the same amphora. A claim that loses the
 * race for the oldest tries the others of its page in a random order, so that a burst of
 * concurrent claims spreads over the page instead of all racing for the next oldest. The pool
 * may be left out when there is only one.
 * @returns the claimed record, or `undefined` when no spare is ready.
 * @throws OperatorActionError for an unknown pool, or none named among several.
 */
export async function claimSpare(
  deps: OperatorDeps & { readonly random?: () => number },
  options: {
    readonly pool?: string;
    readonly zone?: string;
    /** The history's reason: who claimed it (the local run's workload names itself). */
    readonly reason?: string;
  } = {},
): Promise<AmphoraRecord | undefined> {
  const pool = choosePool(deps.config, options.pool);
  const random = deps.random ?? Math.random;
  for (let round = 0; round < CLAIM_ROUNDS; round++) {
    const candidates = await deps.store.listByState(pool, 'READY', {
      ...(options.zone !== undefined ? { zone: options.zone } : {}),
      limit: CLAIM_PAGE,
    });
    if (candidates.length === 0) return undefined;
    const [oldest, ...rest] = candidates;
    for (const record of [oldest!, ...shuffled(rest, random)]) {
      const next = transition(record, 'ALLOCATED', {
        now: deps.clock.now(),
        reason: options.reason ?? 'CLAIMED',
      });
      try {
        await deps.store.update(next, record);
        return next;
      } catch (error) {
        if (!(error instanceof VersionConflictError)) throw error;
      }
    }
  }
  throw new OperatorActionError(
    `every READY spare this claim tried was taken by a concurrent one, ${CLAIM_ROUNDS} times over; try again`,
  );
}

/** A copy of `items` in random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Hands an amphora back for removal: → PENDING_DELETE, and schedules the REMOVE task. */
export function deactivate(
  deps: OperatorDeps,
  amphoraId: string,
  reason = 'DEACTIVATED',
): Promise<AmphoraRecord> {
  return move(deps, amphoraId, 'PENDING_DELETE', reason, (now) => ({
    task: pendingTask('REMOVE', now),
  }));
}

/** Reports an amphora as failed: → ERROR; the planner then preserves or removes it. */
export function flagFailed(
  deps: OperatorDeps,
  amphoraId: string,
  message: string,
  reason = 'REPORTED_FAILED',
): Promise<AmphoraRecord> {
  return move(deps, amphoraId, 'ERROR', reason, (now) => ({
    failure: { code: 'REPORTED', message, at: now },
  }));
}

/** Asks for an amphora to be preserved for diagnosis: → PRESERVE (within the preserved limit). */
export function requestPreservation(deps: OperatorDeps, amphoraId: string): Promise<AmphoraRecord> {
  return move(deps, amphoraId, 'PRESERVE', 'PRESERVE_REQUESTED', () => ({}));
}

/**
 * Retries an amphora whose task was given up (DELETE_FAILED, PRESERVE_FAILED): clears the
 * failure and sends its task again.
 * @throws OperatorActionError when the amphora is not waiting for an operator.
 */
export async function retryFailed(deps: OperatorDeps, amphoraId: string): Promise<AmphoraRecord> {
  const record = await load(deps, amphoraId);
  if (!needsOperator(record)) {
    throw new OperatorActionError(
      `amphora ${record.id} is ${record.state}${record.failure ? ` (${record.failure.code})` : ''}: only a PENDING_DELETE with DELETE_FAILED or a PRESERVING with PRESERVE_FAILED can be retried`,
    );
  }
  const now = deps.clock.now();
  const type = record.state === 'PENDING_DELETE' ? 'REMOVE' : 'PRESERVE';
  const next = update(record, { now, patch: { failure: undefined, task: pendingTask(type, now) } });
  await deps.store.update(next, record);
  await sendTaskOf(deps, next);
  return next;
}

/**
 * The results of `deactivateMany` that are not a refusal: the removal was scheduled, is under
 * way, or is done. `delete-failed` (its removal was given up: `retry` tries again), `cannot
 * remove from S` and an error's message are refusals.
 */
export const DEACTIVATED_RESULTS: readonly string[] = [
  'scheduled',
  'already-removing',
  'already-deleted',
];

/**
 * Hands many amphorae back; one result per id, in order. Never throws for one bad id. `release`
 * makes the move of one whole id (the claims API's, for the CLI against a deployed stack).
 */
export async function deactivateMany(
  deps: OperatorDeps,
  amphoraIds: readonly string[],
  release: (amphoraId: string) => Promise<unknown> = (id) => deactivate(deps, id),
): Promise<
  Array<{
    amphoraId: string;
    result: 'scheduled' | 'already-removing' | 'already-deleted' | 'delete-failed' | string;
  }>
> {
  const results: Array<{ amphoraId: string; result: string }> = [];
  for (const amphoraId of amphoraIds) {
    try {
      const record = await load(deps, amphoraId);
      if (record.state === 'DELETED') {
        results.push({ amphoraId: record.id, result: 'already-deleted' });
      } else if (record.state === 'PENDING_DELETE' && record.failure?.code === 'DELETE_FAILED') {
        results.push({ amphoraId: record.id, result: 'delete-failed' });
      } else if (record.state === 'PENDING_DELETE') {
        results.push({ amphoraId: record.id, result: 'already-removing' });
      } else if (!canTransition(record.state, 'PENDING_DELETE')) {
        results.push({ amphoraId: record.id, result: `cannot remove from ${record.state}` });
      } else {
        await release(record.id);
        results.push({ amphoraId: record.id, result: 'scheduled' });
      }
    } catch (error) {
      results.push({ amphoraId, result: error instanceof Error ? error.message : String(error) });
    }
  }
  return results;
}
