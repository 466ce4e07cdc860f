/**
 * Lambda's SQS event source, as the deployed mapping describes it: receive up to `BatchSize`
 * messages (waiting up to the batching window), invoke the function with an `SQSEvent`, then
 * delete what succeeded. With `ReportBatchItemFailures` only the listed items stay; a function
 * error, or a response that names no valid item, keeps the whole batch. What stays comes back
 * when its visibility times out (or as the function changed it), and SQS's redrive policy moves
 * it to the DLQ after `maxReceiveCount` receives. Used instead of moto's own mapping, which
 * ignores `batchItemFailures`.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { ExecutionEnvironment, InvokeResult } from './lambda-runtime.ts';

/** The parts of an event source mapping the poller follows (as GetEventSourceMapping reports). */
export interface MappingSettings {
  readonly BatchSize: number;
  readonly MaximumBatchingWindowInSeconds?: number;
  readonly FunctionResponseTypes?: readonly string[];
  readonly EventSourceArn: string;
}

/** One batch handed to the function. */
export interface Delivery {
  readonly messageIds: readonly string[];
  readonly result: InvokeResult;
  /** Message ids that stayed on the queue. */
  readonly kept: readonly string[];
}

/** Follows one mapping into one execution environment. */
export class EventSourcePoller {
  /** Every delivery, in order. */
  readonly deliveries: Delivery[] = [];
  /** How many times each message was handed to the function. */
  readonly receives = new Map<string, number>();
  private readonly sqs: SQSClient;
  private readonly queueUrl: string;
  private readonly mapping: MappingSettings;
  private readonly environment: ExecutionEnvironment;
  private readonly region: string;

  constructor(options: {
    sqs: SQSClient;
    queueUrl: string;
    mapping: MappingSettings;
    environment: ExecutionEnvironment;
    region: string;
  }) {
    this.sqs = options.sqs;
    this.queueUrl = options.queueUrl;
    this.mapping = options.mapping;
    this.environment = options.environment;
    this.region = options.region;
  }

  /** Receives one batch (long-polling up to `waitSeconds`) and runs it; the number of messages. */
  async pollOnce(waitSeconds = 1): Promise<number> {
    const messages = await this.receiveBatch(waitSeconds);
    if (messages.length === 0) return 0;
    const event: SQSEvent = { Records: messages.map((m) => this.record(m)) };
    const result = await this.environment.invoke(event);
    const ids = messages.map((m) => m.MessageId!);
    const kept = new Set(this.failedItems(result, ids));
    const done = messages.filter((m) => !kept.has(m.MessageId!));
    for (let i = 0; i < done.length; i += 10) {
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: done.slice(i, i + 10).map((m, j) => ({
            Id: String(j),
            ReceiptHandle: m.ReceiptHandle!,
          })),
        }),
      );
    }
    for (const id of ids) this.receives.set(id, (this.receives.get(id) ?? 0) + 1);
    this.deliveries.push({ messageIds: ids, result, kept: [...kept] });
    return messages.length;
  }

  /** Polls until `quietPolls` polls in a row find nothing, or `until()` holds. */
  async drain(options: { quietPolls?: number; until?: () => boolean; maxPolls?: number } = {}) {
    const quietPolls = options.quietPolls ?? 2;
    let quiet = 0;
    for (let n = 0; n < (options.maxPolls ?? 500); n++) {
      if (options.until?.()) return;
      const got = await this.pollOnce(1);
      quiet = got === 0 ? quiet + 1 : 0;
      if (!options.until && quiet >= quietPolls) return;
    }
    if (options.until && !options.until()) throw new Error('the queue did not reach the state');
  }

  private async receiveBatch(waitSeconds: number): Promise<Message[]> {
    const max = this.mapping.BatchSize;
    const windowMs = (this.mapping.MaximumBatchingWindowInSeconds ?? 0) * 1000;
    const started = Date.now();
    const batch: Message[] = [];
    do {
      const { Messages } = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: Math.min(10, max - batch.length),
          WaitTimeSeconds: batch.length === 0 ? waitSeconds : 0,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      batch.push(...(Messages ?? []));
      if (!Messages?.length) break;
    } while (batch.length < max && Date.now() - started < windowMs);
    return batch;
  }

  private record(m: Message): SQSRecord {
    const a = m.Attributes ?? {};
    return {
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
        SentTimestamp: a.SentTimestamp ?? String(Date.now()),
        SenderId: a.SenderId ?? 'AIDAEXAMPLE',
        ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.mapping.EventSourceArn,
      awsRegion: this.region,
    };
  }

  /** The message ids that stay on the queue after an invocation, as Lambda decides them. */
  private failedItems(result: InvokeResult, ids: readonly string[]): string[] {
    if (result.functionError) return [...ids];
    if (!this.mapping.FunctionResponseTypes?.includes('ReportBatchItemFailures')) return [];
    const response = result.payload as Partial<SQSBatchResponse> | null;
    const failures = response?.batchItemFailures;
    if (failures === undefined || failures === null) return [];
    if (!Array.isArray(failures)) return [...ids];
    const named = failures.map((f) => f?.itemIdentifier);
    // An empty, missing or unknown identifier fails the whole batch, as Lambda does.
    if (named.some((id) => typeof id !== 'string' || !ids.includes(id))) return [...ids];
    return named as string[];
  }
}
