/**
 * Retry versus acknowledge, decided in one place (SPEC §5): what an executor does with a task
 * whose driver call failed, by error class, task kind and delivery attempt. Every path ends: a
 * bounded number of deliveries, then a state an operator sees (a failed record, the DLQ, or the
 * cloud breaker's `CloudAuthFailing` / `CloudUnavailable`).
 */
import type { TaskType } from './amphora.ts';
import { cappedExponential } from './backoff.ts';
import type { DriverErrorKind } from './errors.ts';

/** The bounds the policy reads from the configuration. */
export interface RetrySettings {
  readonly task_max_attempts: number;
  readonly delete_max_attempts: number;
  readonly delete_backoff_initial: number;
  readonly delete_backoff_max: number;
}

/** A failure class: a driver error kind, or anything else (a bug, a store outage). */
export type FailureKind = DriverErrorKind | 'Unexpected';

/** What to do about a failed attempt. */
export type FailureVerdict =
  | { readonly kind: 'retry'; readonly delaySeconds: number }
  /** Stop trying. `deadLetter`: also move the message to the DLQ (an alarm watches it). */
  | { readonly kind: 'give-up'; readonly deadLetter: boolean }
  /**
   * The cloud refuses everyone (the breaker's business, see cloud-health.ts): acknowledge
   * without a dead letter. The record keeps its task; the planner re-issues it after recovery.
   */
  | { readonly kind: 'cloud-refusing' };

/** Seconds before the n-th redelivery: 2^n, capped at SQS's 900 s maximum visibility change. */
export function retryDelaySeconds(receiveCount: number): number {
  return cappedExponential(1, Math.max(receiveCount, 1), 900);
}

/** Seconds before a failed delete is tried again: `delete_backoff_initial` doubled per try. */
export function deleteRetryDelaySeconds(
  receiveCount: number,
  settings: Pick<RetrySettings, 'delete_backoff_initial' | 'delete_backoff_max'>,
): number {
  return cappedExponential(
    settings.delete_backoff_initial,
    receiveCount - 1,
    settings.delete_backoff_max,
  );
}

/**
 * The verdict for a failed attempt of a `taskType` task on delivery `receiveCount`.
 * - Unauthorized: the cloud refuses: no retry, no dead letter (the breaker opens).
 * - Unavailable: retried with back-off; SQS's redrive (`maxReceiveCount` = `task_max_attempts`)
 *   bounds it, and a run of them opens the breaker.
 * - REMOVE failing any other way (DeleteFailed, a driver error, a bug): `delete_max_attempts`
 *   deliveries (at most `task_max_attempts`, SQS's redrive bound) spread by the delete back-off, then given up without a dead letter: the record
 *   shows DELETE_FAILED and waits for an operator (an alarm watches the metric).
 * - NotImplemented: retrying cannot help: DLQ.
 * - other errors: `task_max_attempts` deliveries, then DLQ.
 */
export function failureVerdict(
  kind: FailureKind,
  receiveCount: number,
  settings: RetrySettings,
  taskType?: TaskType,
): FailureVerdict {
  const retry = { kind: 'retry', delaySeconds: retryDelaySeconds(receiveCount) } as const;
  if (kind === 'Unauthorized') return { kind: 'cloud-refusing' };
  if (kind === 'Unavailable') return retry;
  if (kind === 'NotImplemented') return { kind: 'give-up', deadLetter: true };
  if (taskType === 'REMOVE' || kind === 'DeleteFailed') {
    const attempts = Math.min(settings.delete_max_attempts, settings.task_max_attempts);
    return receiveCount < attempts
      ? { kind: 'retry', delaySeconds: deleteRetryDelaySeconds(receiveCount, settings) }
      : { kind: 'give-up', deadLetter: false };
  }
  return receiveCount < settings.task_max_attempts ? retry : { kind: 'give-up', deadLetter: true };
}
