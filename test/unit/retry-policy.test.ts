import { describe, expect, it } from 'vitest';
import {
  deleteRetryDelaySeconds,
  failureVerdict,
  retryDelaySeconds,
} from '../../lib/domain/retry-policy.ts';

const settings = {
  task_max_attempts: 5,
  delete_max_attempts: 3,
  delete_backoff_initial: 30,
  delete_backoff_max: 900,
};

describe('retry versus acknowledge', () => {
  it.each([
    // kind, task, delivery, verdict
    ['Unavailable', 'CREATE', 1, 'retry'],
    ['Unavailable', 'CHECK', 1_000, 'retry'],
    ['Unauthorized', 'CREATE', 1, 'cloud-refusing'],
    ['Unauthorized', 'SWEEP', 1, 'cloud-refusing'],
    ['Unauthorized', 'REMOVE', 1, 'cloud-refusing'],
    ['NotImplemented', 'PRESERVE', 1, 'dead-letter'],
    ['DeleteFailed', 'REMOVE', 1, 'retry'],
    ['DeleteFailed', 'REMOVE', 2, 'retry'],
    ['DeleteFailed', 'REMOVE', 3, 'give-up'],
    // a REMOVE failing any other way is bounded the same way and ends in DELETE_FAILED
    ['AmphoraDriverError', 'REMOVE', 2, 'retry'],
    ['AmphoraDriverError', 'REMOVE', 3, 'give-up'],
    ['Unexpected', 'REMOVE', 3, 'give-up'],
    ['AmphoraDriverError', 'CREATE', 4, 'retry'],
    ['AmphoraDriverError', 'CREATE', 5, 'dead-letter'],
    ['NotFound', 'PRESERVE', 4, 'retry'],
    ['NotFound', 'PRESERVE', 5, 'dead-letter'],
    ['Unexpected', 'SWEEP', 1, 'retry'],
    ['Unexpected', 'SWEEP', 5, 'dead-letter'],
  ] as const)('%s of a %s on delivery %i → %s', (kind, type, delivery, expected) => {
    const verdict = failureVerdict(kind, delivery, settings, type);
    const got =
      verdict.kind === 'give-up' ? (verdict.deadLetter ? 'dead-letter' : 'give-up') : verdict.kind;
    expect(got).toBe(expected);
  });

  it.each([
    [0, 2],
    [1, 2],
    [2, 4],
    [5, 32],
    [9, 512],
    [10, 900],
    [100, 900],
  ])('waits 2^n seconds before redelivery n, capped at 900 s (n=%i → %i s)', (n, seconds) => {
    expect(retryDelaySeconds(n)).toBe(seconds);
  });

  it.each([
    // delivery that failed, seconds before the next
    [1, 30],
    [2, 60],
    [3, 120],
    [5, 480],
    [6, 900],
    [50, 900],
  ])('spreads failed deletes over minutes: after delivery %i, %i s', (n, seconds) => {
    expect(deleteRetryDelaySeconds(n, settings)).toBe(seconds);
    const verdict = failureVerdict('DeleteFailed', n, {
      ...settings,
      task_max_attempts: 100,
      delete_max_attempts: 100,
    });
    expect(verdict).toStrictEqual({ kind: 'retry', delaySeconds: seconds });
  });

  it('gives a failing delete up by SQS’s redrive bound when delete_max_attempts exceeds it', () => {
    const loose = { ...settings, delete_max_attempts: 10 };
    expect(failureVerdict('DeleteFailed', 4, loose, 'REMOVE').kind).toBe('retry');
    expect(failureVerdict('DeleteFailed', 5, loose, 'REMOVE')).toStrictEqual({
      kind: 'give-up',
      deadLetter: false,
    });
  });

  it('a failed delete’s delay follows the configured back-off', () => {
    const tight = { ...settings, delete_backoff_initial: 5, delete_backoff_max: 12 };
    expect([1, 2, 3, 4].map((n) => deleteRetryDelaySeconds(n, tight))).toStrictEqual([
      5, 10, 12, 12,
    ]);
  });
});
