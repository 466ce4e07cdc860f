/**
 * The cloud breaker (SPEC §5, issue 7), pure: one bad dependency (expired credentials, a dead
 * API) must not become a storm of retries and dead letters. After an Unauthorized from any task,
 * or {@link UNAVAILABLE_TO_OPEN} Unavailable answers in a row, the cloud counts as *refusing*:
 * executors drop cloud work instead of retrying it, and one probe per back-off interval
 * (`create_backoff_initial` doubled per refused probe, capped by `create_backoff_max`) is let
 * through. The first call that succeeds closes it, and the planner re-issues what was dropped.
 */
import { cappedExponential } from './backoff.ts';
import type { CloudHealth } from './pool.ts';
import type { Settings } from './settings.ts';

export type { CloudHealth } from './pool.ts';

/** Unavailable answers in a row that open the breaker (one Unauthorized is enough). */
export const UNAVAILABLE_TO_OPEN = 3;

/** The error classes that say the cloud refuses everyone, not just this call. */
export type RefusalKind = 'Unauthorized' | 'Unavailable';

export type BreakerSettings = Pick<Settings, 'create_backoff_initial' | 'create_backoff_max'>;

/** Seconds between probes after `probes` refused ones. */
export function probeInterval(probes: number, settings: BreakerSettings): number {
  return cappedExponential(settings.create_backoff_initial, probes, settings.create_backoff_max);
}

/**
 * The health after a refusal of `kind` at `now`, or `undefined` when nothing changes: a refusal
 * that is not the probe's, while the breaker is already open, says nothing new (it was in flight
 * when the breaker opened) and must not push the next probe further out.
 */
export function afterRefusal(
  health: CloudHealth | undefined,
  refusal: { readonly kind: RefusalKind; readonly message: string; readonly probe: boolean },
  now: number,
  settings: BreakerSettings,
): CloudHealth | undefined {
  const { kind, message, probe } = refusal;
  const recovered = health?.recoveredAt !== undefined ? { recoveredAt: health.recoveredAt } : {};
  const failures = (health?.failures ?? 0) + 1;
  if (health?.state === 'refusing') {
    if (!probe) return undefined;
    const probes = (health.probes ?? 0) + 1;
    return {
      ...health,
      kind,
      lastError: message,
      failures,
      probes,
      probeAt: now + probeInterval(probes, settings) * 1000,
    };
  }
  const threshold = kind === 'Unauthorized' ? 1 : UNAVAILABLE_TO_OPEN;
  if (failures < threshold)
    return { state: 'ok', failures, ...recovered, lastError: message, kind };
  return {
    state: 'refusing',
    kind,
    since: now,
    lastError: message,
    probeAt: now + probeInterval(0, settings) * 1000,
    failures,
    probes: 0,
    ...recovered,
  };
}

/** The health after a call succeeded at `now`; `undefined` when nothing changes (no write). */
export function afterSuccess(
  health: CloudHealth | undefined,
  now: number,
): CloudHealth | undefined {
  if (!health || (health.state === 'ok' && health.failures === 0)) return undefined;
  const recoveredAt = health.state === 'refusing' ? now : health.recoveredAt;
  return { state: 'ok', failures: 0, ...(recoveredAt !== undefined ? { recoveredAt } : {}) };
}

/** What an executor does with a cloud task: run it, run it as the probe, or drop it. */
export type Gate = 'go' | 'probe' | 'drop';

/** The gate at `now`. */
export function gate(health: CloudHealth | undefined, now: number): Gate {
  if (health?.state !== 'refusing') return 'go';
  return now >= (health.probeAt ?? 0) ? 'probe' : 'drop';
}

/**
 * The health an executor writes to win the probe due at `now` (conditional on the `probeAt` it
 * read): the next probe moves one interval out, so a probe that never reports (its executor
 * crashed) is followed by another, and every other executor meanwhile drops.
 */
export function claimProbe(
  health: CloudHealth,
  now: number,
  settings: BreakerSettings,
): CloudHealth {
  return { ...health, probeAt: now + probeInterval(health.probes ?? 0, settings) * 1000 };
}

/** Whether the cloud refuses (for the planner, `status` and the metrics). */
export function isRefusing(health: CloudHealth | undefined): boolean {
  return health?.state === 'refusing';
}

/**
 * Whether a task issued at `issuedAt` may have been dropped by the breaker and not yet replaced:
 * it was issued before the last recovery.
 */
export function droppedByBreaker(health: CloudHealth | undefined, issuedAt: number): boolean {
  return health?.recoveredAt !== undefined && issuedAt < health.recoveredAt;
}
