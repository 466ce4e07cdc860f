/**
 * The planner Lambda: an EventBridge scheduled event runs one planner cycle. Errors are
 * rethrown (never only logged) so that the invocation fails and the alarms fire.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { powertoolsLogger, powertoolsMetrics } from '../lib/adapters/powertools-telemetry.ts';
import { runRequestedCycles } from '../lib/app/run-planner-cycle.ts';
import type { PlannerRuntime } from './planner-runtime.ts';
import { powertools } from './telemetry.ts';

/** What one scheduled run reports (also its log summary). */
export interface PlannerResult {
  readonly status: string;
  readonly decisions: number;
  readonly applied: number;
  readonly tasksSent: number;
  readonly spareReady?: number;
  readonly spareTarget?: number;
}

/** Builds the planner handler over a runtime (tests pass their own). */
export function plannerHandler(runtime: PlannerRuntime, tools = powertools('planner')) {
  const logger = powertoolsLogger(tools.logger);
  const metrics = powertoolsMetrics(tools.metrics);
  return middy(async (_event: ScheduledEvent, context: Context): Promise<PlannerResult> => {
    // Runs again while runs were requested during the cycle (bounded): see runRequestedCycles.
    const reports = await runRequestedCycles({
      ...runtime,
      holder: context.awsRequestId,
      logger,
      metrics,
    });
    const ran = reports.filter((r) => r.status !== 'lease-busy');
    const report = ran[ran.length - 1] ?? reports[0]!;
    if (report.status === 'lease-busy') {
      return { status: report.status, decisions: 0, applied: 0, tasksSent: 0 };
    }
    return {
      status: report.status,
      decisions: report.plan.decisions.length,
      applied: report.results.filter((r) => r.status === 'applied').length,
      tasksSent: report.tasksSent,
      spareReady: report.plan.spareReady,
      spareTarget: report.plan.spareTarget,
    };
  })
    .use(injectLambdaContext(tools.logger))
    .use(logMetrics(tools.metrics, { captureColdStartMetric: true }));
}
