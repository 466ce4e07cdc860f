/**
 * The task queue: the planner and executors send tasks; the consuming edge (the Lambda event
 * source, or the local poller) delivers them to `executeMessage` and applies its disposition.
 */
import type { DeadLetterMessage } from '../domain/dead-letters.ts';
import type { OutgoingTask } from '../domain/tasks.ts';

export type { DeadLetterMessage };

/** The longest delivery delay SQS allows. */
export const MAX_DELAY_SECONDS = 900;

/** The sending side of the task queue. */
export interface TaskQueue {
  /**
   * Sends tasks (the adapter batches them). Resolves only when every task was accepted. A
   * delay is a whole number of seconds from 0 to {@link MAX_DELAY_SECONDS} (SQS's limit).
   * @throws TaskSendError listing the tasks that could not be sent.
   */
  send(tasks: readonly OutgoingTask[]): Promise<void>;
  /**
   * Moves a message body straight to the dead-letter queue, with the reason (and the deliveries
   * it had, when known) as attributes.
   */
  deadLetter(body: string, reason: string, receiveCount?: number): Promise<void>;
}

/** What became of one message that was asked to be redriven. */
export interface RedriveResult {
  readonly messageId: string;
  /** `redriven`: sent to the task queue, then deleted from the DLQ; `failed`: left in the DLQ. */
  readonly result: 'redriven' | 'failed';
  readonly error?: string;
}

/** The operator's view of the dead-letter queue: read it, count it, send messages back. */
export interface DeadLetterQueue {
  /** ApproximateNumberOfMessages of the task queue and of the DLQ. */
  depths(): Promise<{ readonly queue: number; readonly deadLetter: number }>;
  /** Up to `max` messages of the DLQ, oldest first, leaving every one of them in the DLQ. */
  list(max?: number): Promise<DeadLetterMessage[]>;
  /**
   * Sends the messages back to the task queue, each deleted from the DLQ only after its send
   * succeeded. @throws UnknownDeadLetterError, redriving nothing, when an id is not in the DLQ.
   */
  redrive(messageIds: readonly string[] | 'all'): Promise<RedriveResult[]>;
}

/** A delivered message, as the executor sees it. */
export interface IncomingMessage {
  readonly messageId: string;
  readonly body: string;
  /** 1 on first delivery; SQS's ApproximateReceiveCount. */
  readonly receiveCount: number;
}

/** What the consuming edge must do with a message after the executor handled it. */
export type Disposition =
  /** Delete it: done, or stale, or recorded as failed. */
  | { readonly kind: 'ack' }
  /** Leave it for redelivery after `delaySeconds` (SQS: change its visibility). */
  | { readonly kind: 'retry'; readonly delaySeconds: number; readonly reason: string }
  /** Move it to the dead-letter queue now, then delete it. */
  | { readonly kind: 'dead-letter'; readonly reason: string };

/** A received message with the receipt that settles it. */
export interface ReceivedMessage extends IncomingMessage {
  readonly receipt: string;
}

/** Where a poller (local runs, tests) gets messages from and settles them. */
export interface MessageSource {
  /** Up to `max` messages (a long poll may wait for them); rejects if `signal` aborts. */
  receive(max: number, signal?: AbortSignal): Promise<ReceivedMessage[]>;
  /**
   * Deletes handled messages (the adapter batches them); a receipt no longer valid is ignored
   * (the work may rerun). Rejects when some could not be deleted: those come back, never lost.
   */
  ack(receipts: readonly string[]): Promise<unknown>;
  /** Makes the message visible again after `delaySeconds` (SQS: ChangeMessageVisibility). */
  retryLater(receipt: string, delaySeconds: number): Promise<unknown>;
}
