/**
 * The consuming edge for pollers (local runs, tests): receives a batch, executes each message
 * and applies its disposition. The Lambda handler applies dispositions its own way
 * (batchItemFailures), through the same `executeMessage`.
 */
import type {
  Disposition,
  MessageSource,
  ReceivedMessage,
  TaskQueue,
} from '../ports/task-queue.ts';
import { type ExecutionReport, type ExecutorDeps, executeMessage } from './execute-task.ts';

/** Receives up to `max` messages, executes them concurrently and settles each. */
export async function consumeBatch(
  deps: ExecutorDeps,
  source: MessageSource,
  options: { readonly max?: number; readonly signal?: AbortSignal } = {},
): Promise<ExecutionReport[]> {
  const messages = await source.receive(options.max ?? 10, options.signal);
  return Promise.all(
    messages.map(async (message) => {
      const report = await executeMessage(
        deps,
        message,
        options.signal ? { signal: options.signal } : {},
      );
      await settle(source, deps.queue, message, report.disposition);
      return report;
    }),
  );
}

/**
 * Applies an executor's disposition to a received message: ack deletes it, retry makes it
 * visible again after the delay, dead-letter copies it to the DLQ and then deletes it.
 */
export async function settle(
  source: MessageSource,
  deadLetters: Pick<TaskQueue, 'deadLetter'>,
  message: ReceivedMessage,
  disposition: Disposition,
): Promise<void> {
  if (disposition.kind === 'retry') {
    await source.retryLater(message.receipt, disposition.delaySeconds);
    return;
  }
  // The copy comes first: a crash in between leaves a duplicate in the DLQ, never a loss.
  if (disposition.kind === 'dead-letter') {
    await deadLetters.deadLetter(message.body, disposition.reason);
  }
  await source.ack(message.receipt);
}
