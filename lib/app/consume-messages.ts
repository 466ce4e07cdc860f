/**
 * The consuming edge for pollers (local runs, tests): receives a batch, executes each message
 * and applies its disposition. The Lambda handler applies dispositions its own way
 * (batchItemFailures), through the same `executeMessage`.
 */
import type { MessageSource } from '../ports/task-queue.ts';
import { type ExecutionReport, type ExecutorDeps, executeMessage } from './execute-task.ts';

/** Receives up to `max` messages, executes them concurrently and settles each. */
export async function consumeBatch(
  deps: ExecutorDeps,
  source: MessageSource,
  options: { readonly max?: number; readonly signal?: AbortSignal } = {},
): Promise<ExecutionReport[]> {
  const messages = await source.receive(options.max ?? 10);
  return Promise.all(
    messages.map(async (message) => {
      const report = await executeMessage(
        deps,
        message,
        options.signal ? { signal: options.signal } : {},
      );
      const d = report.disposition;
      if (d.kind === 'retry') {
        await source.retryLater(message.receipt, d.delaySeconds);
      } else {
        // Dead-letter first: if that fails the message stays and is redelivered, never lost.
        if (d.kind === 'dead-letter') await deps.queue.deadLetter(message.body, d.reason);
        await source.ack(message.receipt);
      }
      return report;
    }),
  );
}
