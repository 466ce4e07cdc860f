import { describe, expect, it } from 'vitest';
import { type DeadLetterMessage, viewDeadLetter } from '../../lib/domain/dead-letters.ts';
import { encodeTask, TASK_SCHEMA_VERSION } from '../../lib/domain/tasks.ts';

const NOW = Date.UTC(2026, 0, 1, 12);
const check = encodeTask({
  v: TASK_SCHEMA_VERSION,
  type: 'CHECK',
  taskId: 't-1',
  issuedAt: NOW - 60_000,
  amphoraId: 'amp-1',
  version: 2,
});
const sweep = encodeTask({ v: TASK_SCHEMA_VERSION, type: 'SWEEP', taskId: 't-2', issuedAt: NOW });

function message(fields: Partial<DeadLetterMessage>): DeadLetterMessage {
  return { messageId: 'm-1', body: check, receiveCount: 3, sentAt: NOW - 90_500, ...fields };
}

describe('viewDeadLetter', () => {
  it.each([
    [
      'an executor failure: the class before the colon',
      { reason: 'Unavailable: 503' },
      'CHECK',
      'amp-1',
      'Unavailable',
    ],
    [
      'a body that is not a task',
      { body: 'not json {', reason: 'task body is not JSON: not json {' },
      '-',
      undefined,
      'Malformed',
    ],
    ['a message the redrive policy moved', {}, 'CHECK', 'amp-1', 'maxReceiveCount'],
    ['a reason with no class', { reason: 'gave up' }, 'CHECK', 'amp-1', 'unspecified'],
    [
      'a task with no amphora',
      { body: sweep, reason: 'Unexpected: boom' },
      'SWEEP',
      undefined,
      'Unexpected',
    ],
  ] as const)('describes %s', (_, fields, taskType, amphoraId, errorClass) => {
    const view = viewDeadLetter(message(fields), NOW);
    expect(view).toMatchObject({ taskType, errorClass, receiveCount: 3, ageSeconds: 90 });
    expect(view.amphoraId).toBe(amphoraId);
    expect(view.reason).toBe('reason' in fields ? fields.reason : undefined);
  });

  it('prints the time it reached the queue in ISO 8601, and never a negative age', () => {
    const view = viewDeadLetter(message({ sentAt: NOW + 5_000 }), NOW);
    expect(view.sentAt).toBe('2026-01-01T12:00:05.000Z');
    expect(view.ageSeconds).toBe(0);
  });
});
