import { describe, expect, it } from 'vitest';
import { failureVerdict, retryDelaySeconds } from '../../lib/domain/retry-policy.ts';

const settings = { task_max_attempts: 5, delete_max_attempts: 3 };

describe('retry versus acknowledge', () => {
  it.each([
    // kind, delivery, verdict
    ['Unavailable', 1, 'retry'],
    ['Unavailable', 1_000, 'retry'],
    ['Unauthorized', 1, 'dead-letter'],
    ['NotImplemented', 1, 'dead-letter'],
    ['DeleteFailed', 1, 'retry'],
    ['DeleteFailed', 2, 'retry'],
    ['DeleteFailed', 3, 'give-up'],
    ['AmphoraDriverError', 4, 'retry'],
    ['AmphoraDriverError', 5, 'dead-letter'],
    ['NotFound', 4, 'retry'],
    ['NotFound', 5, 'dead-letter'],
    ['Unexpected', 1, 'retry'],
    ['Unexpected', 5, 'dead-letter'],
  ] as const)('%s on delivery %i → %s', (kind, delivery, expected) => {
    const verdict = failureVerdict(kind, delivery, settings);
    const got = verdict.kind === 'retry' ? 'retry' : verdict.deadLetter ? 'dead-letter' : 'give-up';
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
});
