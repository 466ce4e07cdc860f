/**
 * The task queue as a poller's message source, for local runs (deployed, the Lambda event source
 * does this): long-poll receive, delete, and change visibility for a retry; `consumeBatch`
 * settles each message by its disposition. SQS delivers at least
 * once, so a message may arrive twice, and any message not settled before its visibility
 * timeout comes back with a higher receive count until the redrive policy moves it to the DLQ.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  MessageNotInflight,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { MessageSource, ReceivedMessage } from '../../ports/task-queue.ts';

/** The longest visibility timeout SQS accepts, in seconds (12 hours). */
export const MAX_VISIBILITY_SECONDS = 43_200;

/** A received message and the receipt that settles it. */
export type ReceivedTask = ReceivedMessage;

/** How to reach the queue and how to poll it. */
export interface SqsTaskConsumerOptions {
  /** A client built with `retryMode: 'standard'`. */
  readonly client: SQSClient;
  readonly queueUrl: string;
  /** Long-poll wait, 0 to 20 seconds (default 20). */
  readonly waitTimeSeconds?: number;
  /** Messages per receive, 1 to 10 (default 10). */
  readonly maxMessages?: number;
  /** Visibility timeout of received messages; the queue's own when unset. */
  readonly visibilityTimeoutSeconds?: number;
}

function clampSeconds(seconds: number): number {
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(seconds)));
}

/** Receives task messages from SQS and settles them. */
export class SqsTaskConsumer implements MessageSource {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly waitTimeSeconds: number;
  private readonly maxMessages: number;
  private readonly visibilityTimeoutSeconds: number | undefined;

  constructor(options: SqsTaskConsumerOptions) {
    this.client = options.client;
    this.queueUrl = options.queueUrl;
    this.waitTimeSeconds = options.waitTimeSeconds ?? 20;
    this.maxMessages = options.maxMessages ?? 10;
    this.visibilityTimeoutSeconds = options.visibilityTimeoutSeconds;
  }

  /**
   * Waits up to the long-poll time for messages; resolves with none when the wait ends empty.
   * @throws the abort reason when `signal` aborts the wait.
   */
  async receive(max = this.maxMessages, signal?: AbortSignal): Promise<ReceivedTask[]> {
    const { Messages } = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        WaitTimeSeconds: this.waitTimeSeconds,
        MaxNumberOfMessages: Math.min(10, Math.max(1, max)),
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        ...(this.visibilityTimeoutSeconds !== undefined
          ? { VisibilityTimeout: this.visibilityTimeoutSeconds }
          : {}),
      }),
      signal ? { abortSignal: signal } : {},
    );
    return (Messages ?? []).map((m) => ({
      messageId: m.MessageId ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
      receipt: m.ReceiptHandle ?? '',
    }));
  }

  /**
   * Deletes a handled message. @returns false when the receipt is no longer valid (the message
   * timed out and went back to the queue): the work may run again, which tasks tolerate.
   */
  async ack(receipt: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receipt }),
      );
      return true;
    } catch (error) {
      if (error instanceof ReceiptHandleIsInvalid) return false;
      throw error;
    }
  }

  /**
   * Makes a received message visible again after `delaySeconds` (clamped to SQS's 0 s–12 h).
   * Its receive count grows on the next delivery, so the redrive policy still bounds retries.
   * @returns false when the message is no longer in flight (already redelivered or deleted).
   */
  async retryLater(receipt: string, delaySeconds: number): Promise<boolean> {
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.queueUrl,
          ReceiptHandle: receipt,
          VisibilityTimeout: clampSeconds(delaySeconds),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof MessageNotInflight || error instanceof ReceiptHandleIsInvalid) {
        return false;
      }
      throw error;
    }
  }
}
