/**
 * The shared core of the Lambda functions' composition roots (`planner-runtime.ts`,
 * `executor-runtime.ts`): the configuration, the DynamoDB and SQS clients, the store and the
 * queue. Only functions/ reads the environment and builds clients. Everything is built once per
 * execution environment (cold start); a bad configuration fails the cold start with the
 * schema's message.
 *
 * Each function's root imports only what that function runs, so that its bundle carries nothing
 * else: no driver and no Secrets Manager client here.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDbPoolStore } from '../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { SqsTaskQueue } from '../lib/adapters/sqs/sqs-task-queue.ts';
import { systemClock } from '../lib/adapters/system-clock.ts';
import { deployedConfigFromEnv, ENV } from '../lib/config/env.ts';
import { ConfigError, type HousekeeperConfig } from '../lib/config/schema.ts';
import type { Clock, IdSource } from '../lib/ports/clock.ts';
import type { PoolStore } from '../lib/ports/pool-store.ts';
import type { TaskQueue } from '../lib/ports/task-queue.ts';

/** What both functions share within one execution environment. */
export interface CoreRuntime {
  readonly config: HousekeeperConfig;
  readonly store: PoolStore;
  readonly queue: TaskQueue;
  readonly clock: Clock;
  readonly newId: IdSource;
}

/** The core with the parts a function's own root builds on. */
export interface CoreParts extends CoreRuntime {
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly tableName: string;
  readonly queueUrl: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The runtime part of the core, without the clients and names its root builds on. */
export function runtimeOf(core: CoreParts): CoreRuntime {
  return {
    config: core.config,
    store: core.store,
    queue: core.queue,
    clock: core.clock,
    newId: core.newId,
  };
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) {
    throw new ConfigError([{ field: name, value, rule: 'is required (set by the CDK stack)' }]);
  }
  return value;
}

/**
 * The DynamoDB and SQS clients, in the SDK's standard retry mode (throttling and 5xx retried
 * with back-off), at the endpoints the environment names, AWS's own by default.
 */
export function awsClients(env: Env): { dynamodb: DynamoDBClient; sqs: SQSClient } {
  return {
    dynamodb: new DynamoDBClient({
      retryMode: 'standard',
      ...(env[ENV.dynamodbEndpoint] ? { endpoint: env[ENV.dynamodbEndpoint] } : {}),
    }),
    sqs: new SQSClient({
      retryMode: 'standard',
      ...(env[ENV.sqsEndpoint] ? { endpoint: env[ENV.sqsEndpoint] } : {}),
    }),
  };
}

/**
 * The shared core from the environment. The configuration is trusted while its checksum matches
 * what the stack validated at synth, and validated in full otherwise (`deployedConfigFromEnv`).
 * @throws ConfigError naming every bad setting.
 */
export function coreFromEnv(env: Env): CoreParts {
  const config = deployedConfigFromEnv(env);
  const tableName = required(env, ENV.tableName);
  const queueUrl = required(env, ENV.queueUrl);
  const deadLetterQueueUrl = required(env, ENV.deadLetterQueueUrl);
  const { dynamodb, sqs } = awsClients(env);
  return {
    config,
    store: new DynamoDbPoolStore({ client: dynamodb, tableName }),
    queue: new SqsTaskQueue({ client: sqs, queueUrl, deadLetterQueueUrl }),
    clock: systemClock,
    newId: randomUUID,
    dynamodb,
    sqs,
    tableName,
    queueUrl,
  };
}
