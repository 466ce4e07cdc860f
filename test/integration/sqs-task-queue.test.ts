/**
 * The SQS task queue and consumer on fauxqs. Each test gets its own queue and DLQ. The one fault
 * fauxqs cannot produce, a retryable partial batch failure (and an invalid-receipt error, which
 * fauxqs does not report), is injected in front of it with a client interceptor.
 */
import {
  type DeleteMessageBatchCommandInput,
  type DeleteMessageBatchCommandOutput,
  QueueDoesNotExist,
  ReceiveMessageCommand,
  type SendMessageBatchCommandInput,
  type SendMessageBatchCommandOutput,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqsTaskConsumer } from '../../lib/adapters/sqs/sqs-task-consumer.ts';
import { SqsTaskQueue } from '../../lib/adapters/sqs/sqs-task-queue.ts';
import { settle } from '../../lib/app/consume-messages.ts';
import { MalformedTaskError, TaskAckError, TaskSendError } from '../../lib/domain/errors.ts';
import {
  decodeTask,
  encodeTask,
  type RecordTask,
  TASK_SCHEMA_VERSION,
  type Task,
} from '../../lib/domain/tasks.ts';
import type { Disposition } from '../../lib/ports/task-queue.ts';
import { countCommands, intercept, startTestSqs, type TestSqs } from '../support/aws.ts';

const T0 = Date.UTC(2026, 0, 1);
let sqs: TestSqs;
let serial = 0;

beforeAll(async () => {
  sqs = await startTestSqs();
});

afterAll(async () => {
  await sqs?.stop();
});

function task(fields: Partial<RecordTask> = {}): Task {
  serial += 1;
  return {
    v: TASK_SCHEMA_VERSION,
    type: 'CHECK',
    taskId: `task-${serial}`,
    issuedAt: T0,
    amphoraId: `amp-${serial}`,
    version: 2,
    ...fields,
  };
}

/** A queue pair with its adapters, on a client of its own when interceptors are involved. */
async function setup(
  options: { maxReceiveCount?: number; visibilityTimeoutSeconds?: number } = {},
) {
  const urls = await sqs.newQueues(options);
  const queue = new SqsTaskQueue({
    client: sqs.client,
    queueUrl: urls.queueUrl,
    deadLetterQueueUrl: urls.deadLetterQueueUrl,
    retryBaseDelayMs: 1,
  });
  const consumer = (overrides: Partial<ConstructorParameters<typeof SqsTaskConsumer>[0]> = {}) =>
    new SqsTaskConsumer({
      client: sqs.client,
      queueUrl: urls.queueUrl,
      waitTimeSeconds: 0,
      ...overrides,
    });
  const dlq = new SqsTaskConsumer({
    client: sqs.client,
    queueUrl: urls.deadLetterQueueUrl,
    waitTimeSeconds: 1,
  });
  return { ...urls, queue, consumer, dlq };
}

/** Receives until `count` messages arrived or `ms` passed. */
async function receiveAll(consumer: SqsTaskConsumer, count: number, ms = 3_000) {
  const got = [];
  const deadline = Date.now() + ms;
  while (got.length < count && Date.now() < deadline) got.push(...(await consumer.receive()));
  return got;
}

