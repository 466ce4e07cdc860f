/**
 * Retry versus acknowledge, decided in one place (SPEC §5): what an executor does with a task
 * whose driver call failed, by error class and delivery attempt.
 */
import { cappedExponential } from './backoff.ts';
import type { DriverErrorKind } from './errors.ts';

/** The bounds the policy reads from the configuration. */
export interface RetrySettings {
  readonly task_max_attempts: number;
  readonly delete_max_attempts: number;
}

/** A failure class: a driver error kind, or anything else (a bug, a store outage). */
export type FailureKind = DriverErrorKind | 'Unexpected';

/** What to do about a failed attempt. */
export type FailureVerdict =
  | { readonly kind: 'retry'; readonly delaySeconds: number }
  /** Stop trying. `deadLetter`: also move the message to the DLQ (an alarm watches it). */
  | { readonly kind: 'give-up'; readonly deadLetter: boolean };

/** Seconds before the n-th redelivery: 2^n, capped at SQS's 900 s maximum visibility change. */
export function retryDelaySeconds(receiveCount: number): number {
  return cappedExponential(1, Math.max(receiveCount, 1), 900);
}

/**
 * The verdict for a failed attempt.
 * - Unavailable: retried with back-off, never given up by the executor (SQS redrive and the
 *   planner's stuck-task re-issue keep it from being lost).
 * - Unauthorized: no retry storm: straight to the DLQ.
 * - DeleteFailed: `delete_max_attempts` attempts, then given up without DLQ (the record shows
 *   DELETE_FAILED and an alarm fires on the metric).
 * - NotImplemented: retrying cannot help: DLQ.
 * - other driver errors and unexpected errors: `task_max_attempts` attempts, then DLQ.
 */
export function failureVerdict(
  kind: FailureKind,
  receiveCount: number,
  settings: RetrySettings,
): FailureVerdict {
  const retry = { kind: 'retry', delaySeconds: retryDelaySeconds(receiveCount) } as const;
  switch (kind) {
    case 'Unavailable':
      return retry;
    case 'Unauthorized':
    case 'NotImplemented':
      return { kind: 'give-up', deadLetter: true };
    case 'DeleteFailed':
      return receiveCount < settings.delete_max_attempts
        ? retry
        : { kind: 'give-up', deadLetter: false };
    default:
      return receiveCount < settings.task_max_attempts
        ? retry
        : { kind: 'give-up', deadLetter: true };
  }
}
