/**
 * The DeadLetterQueue port, one contract on both adapters: the in-memory queue and SQS on fauxqs
 * (each test gets its own queue pair). Reading leaves the DLQ intact; redriving sends a message
 * back before deleting it, and refuses unknown ids without redriving anything.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryTaskQueue } from '../../lib/adapters/memory/memory-task-queue.ts';
import { SqsDeadLetterQueue } from '../../lib/adapters/sqs/sqs-dead-letter-queue.ts';
import { SqsTaskConsumer } from '../../lib/adapters/sqs/sqs-task-consumer.ts';
import { SqsTaskQueue } from '../../lib/adapters/sqs/sqs-task-queue.ts';
import { UnknownDeadLetterError } from '../../lib/domain/errors.ts';
import type { DeadLetterQueue, TaskQueue } from '../../lib/ports/task-queue.ts';
import { intercept, startTestSqs, type TestSqs } from '../support/aws.ts';

let sqs: TestSqs;

beforeAll(async () => {
  sqs = await startTestSqs();
});

afterAll(async () => {
  await sqs?.stop();
});

interface Subject {
  readonly queue: TaskQueue;
  readonly dlq: DeadLetterQueue;
  /** Bodies now waiting in the task queue (received and deleted). */
  drainTasks(): Promise<string[]>;
}

const T0 = Date.UTC(2026, 0, 1);

const backends: Array<[string, () => Promise<Subject>]> = [
  [
    'memory',
    async () => {
      const clock = new ManualClock(T0);
      const queue = new MemoryTaskQueue(clock);
      return {
        queue,
        dlq: queue.deadLetterQueue(),
        drainTasks: async () =>
          queue.receive(100).map((m) => {
            queue.ack(m.receipt);
            return m.body;
          }),
      };
    },
  ],
  [
    'sqs (fauxqs)',
    async () => {
      const urls = await sqs.newQueues();
      const consumer = new SqsTaskConsumer({
        client: sqs.client,
        queueUrl: urls.queueUrl,
        waitTimeSeconds: 1,
      });
      return {
        queue: new SqsTaskQueue({ client: sqs.client, ...urls }),
        dlq: new SqsDeadLetterQueue({ client: sqs.client, ...urls }),
        drainTasks: async () => {
          const got = await consumer.receive(10);
          await consumer.ack(got.map((m) => m.receipt));
          return got.map((m) => m.body);
        },
      };
    },
  ],
];

describe.each(backends)('DeadLetterQueue on %s', (_, subject) => {
  it('lists each dead letter with its reason and deliveries, and leaves every one in place', async () => {
    const { queue, dlq } = await subject();
    await queue.deadLetter('body-a', 'Unavailable: nova said 503', 4);
    await queue.deadLetter('body-b', 'task body is not JSON: body-b', 1);

    const first = await dlq.list();
    const second = await dlq.list();

    // Sent in the same millisecond, two messages have no order: compared by body.
    const shown = first
      .map(({ body, reason, receiveCount }) => ({ body, reason, receiveCount }))
      .sort((x, y) => x.body.localeCompare(y.body));
    expect(shown).toEqual([
      { body: 'body-a', reason: 'Unavailable: nova said 503', receiveCount: 4 },
      { body: 'body-b', reason: 'task body is not JSON: body-b', receiveCount: 1 },
    ]);
    expect(new Set(first.map((m) => m.messageId)).size).toBe(2);
    for (const m of first) expect(m.sentAt).toBeGreaterThan(0);
    expect(second.map((m) => m.messageId).sort()).toEqual(first.map((m) => m.messageId).sort());
    expect(await dlq.depths()).toEqual({ queue: 0, deadLetter: 2 });
  }, 30_000);

  it('redrives one message by id to the task queue and leaves the others', async () => {
    const { queue, dlq, drainTasks } = await subject();
    await queue.deadLetter('body-a', 'Unexpected: boom', 1);
    await queue.deadLetter('body-b', 'Unexpected: boom', 1);
    const a = (await dlq.list()).find((m) => m.body === 'body-a')!;

    const results = await dlq.redrive([a.messageId]);

    expect(results).toEqual([{ messageId: a.messageId, result: 'redriven' }]);
    expect(await drainTasks()).toEqual(['body-a']);
    expect((await dlq.list()).map((m) => m.body)).toEqual(['body-b']);
  }, 30_000);

  it('redrives everything with all, and the DLQ is empty after', async () => {
    const { queue, dlq, drainTasks } = await subject();
    for (const body of ['x', 'y', 'z']) await queue.deadLetter(body, 'Unexpected: boom', 1);

    const results = await dlq.redrive('all');

    expect(results.map((r) => r.result)).toEqual(['redriven', 'redriven', 'redriven']);
    expect((await drainTasks()).sort()).toEqual(['x', 'y', 'z']);
    expect(await dlq.list()).toEqual([]);
    expect((await dlq.depths()).deadLetter).toBe(0);
  }, 30_000);

  it('refuses an unknown id by name and redrives nothing, not even the known ones', async () => {
    const { queue, dlq, drainTasks } = await subject();
    await queue.deadLetter('body-a', 'Unexpected: boom', 1);
    const [a] = await dlq.list();

    const redrive = dlq.redrive([a!.messageId, 'no-such-message']);

    await expect(redrive).rejects.toBeInstanceOf(UnknownDeadLetterError);
    await expect(redrive).rejects.toThrow(/no-such-message/);
    expect(await drainTasks()).toEqual([]);
    expect((await dlq.list()).map((m) => m.messageId)).toEqual([a!.messageId]);
  }, 30_000);
});

describe('DeadLetterQueue on SQS only', () => {
  it('keeps a message in the DLQ when its send to the task queue fails', async () => {
    const urls = await sqs.newQueues();
    const client = sqs.newClient();
    const queue = new SqsTaskQueue({ client, ...urls });
    const dlq = new SqsDeadLetterQueue({ client, ...urls });
    await queue.deadLetter('body-a', 'Unexpected: boom', 2);
    const remove = intercept(client, 'SendMessageCommand', async () => {
      throw Object.assign(new Error('the task queue is down'), { name: 'ServiceUnavailable' });
    });

    const results = await dlq.redrive('all');
    remove();

    expect(results).toEqual([
      {
        messageId: expect.any(String),
        result: 'failed',
        error: 'ServiceUnavailable: the task queue is down',
      },
    ]);
    // Released at once, not hidden for the hold: the next read sees it.
    expect((await dlq.list()).map((m) => m.body)).toEqual(['body-a']);
  }, 30_000);

  it('shows a message the redrive policy moved with no reason, and SQS’s count less this read', async () => {
    const urls = await sqs.newQueues();
    const dlq = new SqsDeadLetterQueue({ client: sqs.client, ...urls });
    // As the redrive policy moves it: the body alone, no attributes.
    await sqs.client.send(
      new SendMessageCommand({ QueueUrl: urls.deadLetterQueueUrl, MessageBody: 'moved' }),
    );

    const [m] = await dlq.list();

    expect(m).toMatchObject({ body: 'moved', receiveCount: 0 });
    expect(m).not.toHaveProperty('reason');
  }, 30_000);
});
