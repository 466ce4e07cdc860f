/**
 * The task queue on SQS (a standard queue: at-least-once delivery, so every task must be
 * idempotent, which the executors are). Bodies are exactly `encodeTask(task)`.
 *
 * Build the client with `retryMode: 'standard'` and an explicit `endpoint` for emulators: whole
 * requests that fail transiently are retried by the SDK; this adapter retries only the entries
 * a batch reports as failed. It never reads the environment.
 */
import {
  type BatchResultErrorEntry,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { cappedExponential } from '../../domain/backoff.ts';
import { TaskSendError } from '../../domain/errors.ts';
import { encodeTask, type OutgoingTask } from '../../domain/tasks.ts';
import { MAX_DELAY_SECONDS, type TaskQueue } from '../../ports/task-queue.ts';

/** Most entries in one SendMessageBatch call (an SQS limit). */
const BATCH_LIMIT = 10;
/** Longest reason kept on a dead letter; message attributes count toward the message size. */
const MAX_REASON_LENGTH = 1024;

/** How to reach the queues, and how hard to retry failed batch entries. */
export interface SqsTaskQueueOptions {
  /** A client built with `retryMode: 'standard'`. */
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** Sends of one task before it is given up (default 3); sender faults are never resent. */
  readonly maxAttempts?: number;
  /** Back-off before the second attempt, doubling after (default 100 ms, jittered). */
  readonly retryBaseDelayMs?: number;
}

interface Failure {
  readonly taskId: string;
  readonly why: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends tasks to the SQS task queue and dead letters to its DLQ. */
export class SqsTaskQueue implements TaskQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly deadLetterQueueUrl: string;
  private readonly maxAttempts: number;
  private readonly retryBaseDelayMs: number;

  constructor(options: SqsTaskQueueOptions) {
    this.client = options.client;
    this.queueUrl = options.queueUrl;
    this.deadLetterQueueUrl = options.deadLetterQueueUrl;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 100;
  }

  async send(tasks: readonly OutgoingTask[]): Promise<void> {
    const failures: Failure[] = [];
    let cause: unknown;
    const entries: Array<{ entry: SendMessageBatchRequestEntry; taskId: string }> = [];
    tasks.forEach(({ task, delaySeconds }, index) => {
      if (
        delaySeconds !== undefined &&
        !(Number.isInteger(delaySeconds) && delaySeconds >= 0 && delaySeconds <= MAX_DELAY_SECONDS)
      ) {
        failures.push({
          taskId: task.taskId,
          why: `delaySeconds ${delaySeconds} is not an integer from 0 to ${MAX_DELAY_SECONDS}`,
        });
        return;
      }
      entries.push({
        taskId: task.taskId,
        entry: {
          // Entry ids only need to be unique within a batch; the index also finds the task back.
          Id: `t${index}`,
          MessageBody: encodeTask(task),
          ...(delaySeconds !== undefined ? { DelaySeconds: delaySeconds } : {}),
        },
      });
    });
    for (let start = 0; start < entries.length; start += BATCH_LIMIT) {
      const outcome = await this.sendBatch(entries.slice(start, start + BATCH_LIMIT));
      failures.push(...outcome.failures);
      cause ??= outcome.cause;
    }
    if (failures.length > 0) {
      const shown = failures.slice(0, 5).map((f) => `${f.taskId} (${f.why})`);
      throw new TaskSendError(
        failures.map((f) => f.taskId),
        `${failures.length} of ${tasks.length} task(s) could not be sent: ${shown.join('; ')}${failures.length > shown.length ? '; ...' : ''}`,
        cause === undefined ? undefined : { cause },
      );
    }
  }

  async deadLetter(body: string, reason: string, receiveCount?: number): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.deadLetterQueueUrl,
        MessageBody: body,
        MessageAttributes: {
          // SQS refuses an empty attribute value.
          reason: {
            DataType: 'String',
            StringValue: reason.slice(0, MAX_REASON_LENGTH) || 'unspecified',
          },
          ...(receiveCount !== undefined && Number.isInteger(receiveCount) && receiveCount > 0
            ? { receiveCount: { DataType: 'Number', StringValue: String(receiveCount) } }
            : {}),
        },
      }),
    );
  }

  /**
   * Sends up to ten entries, resending those the batch reports failed for a reason that may pass
   * (not a sender fault), with back-off, up to the attempt limit.
   */
  private async sendBatch(
    batch: ReadonlyArray<{ entry: SendMessageBatchRequestEntry; taskId: string }>,
  ): Promise<{ failures: Failure[]; cause?: unknown }> {
    const failures: Failure[] = [];
    let pending = [...batch];
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 1) {
        await sleep(
          cappedExponential(this.retryBaseDelayMs, attempt - 2, 20_000) * (0.5 + Math.random() / 2),
        );
      }
      let failed: BatchResultErrorEntry[];
      try {
        const response = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: pending.map((p) => p.entry),
          }),
        );
        failed = response.Failed ?? [];
      } catch (error) {
        // The whole request failed after the SDK's own retries: none of these was accepted.
        const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        failures.push(...pending.map((p) => ({ taskId: p.taskId, why })));
        return { failures, cause: error };
      }
      const retry: typeof pending = [];
      for (const f of failed) {
        const p = pending.find((x) => x.entry.Id === f.Id);
        if (!p) continue;
        const why = `${f.Code ?? 'failed'}: ${f.Message ?? ''}`.trim();
        if (f.SenderFault || attempt >= this.maxAttempts) failures.push({ taskId: p.taskId, why });
        else retry.push(p);
      }
      pending = retry;
    }
    return { failures };
  }
}
