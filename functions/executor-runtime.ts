/**
 * The executor's composition root: the shared core, the task consumer, and the driver. The
 * driver's code is loaded when it is first needed (a dynamic import, which esbuild keeps in the
 * one CommonJS bundle as a module evaluated on first use): the cold start evaluates neither the
 * noop nor the OpenStack driver, nor the Secrets Manager client that only the OpenStack one uses.
 */
import { SqsTaskConsumer } from '../lib/adapters/sqs/sqs-task-consumer.ts';
import { ENV } from '../lib/config/env.ts';
import { ConfigError } from '../lib/config/schema.ts';
import type { AmphoraDriver } from '../lib/ports/amphora-driver.ts';
import type { Logger } from '../lib/ports/telemetry.ts';
import { type CoreRuntime, coreFromEnv, type Env, runtimeOf } from './aws-runtime.ts';

/** Everything the executor handler uses within one execution environment. */
export interface ExecutorRuntime extends CoreRuntime {
  /** Changes a message's visibility, for retries with back-off. */
  readonly consumer: Pick<SqsTaskConsumer, 'retryLater'>;
  /** The driver, built on first use (the OpenStack one reads its secret then) and kept. */
  driver(logger: Logger): Promise<AmphoraDriver>;
}

/** Builds the executor's runtime from the environment. @throws ConfigError naming every bad setting. */
export function executorRuntimeFromEnv(env: Env): ExecutorRuntime {
  const core = coreFromEnv(env);
  const { config, dynamodb, tableName } = core;
  const secretArn = env[ENV.credentialsSecretArn];
  const build = async (logger: Logger): Promise<AmphoraDriver> => {
    if (config.driver === 'noop') {
      const { noopDriverOnDynamoDb } = await import('./noop-driver.ts');
      return noopDriverOnDynamoDb(config, dynamodb, tableName);
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
    const { openStackDriverFromSecret } = await import('./openstack-driver.ts');
    return openStackDriverFromSecret(config, secretArn, logger);
  };
  let driver: Promise<AmphoraDriver> | undefined;
  return {
    ...runtimeOf(core),
    consumer: new SqsTaskConsumer({ client: core.sqs, queueUrl: core.queueUrl }),
    driver: (logger) => {
      driver ??= build(logger).catch((error: unknown) => {
        driver = undefined; // try again on the next invocation
        throw error;
      });
      return driver;
    },
  };
}
