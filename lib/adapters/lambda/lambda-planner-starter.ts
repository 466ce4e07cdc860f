/**
 * Starts a planner run in AWS: an asynchronous invocation (`InvocationType: Event`) of the
 * planner function. Lambda answers 202 once the event is queued, so a claim does not wait for
 * the cycle. The planner's asynchronous configuration (no retries, events older than one
 * interval dropped) applies to it as to a scheduled tick.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { HousekeeperError } from '../../domain/errors.ts';
import type { PlannerStarter } from '../../ports/planner-wake.ts';

/** The event the planner receives from a wake (it ignores its content; its log names it). */
export const WAKE_EVENT_SOURCE = 'amphora-housekeeper.wake';

/** A {@link PlannerStarter} that invokes `functionName` asynchronously. */
export function lambdaPlannerStarter(
  lambda: Pick<LambdaClient, 'send'>,
  functionName: string,
  reason: string,
): PlannerStarter {
  return async () => {
    const { StatusCode } = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify({ source: WAKE_EVENT_SOURCE, reason })),
      }),
    );
    if (StatusCode !== 202) {
      throw new HousekeeperError(
        `asynchronous invocation of the planner ${functionName} answered ${StatusCode}, not 202`,
      );
    }
  };
}