async function deadLetters(dlqUrl: string) {
  const { Messages } = await sqs.client.send(
    new ReceiveMessageCommand({
      QueueUrl: dlqUrl,
      WaitTimeSeconds: 1,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
    }),
  );
  return (Messages ?? []).map((m) => ({
    body: m.Body,
    reason: m.MessageAttributes?.reason?.StringValue,
  }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SQS task queue: sending', () => {
  it('sends every task once, ten per batch, each body exactly its encoded task', async () => {
    // Prepare
    const { queue, consumer } = await setup();
    const tasks = Array.from({ length: 23 }, () => task());
    const counter = countCommands(sqs.client);

    // Act
    await queue.send(tasks.map((t) => ({ task: t })));

    // Assess
    counter.remove();
    expect(counter.count('SendMessageBatchCommand')).toBe(3);
    const bodies = (await receiveAll(consumer(), 23)).map((m) => m.body);
    expect(bodies.sort()).toStrictEqual(tasks.map(encodeTask).sort());
    expect(await consumer().receive()).toStrictEqual([]);
  });

  it('sends nothing for no tasks', async () => {
    const { queue } = await setup();
    const counter = countCommands(sqs.client);
    await queue.send([]);
    counter.remove();
    expect(counter.count('SendMessageBatchCommand')).toBe(0);
  });

  it('holds a delayed task back for its delay', async () => {
    // Prepare
    const { queue, consumer } = await setup();
    const now = task();
    const later = task();

    // Act
    await queue.send([{ task: now }, { task: later, delaySeconds: 2 }]);
    const first = await receiveAll(consumer(), 1);
    const early = await consumer().receive();
    await sleep(2_000);
    const second = await receiveAll(consumer(), 1);

    // Assess
    expect(first.map((m) => m.body)).toStrictEqual([encodeTask(now)]);
    expect(early).toStrictEqual([]);
    expect(second.map((m) => m.body)).toStrictEqual([encodeTask(later)]);
  });

  it('resends the entries a batch reports failed until they are accepted', async () => {
    // Prepare: the first batch call loses two entries to a transient fault
    const { queueUrl, deadLetterQueueUrl, consumer } = await setup();
    const client = sqs.newClient();
    const queue = new SqsTaskQueue({ client, queueUrl, deadLetterQueueUrl, retryBaseDelayMs: 1 });
    const sizes: number[] = [];
    intercept<SendMessageBatchCommandInput, SendMessageBatchCommandOutput>(
      client,
      'SendMessageBatchCommand',
      async (call) => {
        const entries = call.input.Entries ?? [];
        sizes.push(entries.length);
        if (call.call > 0) return call.proceed();
        const lost = entries.filter((_, i) => i === 1 || i === 3);
        const output = await call.proceed({
          ...call.input,
          Entries: entries.filter((e) => !lost.includes(e)),
        });
        const Failed = lost.map((e) => ({ Id: e.Id!, SenderFault: false, Code: 'InternalError' }));
        return { ...output, Failed };
      },
    );
    const tasks = Array.from({ length: 5 }, () => task());

    // Act
    await queue.send(tasks.map((t) => ({ task: t })));

    // Assess
    expect(sizes).toStrictEqual([5, 2]);
    const bodies = (await receiveAll(consumer(), 5)).map((m) => m.body);
    expect(bodies.sort()).toStrictEqual(tasks.map(encodeTask).sort());
  });

  it('gives up on an entry that keeps failing after the attempt limit, naming its task', async () => {
    // Prepare
    const { queueUrl, deadLetterQueueUrl, consumer } = await setup();
    const client = sqs.newClient();
    const queue = new SqsTaskQueue({
      client,
      queueUrl,
      deadLetterQueueUrl,
      maxAttempts: 3,
      retryBaseDelayMs: 1,
    });
    const doomed = task();
    let calls = 0;
    intercept<SendMessageBatchCommandInput, SendMessageBatchCommandOutput>(
      client,
      'SendMessageBatchCommand',
      async (call) => {
        calls += 1;
        const entries = call.input.Entries ?? [];
        const bad = entries.filter((e) => e.MessageBody === encodeTask(doomed));
        const rest = entries.filter((e) => !bad.includes(e));
        const output =
          rest.length > 0
            ? await call.proceed({ ...call.input, Entries: rest })
            : { $metadata: {}, Successful: [] };
        return {
          ...output,
          Failed: bad.map((e) => ({ Id: e.Id!, SenderFault: false, Code: 'ServiceUnavailable' })),
        };
      },
    );
    const fine = task();

    // Act
    const sent = queue.send([{ task: doomed }, { task: fine }]);

    // Assess
    await expect(sent).rejects.toBeInstanceOf(TaskSendError);
    await expect(sent).rejects.toMatchObject({ failedTaskIds: [doomed.taskId] });
    await expect(sent).rejects.toThrow(/ServiceUnavailable/);
    expect(calls).toBe(3);
    expect((await receiveAll(consumer(), 1)).map((m) => m.body)).toStrictEqual([encodeTask(fine)]);
  });

  it('does not resend a message SQS refuses as the sender’s fault', async () => {
    // Prepare: U+FFFF survives JSON encoding but is not a character SQS accepts
    const { queue, consumer } = await setup();
    const refused = task({ amphoraId: 'amp-\uffff' });
    const fine = task();
    const counter = countCommands(sqs.client);

    // Act
    const sent = queue.send([{ task: fine }, { task: refused }]);

    // Assess
    await expect(sent).rejects.toMatchObject({ failedTaskIds: [refused.taskId] });
    await expect(sent).rejects.toThrow(/InvalidMessageContents/);
    counter.remove();
    expect(counter.count('SendMessageBatchCommand')).toBe(1);
    expect((await receiveAll(consumer(), 1)).map((m) => m.body)).toStrictEqual([encodeTask(fine)]);
  });

  it('reports every task when the queue refuses the whole batch', async () => {
    // Prepare
    const { deadLetterQueueUrl, queueUrl } = await setup();
    const queue = new SqsTaskQueue({
      client: sqs.client,
      queueUrl: `${queueUrl}-gone`,
      deadLetterQueueUrl,
    });
    const tasks = Array.from({ length: 12 }, () => task());

    // Act
    const sent = queue.send(tasks.map((t) => ({ task: t })));

    // Assess
    await expect(sent).rejects.toMatchObject({ failedTaskIds: tasks.map((t) => t.taskId) });
    await expect(sent).rejects.toHaveProperty('cause', expect.any(QueueDoesNotExist));
  });

  it.each([
    ['negative', -1],
    ['beyond 15 minutes', 901],
    ['fractional', 1.5],
  ])(
    'reports a task with a %s delay without sending it, and sends the others',
    async (_case, delaySeconds) => {
      // Prepare
      const { queue, consumer } = await setup();
      const bad = task();
      const fine = task();

      // Act
      const sent = queue.send([
        { task: bad, delaySeconds },
        { task: fine, delaySeconds: 0 },
      ]);

      // Assess
      await expect(sent).rejects.toMatchObject({ failedTaskIds: [bad.taskId] });
      await expect(sent).rejects.toThrow(/delaySeconds/);
      expect((await receiveAll(consumer(), 1)).map((m) => m.body)).toStrictEqual([
        encodeTask(fine),
      ]);
      expect(await consumer().receive()).toStrictEqual([]);
    },
  );

  it.each([
    ['keeps the reason', 'Unauthorized: 401 from Nova', 'Unauthorized: 401 from Nova'],
    ['names an empty reason', '', 'unspecified'],
    ['bounds a long reason', 'x'.repeat(5_000), 'x'.repeat(1_024)],
  ])(
    'dead-letters a body with its reason as a message attribute: %s',
    async (_case, reason, kept) => {
      // Prepare
      const { queue, deadLetterQueueUrl } = await setup();

      // Act
      await queue.deadLetter('{"not":"a task"}', reason);

      // Assess
      expect(await deadLetters(deadLetterQueueUrl)).toStrictEqual([
        { body: '{"not":"a task"}', reason: kept },
      ]);
    },
  );
});

describe.concurrent('SQS task consumer: delivery', () => {
  it('delivers a task once with receive count 1; an acked task never comes back', async ({
    expect,
  }) => {
    // Prepare
    const { queue, consumer } = await setup({ visibilityTimeoutSeconds: 1 });
    const t = task();
    await queue.send([{ task: t }]);

    // Act
    const [message] = await receiveAll(consumer(), 1);
    const acked = await consumer().ack([message!.receipt]);
    await sleep(1_200);

    // Assess
    expect(message).toMatchObject({ body: encodeTask(t), receiveCount: 1 });
    expect(acked).toStrictEqual({ deleted: [message!.receipt], stale: [] });
    expect(await consumer().receive()).toStrictEqual([]);
  });

  it('redelivers a message not settled within its visibility timeout, counting receives', async ({
    expect,
  }) => {
    // Prepare
    const { queue, consumer } = await setup({ visibilityTimeoutSeconds: 2 });
    await queue.send([{ task: task() }]);

    // Act
    const [first] = await receiveAll(consumer(), 1);
    const hidden = await consumer().receive();
    await sleep(2_100);
    const [second] = await receiveAll(consumer(), 1);

    // Assess
    expect(hidden).toStrictEqual([]);
    expect(second?.messageId).toBe(first?.messageId);
    expect(first?.receiveCount).toBe(1);
    expect(second?.receiveCount).toBe(2);
  });

  it('delivers a body sent twice as two messages, each settled on its own', async ({ expect }) => {
    // Prepare
    const { queue, consumer } = await setup();
    const t = task();

    // Act
    await queue.send([{ task: t }, { task: t }]);
    const both = await receiveAll(consumer(), 2);
    const acks = await consumer().ack(both.map((m) => m.receipt));

    // Assess
    expect(both.map((m) => m.body)).toStrictEqual([encodeTask(t), encodeTask(t)]);
    expect(new Set(both.map((m) => m.messageId)).size).toBe(2);
    expect(acks.deleted).toHaveLength(2);
    expect(await consumer().receive()).toStrictEqual([]);
  });

  it('moves a message to the DLQ after maxReceiveCount deliveries', async ({ expect }) => {
    // Prepare: every receive hides the message for 0 s, as an executor that keeps crashing
    const { queue, consumer, deadLetterQueueUrl } = await setup({ maxReceiveCount: 2 });
    const t = task();
    await queue.send([{ task: t }]);
    const crashing = consumer({ visibilityTimeoutSeconds: 0 });

    // Act
    const counts = [];
    for (let i = 0; i < 3; i++)
      counts.push(...(await crashing.receive()).map((m) => m.receiveCount));

    // Assess
    expect(counts).toStrictEqual([1, 2]);
    expect((await deadLetters(deadLetterQueueUrl)).map((d) => d.body)).toStrictEqual([
      encodeTask(t),
    ]);
  });

  it('receives a malformed message and dead-letters it with the reason, off the task queue', async ({
    expect,
  }) => {
    // Prepare
    const { queue, queueUrl, consumer, deadLetterQueueUrl } = await setup({
      visibilityTimeoutSeconds: 1,
    });
    await sqs.client.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'not json {' }),
    );
    const edge = consumer();

    // Act
    const [message] = await receiveAll(edge, 1);
    let reason = '';
    try {
      decodeTask(message!.body);
    } catch (error) {
      expect(error).toBeInstanceOf(MalformedTaskError);
      reason = (error as Error).message;
      await settle(edge, queue, [
        { message: message!, disposition: { kind: 'dead-letter', reason } },
      ]);
    }
    await sleep(1_100);

    // Assess
    expect(reason).toMatch(/not JSON/);
    expect(await deadLetters(deadLetterQueueUrl)).toStrictEqual([{ body: 'not json {', reason }]);
    expect(await edge.receive()).toStrictEqual([]);
  });

  it.for<[string, Disposition, 'gone' | 'back' | 'dead']>([
    ['ack deletes the message', { kind: 'ack' }, 'gone'],
    [
      'retry makes it visible again',
      { kind: 'retry', delaySeconds: 0, reason: 'Unavailable' },
      'back',
    ],
    ['dead-letter moves it to the DLQ', { kind: 'dead-letter', reason: 'Unauthorized' }, 'dead'],
  ])('settles a disposition: %s', async ([, disposition, where], { expect }) => {
    // Prepare
    const { queue, consumer, deadLetterQueueUrl } = await setup({ visibilityTimeoutSeconds: 30 });
    const t = task();
    await queue.send([{ task: t }]);
    const [message] = await receiveAll(consumer(), 1);

    // Act
    await settle(consumer(), queue, [{ message: message!, disposition }]);

    // Assess
    const again = await consumer().receive();
    expect(again.map((m) => [m.body, m.receiveCount])).toStrictEqual(
      where === 'back' ? [[encodeTask(t), 2]] : [],
    );
    const dead = await deadLetters(deadLetterQueueUrl);
    expect(dead).toStrictEqual(
      where === 'dead' ? [{ body: encodeTask(t), reason: 'Unauthorized' }] : [],
    );
  });
});

