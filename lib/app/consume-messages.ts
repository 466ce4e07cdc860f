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

/**
 * Receives up to `max` messages, executes them concurrently, then settles them together: one
 * batched delete for every message that is done. The deletes wait for the batch's slowest task;
 * a message whose visibility runs out meanwhile comes back and finds its task stale.
 * @throws the first failure of an execution or of settling, after every other message was
 * settled.
 */
export async function consumeBatch(
  deps: ExecutorDeps,
  source: MessageSource,
  options: { readonly max?: number; readonly signal?: AbortSignal } = {},
): Promise<ExecutionReport[]> {
  const messages = await source.receive(options.max ?? 10, options.signal);
  const executed = await Promise.allSettled(
    messages.map((message) =>
      executeMessage(deps, message, options.signal ? { signal: options.signal } : {}),
    ),
  );
  const reports: ExecutionReport[] = [];
  const handled: Handled[] = [];
  executed.forEach((result, i) => {
    if (result.status !== 'fulfilled') return;
    reports.push(result.value);
    handled.push({ message: messages[i]!, disposition: result.value.disposition });
  });
  await settle(source, deps.queue, handled);
  const failed = executed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return reports;
}

/** A received message and what the executor said to do with it. */
export interface Handled {
  readonly message: ReceivedMessage;
  readonly disposition: Disposition;
}

/**
 * Applies executors' dispositions to received messages: a retry makes its message visible again
 * after the delay, a dead letter is copied to the DLQ; then every message that is done (acked,
 * or copied) is deleted in one batched call. @throws the first failure, after the rest settled.
 */
export async function settle(
  source: MessageSource,
  deadLetters: Pick<TaskQueue, 'deadLetter'>,
  handled: readonly Handled[],
): Promise<void> {
  const prepared = await Promise.allSettled(
    handled.map(async ({ message, disposition }) => {
      if (disposition.kind === 'retry') {
        await source.retryLater(message.receipt, disposition.delaySeconds);
        return undefined;
      }
      // The copy comes first: a crash in between leaves a duplicate in the DLQ, never a loss.
      if (disposition.kind === 'dead-letter') {
        await deadLetters.deadLetter(message.body, disposition.reason, message.receiveCount);
      }
      return message.receipt;
    }),
  );
  const done = prepared.flatMap((p) =>
    p.status === 'fulfilled' && p.value !== undefined ? [p.value] : [],
  );
  if (done.length > 0) await source.ack(done);
  const failed = prepared.find((p): p is PromiseRejectedResult => p.status === 'rejected');
  if (failed) throw failed.reason;
}
