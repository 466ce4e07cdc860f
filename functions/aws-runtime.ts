/**
 * The composition root of the Lambda functions: the only place that reads the environment and
 * builds SDK clients. Everything is built once per execution environment (cold start); a bad
 * configuration fails the cold start with the schema's message.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDbCloudState } from '../lib/adapters/dynamodb/dynamodb-cloud-state.ts';
import { DynamoDbPoolStore } from '../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { SqsTaskConsumer } from '../lib/adapters/sqs/sqs-task-consumer.ts';
import { SqsTaskQueue } from '../lib/adapters/sqs/sqs-task-queue.ts';
import { systemClock } from '../lib/adapters/system-clock.ts';
import { configFromEnv, ENV } from '../lib/config/env.ts';
import { ConfigError, type HousekeeperConfig } from '../lib/config/schema.ts';
import { NoopDriver } from '../lib/drivers/noop/noop-driver.ts';
import { credentialsFromSecret } from '../lib/drivers/openstack/credentials.ts';
import { OpenStackDriver } from '../lib/drivers/openstack/openstack-driver.ts';
import type { AmphoraDriver } from '../lib/ports/amphora-driver.ts';
import type { Clock, IdSource } from '../lib/ports/clock.ts';
import type { CloudStateStore } from '../lib/ports/cloud-state.ts';
import type { PoolStore } from '../lib/ports/pool-store.ts';
import type { TaskQueue } from '../lib/ports/task-queue.ts';
import type { Logger } from '../lib/ports/telemetry.ts';

/** Everything the handlers share within one execution environment. */
export interface Runtime {
  readonly config: HousekeeperConfig;
  readonly store: PoolStore;
  readonly queue: TaskQueue;
  /** Changes a message's visibility, for retries with back-off. */
  readonly consumer: Pick<SqsTaskConsumer, 'retryLater'>;
  readonly clock: Clock;
  readonly newId: IdSource;
  /** The driver, built on first use (the OpenStack one reads its secret then) and kept. */
  driver(logger: Logger): Promise<AmphoraDriver>;
}

type Env = Readonly<Record<string, string | undefined>>;

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

/** The noop driver as the configuration describes it, its simulated cloud in `state`. */
export function noopDriverFor(
  config: HousekeeperConfig,
  state: CloudStateStore,
  random: () => number = Math.random,
): NoopDriver {
  return new NoopDriver(
    { state, clock: systemClock, newId: randomUUID, random },
    config.ownership_tag,
    { bootSeconds: config.noop.boot_seconds, bootFailureRate: config.noop.boot_failure_rate },
  );
}

/** Builds the runtime from the environment. @throws ConfigError naming every bad setting. */
export function runtimeFromEnv(env: Env): Runtime {
  const config = configFromEnv(env);
  const tableName = required(env, ENV.tableName);
  const queueUrl = required(env, ENV.queueUrl);
  const deadLetterQueueUrl = required(env, ENV.deadLetterQueueUrl);
  const { dynamodb, sqs } = awsClients(env);
  const secretArn = env[ENV.credentialsSecretArn];
  let driver: Promise<AmphoraDriver> | undefined;
  const build = async (logger: Logger): Promise<AmphoraDriver> => {
    if (config.driver === 'noop') {
      return noopDriverFor(config, new DynamoDbCloudState({ client: dynamodb, tableName }));
    }
    if (!secretArn) {
      throw new ConfigError([
        {
          field: ENV.credentialsSecretArn,
          value: secretArn,
          rule: 'is required when driver is openstack',
        },
      ]);
    }
    const secrets = new SecretsManagerClient({ retryMode: 'standard' });
    const secret = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
    let parsed: unknown;
    try {
      parsed = JSON.parse(secret.SecretString ?? '');
    } catch {
      // Never echo the secret's content.
      throw new ConfigError([
        { field: ENV.credentialsSecretArn, value: secretArn, rule: 'must hold a JSON object' },
      ]);
    }
    return new OpenStackDriver({
      credentials: credentialsFromSecret(parsed),
      config: config.openstack,
      ownershipTag: config.ownership_tag,
      clock: systemClock,
      logger,
    });
  };
  const queue = new SqsTaskQueue({ client: sqs, queueUrl, deadLetterQueueUrl });
  return {
    config,
    store: new DynamoDbPoolStore({ client: dynamodb, tableName }),
    queue,
    consumer: new SqsTaskConsumer({ client: sqs, queueUrl }),
    clock: systemClock,
    newId: randomUUID,
    driver: (logger) => {
      driver ??= build(logger).catch((error: unknown) => {
        driver = undefined; // try again on the next invocation
        throw error;
      });
      return driver;
    },
  };
}
