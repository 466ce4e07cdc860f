/**
 * The noop driver as the configuration describes it: for the executor (loaded when its driver is
 * first needed) and the local stacks.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbCloudState } from '../lib/adapters/dynamodb/dynamodb-cloud-state.ts';
import { systemClock } from '../lib/adapters/system-clock.ts';
import type { HousekeeperConfig } from '../lib/config/schema.ts';
import { NoopDriver } from '../lib/drivers/noop/noop-driver.ts';
import type { CloudStateStore } from '../lib/ports/cloud-state.ts';

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

/** The deployed noop driver: its simulated cloud in the pool table. */
export function noopDriverOnDynamoDb(
  config: HousekeeperConfig,
  client: DynamoDBClient,
  tableName: string,
): NoopDriver {
  return noopDriverFor(config, new DynamoDbCloudState({ client, tableName }));
}
