/**
 * In-memory task queue with SQS's delivery semantics that matter here: delays, a visibility
 * timeout with redelivery, receive counts, redrive to a DLQ after `maxReceiveCount`, and
 * optional duplicate delivery (standard queues deliver at least once). For tests only.
 */
import type { DeadLetterMessage } from '../../domain/dead-letters.ts';
import { TaskSendError, UnknownDeadLetterError } from '../../domain/errors.ts';
import { encodeTask, type OutgoingTask } from '../../domain/tasks.ts';
import type { Clock } from '../../ports/clock.ts';
import {
  type DeadLetterQueue,
  MAX_DELAY_SECONDS,
  type MessageSource,
  type ReceivedMessage,
  type RedriveResult,
  type TaskQueue,
} from '../../ports/task-queue.ts';

interface StoredMessage {
  readonly messageId: string;
  readonly body: string;
  visibleAt: number;
  receiveCount: number;
  /** Only the latest delivery's receipt settles the message. */
  receipt?: string;
}

/** A message in the dead-letter queue, with why it is there. */
export interface DeadLetter {
  readonly body: string;
  readonly reason: string;
}

/** A received message and the receipt to settle it with. */
export type Received = ReceivedMessage;

/** Options of the in-memory queue. */
export interface MemoryQueueOptions {
  readonly visibilityTimeoutSeconds?: number;
  /** Deliveries before a message is moved to the DLQ (SQS redrive policy). */
  readonly maxReceiveCount?: number;
  /** Probability that a sent message is enqueued twice. */
  readonly duplicateRate?: number;
  readonly random?: () => number;
}

/** An SQS-like queue in process memory. */
export class MemoryTaskQueue implements TaskQueue {
  private messages: StoredMessage[] = [];
  private readonly inFlight = new Map<string, StoredMessage>();
  /** The dead-letter queue, oldest first. */
  private readonly dlq: DeadLetterMessage[] = [];
  /** Every task ever sent, in order, with its delay (duplicates made by the queue excluded). */
  readonly sent: Array<{ readonly body: string; readonly delaySeconds: number }> = [];
  private nextId = 1;
  private readonly options: Required<MemoryQueueOptions>;
  private readonly clock: Clock;

  constructor(clock: Clock, options: MemoryQueueOptions = {}) {
    this.clock = clock;
    this.options = {
      visibilityTimeoutSeconds: 30,
      maxReceiveCount: 1_000,
      duplicateRate: 0,
      random: Math.random,
      ...options,
    };
  }

  async send(tasks: readonly OutgoingTask[]): Promise<void> {
    // SQS refuses such delays; so does this queue, so that tests meet the same limits.
    const refused = tasks.filter(
      ({ delaySeconds: d = 0 }) => !Number.isInteger(d) || d < 0 || d > MAX_DELAY_SECONDS,
    );
    if (refused.length > 0) {
      throw new TaskSendError(
        refused.map((t) => t.task.taskId),
        `delaySeconds must be a whole number from 0 to ${MAX_DELAY_SECONDS}`,
      );
    }
    for (const { task, delaySeconds } of tasks) {
      const body = encodeTask(task);
      this.sent.push({ body, delaySeconds: delaySeconds ?? 0 });
      const copies = this.options.random() < this.options.duplicateRate ? 2 : 1;
      for (let i = 0; i < copies; i++) this.sendRaw(body, delaySeconds ?? 0);
    }
  }

  /** Enqueues a raw body (a malformed message in tests, for instance). */
  sendRaw(body: string, delaySeconds = 0): void {
    this.messages.push({
      messageId: `m-${this.nextId++}`,
      body,
      visibleAt: this.clock.now() + delaySeconds * 1000,
      receiveCount: 0,
    });
  }

  async deadLetter(body: string, reason: string, receiveCount?: number): Promise<void> {
    this.dlq.push({
      messageId: `m-${this.nextId++}`,
      body,
      reason,
      receiveCount: receiveCount ?? 0,
      sentAt: this.clock.now(),
    });
  }

  /** The dead letters so far, with why each is there. */
  get deadLetters(): DeadLetter[] {
    return this.dlq.map((d) => ({ body: d.body, reason: d.reason ?? 'maxReceiveCount exceeded' }));
  }

  /** This queue's DLQ as the operator's port. */
  deadLetterQueue(): DeadLetterQueue {
    return {
      depths: async () => ({ queue: this.messages.length, deadLetter: this.dlq.length }),
      list: async (max = 1_000) => this.dlq.slice(0, max),
      redrive: async (ids) => this.redrive(ids),
    };
  }

  private redrive(ids: readonly string[] | 'all'): RedriveResult[] {
    const chosen =
      ids === 'all' ? [...this.dlq] : this.dlq.filter((d) => ids.includes(d.messageId));
    if (ids !== 'all') {
      const missing = ids.filter((id) => !chosen.some((d) => d.messageId === id));
      if (missing.length > 0) throw new UnknownDeadLetterError(missing);
    }
    return chosen.map((d) => {
      this.sendRaw(d.body);
      this.dlq.splice(this.dlq.indexOf(d), 1);
      return { messageId: d.messageId, result: 'redriven' };
    });
  }

  /** Receives up to `max` visible messages, oldest-visible first, hiding them for the timeout. */
  receive(max = 10): Received[] {
    const now = this.clock.now();
    const out: Received[] = [];
    for (const m of [...this.messages].sort((a, b) => a.visibleAt - b.visibleAt)) {
      if (out.length >= max || m.visibleAt > now) continue;
      if (m.receiveCount >= this.options.maxReceiveCount) {
        this.remove(m);
        // As SQS's redrive policy: the message moves with its id, and no reason attribute.
        this.dlq.push({
          messageId: m.messageId,
          body: m.body,
          receiveCount: m.receiveCount,
          sentAt: this.clock.now(),
        });
        continue;
      }
      m.receiveCount += 1;
      m.visibleAt = now + this.options.visibilityTimeoutSeconds * 1000;
      const receipt = `${m.messageId}#${m.receiveCount}`;
      if (m.receipt) this.inFlight.delete(m.receipt);
      m.receipt = receipt;
      this.inFlight.set(receipt, m);
      out.push({ messageId: m.messageId, body: m.body, receiveCount: m.receiveCount, receipt });
    }
    return out;
  }

  /** Deletes a received message; a stale receipt (redelivered since) is ignored, as in SQS. */
  ack(receipt: string): void {
    const m = this.inFlight.get(receipt);
    this.inFlight.delete(receipt);
    if (m) this.remove(m);
  }

  /** Makes a received message visible again after `delaySeconds`. */
  retryLater(receipt: string, delaySeconds: number): void {
    const m = this.inFlight.get(receipt);
    this.inFlight.delete(receipt);
    if (m) m.visibleAt = this.clock.now() + delaySeconds * 1000;
  }

  /** Messages waiting or in flight. */
  depth(): number {
    return this.messages.length;
  }

  /** When the next message becomes visible, or `undefined` when the queue is empty. */
  nextVisibleAt(): number | undefined {
    return this.messages.length === 0
      ? undefined
      : Math.min(...this.messages.map((m) => m.visibleAt));
  }

  private remove(m: StoredMessage): void {
    this.messages = this.messages.filter((x) => x !== m);
  }
}

/** The in-memory queue as a poller's message source. */
export function memorySource(queue: MemoryTaskQueue): MessageSource {
  return {
    receive: async (max) => queue.receive(max),
    ack: async (receipts) => {
      for (const receipt of receipts) queue.ack(receipt);
    },
    retryLater: async (receipt, delay) => queue.retryLater(receipt, delay),
  };
}
