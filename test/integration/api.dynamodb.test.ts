/**
 * The claims API on DynamoDB Local: the idempotency store contract, and the handler's claims
 * racing on the real conditional writes (distinct keys on fewer spares; one key retried).
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoDbIdempotencyStore,
  idempotencyKey,
} from '../../lib/adapters/dynamodb/dynamodb-idempotency-store.ts';
import { DynamoDbPoolStore } from '../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { describeIdempotencyStoreContract } from '../contract/idempotency-store-contract.ts';
import { apiHarness, json } from '../support/api-harness.ts';
import { startTestDynamo, type TestDynamo } from '../support/aws.ts';
import { rec } from '../support/pool-fixtures.ts';

let dynamo: TestDynamo;

beforeAll(async () => {
  dynamo = await startTestDynamo();
});

afterAll(async () => {
  await dynamo?.stop();
});

describeIdempotencyStoreContract('DynamoDB', async () => ({
  fresh: async () =>
    new DynamoDbIdempotencyStore({ client: dynamo.client, tableName: await dynamo.newTable() }),
}));

async function dynamoApi() {
  const tableName = await dynamo.newTable();
  const store = new DynamoDbPoolStore({ client: dynamo.client, tableName });
  const idempotency = new DynamoDbIdempotencyStore({ client: dynamo.client, tableName });
  return { tableName, ...apiHarness({}, { store, idempotency }) };
}

describe('the claims API on DynamoDB', () => {
  it('20 concurrent claims with distinct keys on 10 READY spares: 10 distinct amphorae, 10 NO_SPARE', async () => {
    // Prepare
    const h = await dynamoApi();
    for (let i = 0; i < 10; i++) await h.store.create(rec('READY', { id: `amp-${i}` }));

    // Act
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.post('/claims', {}, `key-${i}`)),
    );

    // Assess
    const ok = responses.filter((r) => r.status === 200).map((r) => json(r).id);
    const refused = responses.filter((r) => r.status === 409);
    expect(ok).toHaveLength(10);
    expect(new Set(ok).size).toBe(10);
    expect(refused.map((r) => json(r).error.code)).toEqual(Array(10).fill('NO_SPARE'));
    expect(await h.store.listByState('default', 'ALLOCATED')).toHaveLength(10);
    expect((await h.store.getPoolState()).counts.default?.['*']?.ALLOCATED).toBe(10);
  });

  it('a claim retried concurrently with one key gets one amphora, claimed once', async () => {
    // Prepare
    const h = await dynamoApi();
    for (let i = 0; i < 5; i++) await h.store.create(rec('READY', { id: `amp-${i}` }));

    // Act: the first attempt, and retries racing it (some see it in progress)
    const attempts = await Promise.all(
      Array.from({ length: 6 }, () => h.post('/claims', {}, 'one-logical-claim')),
    );
    const settled = await h.post('/claims', {}, 'one-logical-claim');

    // Assess
    const ids = new Set(attempts.filter((r) => r.status === 200).map((r) => json(r).id));
    expect(ids.size).toBe(1);
    for (const r of attempts.filter((a) => a.status !== 200)) {
      expect(r.status).toBe(409);
      expect(json(r).error.code).toBe('REQUEST_IN_PROGRESS');
    }
    expect(settled.status).toBe(200);
    expect(json(settled).id).toBe([...ids][0]);
    expect(settled.headers['idempotent-replayed']).toBe('true');
    expect(await h.store.listByState('default', 'ALLOCATED')).toHaveLength(1);
  });

  it('stores the completed response with a TTL in epoch seconds', async () => {
    const h = await dynamoApi();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    await h.post('/claims', {}, 'ttl-key');
    const { Item } = await dynamo.client.send(
      new GetItemCommand({ TableName: h.tableName, Key: idempotencyKey('ttl-key') }),
    );
    expect(Item?.status?.S).toBe('COMPLETED');
    const ttl = Number(Item?.ttl?.N);
    expect(ttl).toBe(Math.ceil((h.clock.now() + 86_400_000) / 1000));
  });
});
