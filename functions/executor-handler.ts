/**
 * The executor Lambda: an SQS batch, each message one task, reported with partial batch
 * failures. Retry versus acknowledge is decided by `executeMessage`; this edge applies it:
 * a retry changes the message's visibility (the back-off) and reports it failed, a dead letter
 * is moved to the DLQ and acknowledged, so the batch's other tasks always run.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { powertoolsLogger, powertoolsMetrics } from '../lib/adapters/powertools-telemetry.ts';
import { executeMessage } from '../lib/app/execute-task.ts';
import type { ExecutorRuntime } from './executor-runtime.ts';
import { powertools } from './telemetry.ts';

/** Marks a record failed after its visibility was set for the retry. */
class RetryLaterError extends Error {}

/** Milliseconds before the Lambda timeout at which the abort signal fires. */
export const TIMEOUT_EARLY_MS = 2_000;

/** Builds the executor handler over a runtime (tests pass their own). */
export function executorHandler(runtime: ExecutorRuntime, tools = powertools('executor')) {
  const logger = powertoolsLogger(tools.logger);
  const metrics = powertoolsMetrics(tools.metrics);
  return middy(
    async (
      event: SQSEvent,
      context: Context,
      { signal }: { signal: AbortSignal },
    ): Promise<SQSBatchResponse> => {
      const driver = await runtime.driver(logger);
      let slotFreed = false;
      const deps = { ...runtime, driver, logger, metrics };
      const handle = async (record: SQSRecord) => {
        const report = await executeMessage(
          deps,
          {
            messageId: record.messageId,
            body: record.body,
            receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
          },
          { signal },
        );
        if (report.wakesPlanner) slotFreed = true;
        const d = report.disposition;
        if (d.kind === 'retry') {
          await runtime.consumer.retryLater(record.receiptHandle, d.delaySeconds);
          throw new RetryLaterError(d.reason);
        }
        // Moved to the DLQ first: if that fails, the message fails and comes back; never lost.
        if (d.kind === 'dead-letter')
          await runtime.queue.deadLetter(
            record.body,
            d.reason,
            Number(record.attributes.ApproximateReceiveCount) || 1,
          );
      };
      const response = await processPartialResponse(
        event,
        handle,
        new BatchProcessor(EventType.SQS),
        { context, throwOnFullBatchFailure: false },
      );
      if (slotFreed && !signal.aborted) {
        // A boot ended, so its deploying slot is free: plan now rather than at the next tick.
        // Loaded on first use, so the executor's cold start does not evaluate the planner.
        const { requestPlannerRun } = await import('../lib/app/run-planner-cycle.ts');
        await requestPlannerRun({
          ...runtime,
          holder: context.awsRequestId,
          logger,
          metrics,
        }).catch((error: unknown) => {
          // The batch's own results stand; the schedule is the safety net.
          logger.warn('the planner run a finished boot asked for failed', {
            error: String(error),
          });
        });
      }
      return response;
    },
    {
      timeoutEarlyInMillis: TIMEOUT_EARLY_MS,
      // The early timeout only aborts the signal: driver calls then fail fast as Unavailable and
      // the batch still reports per message (done ones done, the rest retried), instead of
      // middy's default of failing the whole batch.
      timeoutEarlyResponse: () => new Promise<never>(() => {}),
    },
  )
    .use(injectLambdaContext(tools.logger))
    .use(logMetrics(tools.metrics, { captureColdStartMetric: true }));
}
