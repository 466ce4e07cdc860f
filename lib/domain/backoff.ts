/**
 * Creation back-off, slow-start style. After consecutive create failures in a zone the planner
 * waits an exponentially growing delay, then probes with one create at a time; each create that
 * reaches READY doubles the number allowed in flight, until the deploying cap is what limits.
 */
import type { ZoneCreateStats } from './pool.ts';

/** Back-off settings, in seconds. */
export interface BackoffSettings {
  readonly create_backoff_initial: number;
  readonly create_backoff_max: number;
}

/** How many creates a zone may have in flight now, and until when it is closed if it is. */
export interface CreateAllowance {
  /** Most creates (deploying records) the zone may have in flight; `Infinity` when unlimited. */
  readonly window: number;
  /** Epoch ms when a closed zone (window 0) opens again. */
  readonly closedUntil?: number;
}

/**
 * The one capped exponential of the code base: `base × 2^exponent`, at most `cap`. Every delay
 * (creation back-off, status polls, redelivery, delete retries, the cloud probe, and the
 * adapters' own request retries) is one of these.
 */
export function cappedExponential(base: number, exponent: number, cap: number): number {
  return Math.min(base * 2 ** Math.min(Math.max(exponent, 0), 30), cap);
}

/** The delay after `failures` consecutive failures: initial × 2^(failures−1), capped. */
export function backoffDelayMs(failures: number, settings: BackoffSettings): number {
  if (failures <= 0) return 0;
  return (
    cappedExponential(settings.create_backoff_initial, failures - 1, settings.create_backoff_max) *
    1000
  );
}

/** The creation window of a zone at `now`, from its creation statistics. */
export function createAllowance(
  stats: ZoneCreateStats | undefined,
  now: number,
  settings: BackoffSettings,
): CreateAllowance {
  if (!stats?.everFailed) return { window: Number.POSITIVE_INFINITY };
  if (stats.consecutiveFailures > 0) {
    const opensAt =
      (stats.lastFailureAt ?? 0) + backoffDelayMs(stats.consecutiveFailures, settings);
    if (now < opensAt) return { window: 0, closedUntil: opensAt };
    return { window: 1 };
  }
  return { window: 2 ** Math.min(stats.successesSinceFailure, 30) };
}
