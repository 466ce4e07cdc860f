/**
 * The DynamoDB simulated-cloud store on DynamoDB Local: the shared contract, what only this
 * adapter has (paging, values that are not JSON), and the noop driver contract on top of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbCloudState } from '../../lib/adapters/dynamodb/dynamodb-cloud-state.ts';
import { DynamoDbPoolStore } from '../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { describeCloudStateContract } from '../contract/cloud-state-contract.ts';
import { describeDriverContract } from '../contract/driver-contract.ts';
import { startTestDynamo, type TestDynamo } from '../support/aws.ts';
import { noopHarness } from '../support/noop-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

let dynamo: TestDynamo;

beforeAll(async () => {
  dynamo = await startTestDynamo();
});

afterAll(async () => {
  await dynamo?.stop();
});

const fresh = async () =>
  new DynamoDbCloudState({ client: dynamo.client, tableName: await dynamo.newTable() });

describeCloudStateContract('DynamoDB', async () => ({ fresh, cleanup: async () => {} }));

describe('DynamoDB cloud state', () => {
  it('lists entries beyond one 1 MB query page', async () => {
    // Prepare: five values of 300 KB make two pages
    const store = await fresh();
    const big = 'x'.repeat(300_000);
    for (let i = 0; i < 5; i++) await store.put(`image/${i}`, { i, big }, 'absent');

    // Act
    const images = await store.list('image/');

    // Assess
    expect(images.map((e) => e.key)).toStrictEqual([0, 1, 2, 3, 4].map((i) => `image/${i}`));
    expect(images[4]?.value).toStrictEqual({ i: 4, big });
  });

  it('refuses a value that is not JSON data, writing nothing', async () => {
    const store = await fresh();
    await expect(store.put('k', undefined, 'absent')).rejects.toThrow(TypeError);
    expect(await store.get('k')).toBeUndefined();
  });

  it('shares the pool table without touching amphora records', async () => {
    // Prepare
    const tableName = await dynamo.newTable();
    const pool = new DynamoDbPoolStore({ client: dynamo.client, tableName });
    const cloud = new DynamoDbCloudState({ client: dynamo.client, tableName });
    const record = rec('READY', { id: 'a' });
    await pool.create(record);

    // Act
    await cloud.put('server/a', { id: 'a' }, 'absent');

    // Assess
    expect(await cloud.list('')).toStrictEqual([
      { key: 'server/a', value: { id: 'a' }, version: 1 },
    ]);
    expect(await pool.get('a')).toStrictEqual(record);
    expect((await pool.getPoolState()).counts).toStrictEqual({ default: { '*': { READY: 1 } } });
  });
});

describeDriverContract('noop on DynamoDB cloud state', async () =>
  noopHarness(undefined, await fresh()),
);
