import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryTaskQueue } from '../../lib/adapters/memory/memory-task-queue.ts';
import { TaskSendError } from '../../lib/domain/errors.ts';
import { TASK_SCHEMA_VERSION, type Task } from '../../lib/domain/tasks.ts';

const sweep = (taskId: string): Task => ({
  v: TASK_SCHEMA_VERSION,
  type: 'SWEEP',
  taskId,
  issuedAt: 0,
});

describe('the in-memory task queue keeps the SQS semantics tests rely on', () => {
  it.each([-1, 1.5, 901])(
    'refuses a delay of %s seconds, as SQS does, sending nothing',
    async (delaySeconds) => {
      const q = new MemoryTaskQueue(new ManualClock());
      await expect(
        q.send([{ task: sweep('ok') }, { task: sweep('bad'), delaySeconds }]),
      ).rejects.toEqual(
        new TaskSendError(['bad'], 'delaySeconds must be a whole number from 0 to 900'),
      );
      expect(q.depth()).toBe(0);
    },
  );

  it('delivers a delayed message only once its delay has passed', async () => {
    const clock = new ManualClock();
    const q = new MemoryTaskQueue(clock);
    await q.send([{ task: sweep('t'), delaySeconds: 10 }]);
    expect(q.receive()).toEqual([]);
    clock.advance(10_000);
    expect(q.receive().map((m) => m.receiveCount)).toEqual([1]);
  });

  it('redelivers an unsettled message after the visibility timeout, counting receives', async () => {
    const clock = new ManualClock();
    const q = new MemoryTaskQueue(clock, { visibilityTimeoutSeconds: 30 });
    await q.send([{ task: sweep('t') }]);
    q.receive();
    clock.advance(29_000);
    expect(q.receive()).toEqual([]);
    clock.advance(1_000);
    expect(q.receive().map((m) => m.receiveCount)).toEqual([2]);
  });

  it('moves a message to the dead-letter queue after maxReceiveCount deliveries', async () => {
    const clock = new ManualClock();
    const q = new MemoryTaskQueue(clock, { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 });
    await q.send([{ task: sweep('t') }]);
    for (let i = 0; i < 3; i++) {
      q.receive();
      clock.advance(1_000);
    }
    expect(q.deadLetters).toEqual([
      { body: JSON.stringify(sweep('t')), reason: 'maxReceiveCount exceeded' },
    ]);
    expect(q.depth()).toBe(0);
  });

  it('ignores a stale receipt, as SQS does after a redelivery', async () => {
    const clock = new ManualClock();
    const q = new MemoryTaskQueue(clock, { visibilityTimeoutSeconds: 1 });
    await q.send([{ task: sweep('t') }]);
    const [first] = q.receive();
    clock.advance(1_000);
    const [second] = q.receive();
    q.ack(first!.receipt);
    expect(q.depth()).toBe(1);
    q.ack(second!.receipt);
    expect(q.depth()).toBe(0);
  });
});
