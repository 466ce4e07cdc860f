/**
 * The task queue as a poller's message source, for local runs (deployed, the Lambda event source
 * does this): long-poll receive, batched delete, and change visibility for a retry;
 * `consumeBatch` settles each message by its disposition. SQS delivers at least
 * once, so a message may arrive twice, and any message not settled before its visibility
 * timeout comes back with a higher receive count until the redrive policy moves it to the DLQ.
 */
import {
  type BatchResultErrorEntry,
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  MessageNotInflight,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { cappedExponential } from '../../domain/backoff.ts';
import { TaskAckError } from '../../domain/errors.ts';
import type { MessageSource, ReceivedMessage } from '../../ports/task-queue.ts';

/** Most entries in one DeleteMessageBatch call (an SQS limit). */
const BATCH_LIMIT = 10;

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
  /** Delete attempts of one message before it is left to come back (default 3). */
  readonly maxAckAttempts?: number;
  /** Back-off before the second delete attempt, doubling after (default 100 ms, jittered). */
  readonly retryBaseDelayMs?: number;
}

/** What became of the receipts handed to {@link SqsTaskConsumer.ack}. */
export interface AckResult {
  /** Receipts whose messages SQS deleted. */
  readonly deleted: readonly string[];
  /**
   * Receipts no longer valid: the message timed out and went back to the queue, or was deleted
   * already. Its work may run again, which tasks tolerate.
   */
  readonly stale: readonly string[];
}

interface AckFailure {
  readonly receipt: string;
  readonly why: string;
}

/** An entry's answer that says the receipt is no longer valid, not that the delete failed. */
function isStale(entry: BatchResultErrorEntry): boolean {
  const code = entry.Code ?? '';
  return code.endsWith('ReceiptHandleIsInvalid') || code.endsWith('MessageNotInflight');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
  private readonly maxAckAttempts: number;
  private readonly retryBaseDelayMs: number;

  constructor(options: SqsTaskConsumerOptions) {
    this.client = options.client;
    this.queueUrl = options.queueUrl;
    this.waitTimeSeconds = options.waitTimeSeconds ?? 20;
    this.maxMessages = options.maxMessages ?? 10;
    this.visibilityTimeoutSeconds = options.visibilityTimeoutSeconds;
    this.maxAckAttempts = Math.max(1, options.maxAckAttempts ?? 3);
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 100;
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
   * Deletes handled messages, ten per DeleteMessageBatch. An entry that fails for a reason that
   * may pass (not a sender fault) is tried again, with back-off, up to the attempt limit; a
   * receipt no longer valid is reported stale, not failed.
   * @throws TaskAckError naming the receipts still not deleted, after every batch was tried:
   * those messages come back after their visibility timeout and run again, never lost.
   */
  async ack(receipts: readonly string[]): Promise<AckResult> {
    const unique = [...new Set(receipts)];
    const deleted: string[] = [];
    const stale: string[] = [];
    const failures: AckFailure[] = [];
    let cause: unknown;
    for (let start = 0; start < unique.length; start += BATCH_LIMIT) {
      const outcome = await this.deleteBatch(unique.slice(start, start + BATCH_LIMIT));
      deleted.push(...outcome.deleted);
      stale.push(...outcome.stale);
      failures.push(...outcome.failures);
      cause ??= outcome.cause;
    }
    if (failures.length > 0) {
      const shown = failures.slice(0, 3).map((f) => f.why);
      throw new TaskAckError(
        failures.map((f) => f.receipt),
        `${failures.length} of ${unique.length} message(s) could not be deleted and will be delivered again: ${shown.join('; ')}${failures.length > shown.length ? '; ...' : ''}`,
        cause === undefined ? undefined : { cause },
      );
    }
    return { deleted, stale };
  }

  /** Deletes up to ten messages, trying again the entries that failed for a passing reason. */
  private async deleteBatch(
    batch: readonly string[],
  ): Promise<{ deleted: string[]; stale: string[]; failures: AckFailure[]; cause?: unknown }> {
    const deleted: string[] = [];
    const stale: string[] = [];
    const failures: AckFailure[] = [];
    // Entry ids only need to be unique within a batch; the index finds the receipt back.
    let pending = batch.map((receipt, i) => ({ id: `m${i}`, receipt }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 1) {
        await sleep(
          cappedExponential(this.retryBaseDelayMs, attempt - 2, 20_000) * (0.5 + Math.random() / 2),
        );
      }
      let answer: { Successful?: Array<{ Id?: string }>; Failed?: BatchResultErrorEntry[] };
      try {
        answer = await this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: pending.map((p) => ({ Id: p.id, ReceiptHandle: p.receipt })),
          }),
        );
      } catch (error) {
        // The whole request failed after the SDK's own retries: none of these was deleted.
        const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        failures.push(...pending.map((p) => ({ receipt: p.receipt, why })));
        return { deleted, stale, failures, cause: error };
      }
      const succeeded = new Set((answer.Successful ?? []).map((e) => e.Id));
      const failed = new Map((answer.Failed ?? []).map((e) => [e.Id, e]));
      const retry: typeof pending = [];
      for (const p of pending) {
        if (succeeded.has(p.id)) {
          deleted.push(p.receipt);
          continue;
        }
        const f = failed.get(p.id);
        if (f && isStale(f)) {
          stale.push(p.receipt);
          continue;
        }
        // An entry in neither list was not confirmed: treated as failed, so tried again.
        const why = f
          ? `${f.Code ?? 'failed'}: ${f.Message ?? ''}`.trim()
          : 'no answer for the entry';
        if (f?.SenderFault || attempt >= this.maxAckAttempts)
          failures.push({ receipt: p.receipt, why });
        else retry.push(p);
      }
      pending = retry;
    }
    return { deleted, stale, failures };
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