describe.concurrent('SQS task consumer: retries and edges', () => {
  it('hides a message retried later for its delay, then delivers it again', async ({ expect }) => {
    // Prepare
    const { queue, consumer } = await setup({ visibilityTimeoutSeconds: 30 });
    await queue.send([{ task: task() }]);
    const [message] = await receiveAll(consumer(), 1);

    // Act
    const changed = await consumer().retryLater(message!.receipt, 2);
    const during = await consumer().receive();
    await sleep(2_100);
    const after = await receiveAll(consumer(), 1);

    // Assess
    expect(changed).toBe(true);
    expect(during).toStrictEqual([]);
    expect(after.map((m) => m.receiveCount)).toStrictEqual([2]);
  });

  it('clamps a retry delay beyond 12 hours to what SQS takes', async ({ expect }) => {
    // Prepare
    const { queue, consumer } = await setup();
    await queue.send([{ task: task() }]);
    const [message] = await receiveAll(consumer(), 1);

    // Act
    const changed = await consumer().retryLater(message!.receipt, 50_000);

    // Assess
    expect(changed).toBe(true);
    expect(await consumer().receive()).toStrictEqual([]);
  });

  it('reports a retry of a message no longer in flight as not applied', async ({ expect }) => {
    // Prepare
    const { queue, consumer } = await setup();
    await queue.send([{ task: task() }]);
    const [message] = await receiveAll(consumer(), 1);
    await consumer().ack([message!.receipt]);

    // Act
    const changed = await consumer().retryLater(message!.receipt, 5);

    // Assess
    expect(changed).toBe(false);
  });

  it('deletes 23 handled messages in three DeleteMessageBatch requests, and none comes back', async ({
    expect,
  }) => {
    // Prepare
    const { queue, consumer } = await setup({ visibilityTimeoutSeconds: 1 });
    await queue.send(Array.from({ length: 23 }, () => ({ task: task() })));
    const received = await receiveAll(consumer({ maxMessages: 10 }), 23);
    const client = sqs.newClient();
    const counter = countCommands(client);

    // Act
    const acked = await consumer({ client }).ack(received.map((m) => m.receipt));
    await sleep(1_200);

    // Assess
    expect(counter.count('DeleteMessageBatchCommand')).toBe(3);
    expect(counter.count('DeleteMessageCommand')).toBe(0);
    expect(acked.deleted).toHaveLength(23);
    expect(await consumer().receive()).toStrictEqual([]);
  });

  /** One injected answer for the second of three entries, per DeleteMessageBatch attempt. */
  type EntryAnswer = { Code: string; SenderFault: boolean } | 'ok';

  it.for<[string, EntryAnswer[], { requests: number; outcome: 'deleted' | 'stale' | 'throws' }]>([
    [
      'an entry that failed once on SQS’s side is tried again and deleted',
      [{ Code: 'InternalError', SenderFault: false }, 'ok'],
      { requests: 2, outcome: 'deleted' },
    ],
    [
      'an invalid receipt is reported stale, not tried again',
      [{ Code: 'ReceiptHandleIsInvalid', SenderFault: true }],
      { requests: 1, outcome: 'stale' },
    ],
    [
      'a sender fault is not tried again: the message is left to come back',
      [{ Code: 'InvalidParameterValue', SenderFault: true }],
      { requests: 1, outcome: 'throws' },
    ],
    [
      'an entry failing every attempt is given up after three: the message comes back',
      Array(3).fill({ Code: 'InternalError', SenderFault: false }),
      { requests: 3, outcome: 'throws' },
    ],
  ])('acks when DeleteMessageBatch answers that %s', async ([, answers, expected], { expect }) => {
    // Prepare: fauxqs reports every entry deleted, so the failed entry's answer is injected
    const { queue, queueUrl, consumer } = await setup({ visibilityTimeoutSeconds: 1 });
    await queue.send([{ task: task() }, { task: task() }, { task: task() }]);
    const received = await receiveAll(consumer(), 3);
    const target = received[1]!;
    const client = sqs.newClient();
    // Counted outside the interceptor: an attempt it answers alone is a request too.
    const counter = countCommands(client);
    intercept<DeleteMessageBatchCommandInput, DeleteMessageBatchCommandOutput>(
      client,
      'DeleteMessageBatchCommand',
      async ({ call, input, proceed }) => {
        const answer = answers[call] ?? 'ok';
        const entry = input.Entries!.find((e) => e.ReceiptHandle === target.receipt);
        if (answer === 'ok' || !entry) return proceed();
        const rest = input.Entries!.filter((e) => e !== entry);
        const output: Partial<DeleteMessageBatchCommandOutput> =
          rest.length > 0 ? await proceed({ ...input, Entries: rest }) : {};
        return {
          ...output,
          $metadata: {},
          Successful: output.Successful ?? [],
          Failed: [...(output.Failed ?? []), { Id: entry.Id, Message: 'injected', ...answer }],
        } as DeleteMessageBatchCommandOutput;
      },
    );
    const edge = new SqsTaskConsumer({ client, queueUrl, waitTimeSeconds: 0, retryBaseDelayMs: 1 });

    // Act
    const acked = edge.ack(received.map((m) => m.receipt));
    const settled = await acked.then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    await sleep(1_200);
    const back = await receiveAll(consumer(), 1, 1_000);

    // Assess
    expect(counter.count('DeleteMessageBatchCommand')).toBe(expected.requests);
    const others = [received[0]!.receipt, received[2]!.receipt];
    if (expected.outcome === 'throws') {
      const error = (settled as { error: unknown }).error;
      expect(error).toBeInstanceOf(TaskAckError);
      expect((error as TaskAckError).failedReceipts).toStrictEqual([target.receipt]);
      expect(back.map((m) => m.messageId)).toStrictEqual([target.messageId]);
    } else {
      const { result } = settled as { result: { deleted: string[]; stale: string[] } };
      expect(result.deleted.sort()).toStrictEqual(
        (expected.outcome === 'deleted' ? [...others, target.receipt] : others).sort(),
      );
      expect(result.stale).toStrictEqual(expected.outcome === 'stale' ? [target.receipt] : []);
      // fauxqs kept the stale one's message (it was never asked to delete it): it comes back.
      expect(back.map((m) => m.messageId)).toStrictEqual(
        expected.outcome === 'stale' ? [target.messageId] : [],
      );
    }
  });

  it('names every receipt of a batch whose whole request failed, with the cause', async ({
    expect,
  }) => {
    // Prepare
    const { queueUrl } = await setup();
    const client = sqs.newClient();
    const fault = new QueueDoesNotExist({
      message: 'The specified queue does not exist',
      $metadata: {},
    });
    intercept(client, 'DeleteMessageBatchCommand', async () => {
      throw fault;
    });
    const edge = new SqsTaskConsumer({ client, queueUrl });

    // Act
    const acked = edge.ack(['receipt-a', 'receipt-b']);

    // Assess
    await expect(acked).rejects.toBeInstanceOf(TaskAckError);
    await expect(acked).rejects.toMatchObject({
      failedReceipts: ['receipt-a', 'receipt-b'],
      cause: fault,
    });
  });

  it('acks nothing for no receipts, without a request', async ({ expect }) => {
    const { consumer } = await setup();
    const client = sqs.newClient();
    const counter = countCommands(client);
    expect(await consumer({ client }).ack([])).toStrictEqual({ deleted: [], stale: [] });
    expect(counter.count('DeleteMessageBatchCommand')).toBe(0);
  });

  it('ends an empty long poll with no messages', async ({ expect }) => {
    const { consumer } = await setup();
    const started = Date.now();
    expect(await consumer({ waitTimeSeconds: 1 }).receive()).toStrictEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('stops a long poll when aborted', async ({ expect }) => {
    // Prepare
    const { consumer } = await setup();
    const controller = new AbortController();
    const started = Date.now();

    // Act
    const receiving = consumer({ waitTimeSeconds: 20 }).receive(undefined, controller.signal);
    setTimeout(() => controller.abort(new Error('shutting down')), 100);

    // Assess
    await expect(receiving).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
