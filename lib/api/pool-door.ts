/**
 * The door the operator CLI's pool actions go through: claim, release, report a failure, ask for
 * preservation, read the status. Against a deployed stack it is the claims API (the typed
 * client), so that the CLI and other services take the same path, with the same validation,
 * idempotency and planner wake; locally, the use cases in-process. Either way the CLI shows what
 * it did from the records it reads, so its output is the same for both.
 */
import {
  claimSpare,
  deactivateMany,
  flagFailed,
  type OperatorDeps,
  requestPreservation,
  resolveAmphora,
} from '../app/operator-actions.ts';
import { type PoolStatus, poolStatus } from '../app/pool-status.ts';
import type { AmphoraRecord } from '../domain/amphora.ts';
import { AmphoraNotFoundError } from '../domain/errors.ts';
import type { LeaseStore, PoolStateStore, RecordStore } from '../ports/pool-store.ts';
import { ApiError, type HousekeeperApiClient } from './client.ts';

/** What the CLI's pool actions need. */
export interface PoolDoor {
  /** A READY spare, ALLOCATED; undefined when none is READY. */
  claim(options: { pool?: string; zone?: string }): Promise<AmphoraRecord | undefined>;
  /** Hands amphorae back (ids or unique prefixes); one result per id, as `deactivateMany`. */
  release(ids: readonly string[]): Promise<Array<{ amphoraId: string; result: string }>>;
  /** Reports an amphora failed (→ ERROR). */
  flag(id: string, reason: string): Promise<AmphoraRecord>;
  /** Asks for an amphora to be preserved (→ PRESERVE). */
  preserve(id: string): Promise<AmphoraRecord>;
  /** The pool's status. */
  status(): Promise<PoolStatus>;
}

/** What the in-process door uses: the operator use cases' and the status's ports. */
export type InProcessDeps = OperatorDeps & {
  readonly store: RecordStore &
    Pick<PoolStateStore, 'getPoolState'> &
    Pick<LeaseStore, 'lastCycle'>;
  readonly config: Parameters<typeof poolStatus>[1];
};

/** The use cases, in this process (the local stack). */
export function inProcessDoor(deps: InProcessDeps): PoolDoor {
  return {
    claim: (options) => claimSpare(deps, options),
    release: (ids) => deactivateMany(deps, ids),
    flag: (id, reason) => flagFailed(deps, id, reason),
    preserve: (id) => requestPreservation(deps, id),
    status: () => poolStatus(deps.store, deps.config),
  };
}

/**
 * The claims API. Ids given as unique prefixes are resolved against the records first (the API
 * takes whole ids); what the API did is read back from the records for display.
 */
export function apiDoor(client: HousekeeperApiClient, deps: OperatorDeps): PoolDoor {
  const readBack = async (id: string): Promise<AmphoraRecord> => {
    const record = await deps.store.get(id);
    if (!record) throw new AmphoraNotFoundError(id);
    return record;
  };
  const whole = async (idOrPrefix: string) => (await resolveAmphora(deps.store, idOrPrefix)).id;
  return {
    claim: async (options) => {
      try {
        return await readBack((await client.claim(options)).id);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'NO_SPARE') return undefined;
        throw error;
      }
    },
    release: (ids) =>
      deactivateMany(deps, ids, async (id) => {
        await client.release(id);
      }),
    flag: async (id, reason) => {
      const target = await whole(id);
      await client.fail(target, reason);
      return readBack(target);
    },
    preserve: async (id) => {
      const target = await whole(id);
      await client.preserve(target);
      return readBack(target);
    },
    status: () => client.pools(),
  };
}
