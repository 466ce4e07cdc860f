/**
 * The operator's view of the SQS dead-letter queue. SQS has no way to read a message without
 * receiving it, so reading receives the DLQ's messages with a short visibility timeout (`holdSeconds`)
 * and then releases every one (ChangeMessageVisibility 0): the DLQ stays intact, though each read
 * adds one to the messages' ApproximateReceiveCount (which is why the executor's own count of
 * deliveries travels as the `receiveCount` attribute). A read that dies half-way leaves the
 * messages hidden for `holdSeconds` at most, never deleted.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DeadLetterMessage } from '../../domain/dead-letters.ts';
import { UnknownDeadLetterError } from '../../domain/errors.ts';
import type { DeadLetterQueue, RedriveResult } from '../../ports/task-queue.ts';

/** Most messages one ReceiveMessage or batch call takes (an SQS limit). */
const BATCH_LIMIT = 10;

/** How to reach the task queue and its DLQ. */
export interface SqsDeadLetterQueueOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  /** How long a read hides the DLQ's messages before releasing them (default 30 s). */
  readonly holdSeconds?: number;
  /** The long poll of each receive, so that an empty answer means an empty queue (default 1 s). */
  readonly waitTimeSeconds?: number;
}

/** Reads, counts and redrives the DLQ of an SQS task queue. */
export class SqsDeadLetterQueue implements DeadLetterQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly deadLetterQueueUrl: string;
  private readonly holdSeconds: number;
  private readonly waitTimeSeconds: number;

  constructor(options: SqsDeadLetterQueueOptions) {
    this.client = options.client;
    this.queueUrl = options.queueUrl;
    this.deadLetterQueueUrl = options.deadLetterQueueUrl;
    this.holdSeconds = options.holdSeconds ?? 30;
    this.waitTimeSeconds = options.waitTimeSeconds ?? 1;
  }

  async depths(): Promise<{ queue: number; deadLetter: number }> {
    const [queue, deadLetter] = await Promise.all(
      [this.queueUrl, this.deadLetterQueueUrl].map(async (url) => {
        const { Attributes } = await this.client.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: ['ApproximateNumberOfMessages'],
          }),
        );
        return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
      }),
    );
    return { queue: queue!, deadLetter: deadLetter! };
  }

  async list(max = 1_000): Promise<DeadLetterMessage[]> {
    const held = await this.hold(max);
    await this.release(held);
    return held.map(view).sort((a, b) => a.sentAt - b.sentAt);
  }

  async redrive(messageIds: readonly string[] | 'all'): Promise<RedriveResult[]> {
    const held = await this.hold(Number.POSITIVE_INFINITY);
    const deleted = new Set<Message>();
    try {
      const chosen =
        messageIds === 'all' ? held : held.filter((m) => messageIds.includes(m.MessageId!));
      if (messageIds !== 'all') {
        const missing = messageIds.filter((id) => !chosen.some((m) => m.MessageId === id));
        if (missing.length > 0) throw new UnknownDeadLetterError(missing);
      }
      const results: RedriveResult[] = [];
      for (const m of chosen) {
        try {
          // Sent first, deleted after: a failure in between leaves a duplicate, never a loss.
          await this.client.send(
            new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: m.Body! }),
          );
          await this.client.send(
            new DeleteMessageCommand({
              QueueUrl: this.deadLetterQueueUrl,
              ReceiptHandle: m.ReceiptHandle!,
            }),
          );
          deleted.add(m);
          results.push({ messageId: m.MessageId!, result: 'redriven' });
        } catch (error) {
          const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          results.push({ messageId: m.MessageId!, result: 'failed', error: why });
        }
      }
      return results;
    } finally {
      await this.release(held.filter((m) => !deleted.has(m)));
    }
  }

  /** Receives up to `max` distinct messages of the DLQ, hiding them for `holdSeconds`. */
  private async hold(max: number): Promise<Message[]> {
    const held = new Map<string, Message>();
    while (held.size < max) {
      const { Messages = [] } = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.deadLetterQueueUrl,
          MaxNumberOfMessages: Math.min(BATCH_LIMIT, max - held.size),
          VisibilityTimeout: this.holdSeconds,
          WaitTimeSeconds: this.waitTimeSeconds,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        }),
      );
      if (Messages.length === 0) break;
      // A standard queue may deliver a message twice: the latest receipt is the valid one.
      for (const m of Messages) held.set(m.MessageId!, m);
    }
    return [...held.values()];
  }

  /** Makes held messages visible again at once. */
  private async release(messages: readonly Message[]): Promise<void> {
    for (let start = 0; start < messages.length; start += BATCH_LIMIT) {
      await this.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.deadLetterQueueUrl,
          Entries: messages.slice(start, start + BATCH_LIMIT).map((m, i) => ({
            Id: `m${i}`,
            ReceiptHandle: m.ReceiptHandle!,
            VisibilityTimeout: 0,
          })),
        }),
      );
    }
  }
}

function view(m: Message): DeadLetterMessage {
  const attributes = m.MessageAttributes ?? {};
  const counted = Number(attributes.receiveCount?.StringValue);
  const reason = attributes.reason?.StringValue;
  return {
    messageId: m.MessageId!,
    body: m.Body ?? '',
    ...(reason !== undefined ? { reason } : {}),
    // Without the executor's count (the redrive policy moved it), SQS's own, less this read.
    receiveCount:
      Number.isInteger(counted) && counted > 0
        ? counted
        : Math.max(0, Number(m.Attributes?.ApproximateReceiveCount ?? '1') - 1),
    sentAt: Number(m.Attributes?.SentTimestamp ?? Date.now()),
  };
}
