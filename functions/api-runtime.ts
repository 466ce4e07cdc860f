/**
 * The API function's composition root: the shared core, the idempotency store on the pool
 * table, and a planner wake that invokes the planner function asynchronously (coalesced on the
 * lease item: see lib/app/remote-planner-wake.ts).
 */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDbIdempotencyStore } from '../lib/adapters/dynamodb/dynamodb-idempotency-store.ts';
import { lambdaPlannerStarter } from '../lib/adapters/lambda/lambda-planner-starter.ts';
import { RemotePlannerWake } from '../lib/app/remote-planner-wake.ts';
import { ENV } from '../lib/config/env.ts';
import { ConfigError } from '../lib/config/schema.ts';
import type { IdempotencyStore } from '../lib/ports/idempotency-store.ts';
import type { PlannerWake } from '../lib/ports/planner-wake.ts';
import { type CoreRuntime, coreFromEnv, type Env, runtimeOf } from './aws-runtime.ts';

/** Everything the API handler uses within one execution environment. */
export interface ApiRuntime extends CoreRuntime {
  readonly idempotency: IdempotencyStore;
  readonly wake: PlannerWake;
}

/** Builds the API's runtime from the environment. @throws ConfigError naming every bad setting. */
export function apiRuntimeFromEnv(env: Env): ApiRuntime {
  const core = coreFromEnv(env);
  const planner = env[ENV.plannerFunctionName];
  if (!planner) {
    throw new ConfigError([
      {
        field: ENV.plannerFunctionName,
        value: planner,
        rule: 'is required (set by the CDK stack)',
      },
    ]);
  }
  const lambda = new LambdaClient({ retryMode: 'standard' });
  return {
    ...runtimeOf(core),
    idempotency: new DynamoDbIdempotencyStore({ client: core.dynamodb, tableName: core.tableName }),
    wake: new RemotePlannerWake({
      store: core.store,
      clock: core.clock,
      start: lambdaPlannerStarter(lambda, planner, 'api'),
    }),
  };
}
