/**
 * What an operator needs to know about a dead-lettered message: which task, which amphora, why
 * (the error class), how often it was delivered and how long it has waited. Pure.
 */
import { decodeTask } from './tasks.ts';

/** A message in the dead-letter queue, as the adapter read it (left in place). */
export interface DeadLetterMessage {
  readonly messageId: string;
  readonly body: string;
  /** The reason the executor attached; `undefined` when the queue's redrive policy moved it. */
  readonly reason?: string;
  /** Deliveries before it was dead-lettered (approximate when the redrive policy moved it). */
  readonly receiveCount: number;
  /** When it was sent to the queue it is in (epoch ms). */
  readonly sentAt: number;
}

/** One dead letter as `housekeeper dlq list` shows it (and prints it as JSON, in this order). */
export interface DeadLetterView {
  readonly messageId: string;
  /** The task's type, or `-` when the body is not a task. */
  readonly taskType: string;
  readonly amphoraId?: string;
  /**
   * The error class: the executor's reason up to its first `:` (`Unavailable`, `Unexpected`...),
   * `Malformed` for a body that is not a task, `maxReceiveCount` when the redrive policy moved it.
   */
  readonly errorClass: string;
  /** The whole reason the executor attached, when it attached one. */
  readonly reason?: string;
  readonly receiveCount: number;
  /** When it reached the queue, ISO 8601. */
  readonly sentAt: string;
  readonly ageSeconds: number;
}

/** A reason that starts with an error class and a colon (`Unavailable: ...`). */
const CLASS_PREFIX = /^([A-Z][A-Za-z]*): /;

/** Describes a dead letter at time `now` (epoch ms). */
export function viewDeadLetter(message: DeadLetterMessage, now: number): DeadLetterView {
  let taskType = '-';
  let amphoraId: string | undefined;
  let malformed = false;
  try {
    const task = decodeTask(message.body);
    taskType = task.type;
    if ('amphoraId' in task) amphoraId = task.amphoraId;
  } catch {
    malformed = true;
  }
  const errorClass =
    message.reason === undefined
      ? 'maxReceiveCount'
      : malformed
        ? 'Malformed'
        : (CLASS_PREFIX.exec(message.reason)?.[1] ?? 'unspecified');
  return {
    messageId: message.messageId,
    taskType,
    ...(amphoraId !== undefined ? { amphoraId } : {}),
    errorClass,
    ...(message.reason !== undefined ? { reason: message.reason } : {}),
    receiveCount: message.receiveCount,
    sentAt: new Date(message.sentAt).toISOString(),
    ageSeconds: Math.max(0, Math.floor((now - message.sentAt) / 1000)),
  };
}
