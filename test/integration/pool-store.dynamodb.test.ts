/**
 * The DynamoDB pool store on DynamoDB Local: the shared contract, then what only this adapter
 * has (TTL attribute, index paging costs, unprocessed batch keys, transaction limits and
 * cancellation reasons). Faults DynamoDB Local cannot produce on demand are injected in front
 * of it with a client interceptor; everything else is the emulator's own behaviour.
 *
 * TTL deletion itself is not asserted: DynamoDB Local 3.3 left an item expired for 400 s in
 * place when measured, so only the stored TTL attribute is checked.
 */
import {
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
  DeleteItemCommand,
  GetItemCommand,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbPoolStore } from '../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { recordKey, TTL_GRACE_MS } from '../../lib/adapters/dynamodb/items.ts';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  expiryTime,
  transition,
} from '../../lib/domain/amphora.ts';
import { LeaseLostError } from '../../lib/domain/errors.ts';
import type { WriteGroup } from '../../lib/domain/pool.ts';
import { describePoolStoreContract } from '../contract/pool-store-contract.ts';
import { countCommands, intercept, startTestDynamo, type TestDynamo } from '../support/aws.ts';
import { rec } from '../support/pool-fixtures.ts';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 24 * 3600 * 1000;

let dynamo: TestDynamo;

beforeAll(async () => {
  dynamo = await startTestDynamo();
});

afterAll(async () => {
  await dynamo?.stop();
});

const tables = new WeakMap<DynamoDbPoolStore, string>();

describePoolStoreContract('DynamoDB', async () => ({
  fresh: async () => {
    const tableName = await dynamo.newTable();
    const store = new DynamoDbPoolStore({ client: dynamo.client, tableName });
    tables.set(store, tableName);
    return store;
  },
  propertyRuns: 15,
  dropBehindCounters: async (store, id) => {
    await dynamo.client.send(
      new DeleteItemCommand({
        TableName: tables.get(store as DynamoDbPoolStore)!,
        Key: recordKey(id),
      }),
    );
  },
  cleanup: async () => {},
}));

/** A store on a new table, with its own client so interceptors stay local to one test. */
async function isolated(pageSize?: number) {
  const tableName = await dynamo.newTable();
  const client = dynamo.newClient();
  const store = new DynamoDbPoolStore({
    client,
    tableName,
    ...(pageSize !== undefined ? { pageSize } : {}),
  });
  // A second store on the shared client: writes that interceptors on `client` do not see.
  const other = new DynamoDbPoolStore({ client: dynamo.client, tableName });
  return { client, tableName, store, other };
}

async function storedTtl(tableName: string, id: string): Promise<number | undefined> {
  const { Item } = await dynamo.client.send(
    new GetItemCommand({ TableName: tableName, Key: recordKey(id), ConsistentRead: true }),
  );
  expect(Item).toBeDefined();
  return Item?.ttl?.N === undefined ? undefined : Number(Item.ttl.N);
}

describe('DynamoDB pool store: TTL attribute', () => {
  it.each<[string, Partial<AmphoraRecord> & { state: AmphoraRecord['state'] }, number | undefined]>(
    [
      [
        'a DELETED record carries its expiry in epoch seconds',
        { state: 'DELETED', expiresAt: T0 + DAY },
        (T0 + DAY + TTL_GRACE_MS) / 1000,
      ],
      [
        'a DELETED record rounds a part second up, never early',
        { state: 'DELETED', expiresAt: T0 + 1_001 },
        (T0 + TTL_GRACE_MS) / 1000 + 2,
      ],
      ['a DELETED record without expiry has no TTL', { state: 'DELETED' }, undefined],
      [
        'a live record has no TTL, even with an expiry set',
        { state: 'READY', expiresAt: T0 },
        undefined,
      ],
      ['a PENDING_DELETE record has no TTL', { state: 'PENDING_DELETE', expiresAt: T0 }, undefined],
    ],
  )('%s', async (_case, fields, ttl) => {
    // Prepare
    const { store, tableName } = await isolated();

    // Act
    await store.create(rec(fields.state, { id: 'a', stateSince: T0, ...fields }));

    // Assess
    expect(await storedTtl(tableName, 'a')).toBe(ttl);
  });

  it('moves the TTL later when a DELETED record is seen alive again (the zombie rule)', async () => {
    // Prepare: deleted a day ago, expiry age one day
    const { store, tableName } = await isolated();
    const pending = rec('PENDING_DELETE', { id: 'z', stateSince: T0, version: 2 });
    await store.create(pending);
    const deleted = transition(pending, 'DELETED', {
      now: T0,
      reason: 'REMOVED',
      patch: { deletedAt: T0, expiresAt: expiryTime({ deletedAt: T0 }, DAY) },
    });
    await store.update(deleted, pending);
    const seenAlive = T0 + 5 * DAY;
    const zombie = {
      ...deleted,
      version: deleted.version + 1,
      lastSeenAliveAt: seenAlive,
      expiresAt: expiryTime({ deletedAt: T0, lastSeenAliveAt: seenAlive }, DAY),
    };

    // Act
    const before = await storedTtl(tableName, 'z');
    await store.update(zombie, deleted);
    const after = await storedTtl(tableName, 'z');

    // Assess
    expect(before).toBe((T0 + DAY + TTL_GRACE_MS) / 1000);
    expect(after).toBe((seenAlive + DAY + TTL_GRACE_MS) / 1000);
    expect(after! * 1000).toBeGreaterThanOrEqual(seenAlive + DAY);
  });

  it('always stores the TTL its record implies, never before the expiry (property)', async () => {
    const { store, tableName } = await isolated();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...AMPHORA_STATES),
        fc.option(fc.integer({ min: 0, max: 4_000_000_000_000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 4_000_000_000_000 }), { nil: undefined }),
        async (state, deletedAt, lastSeenAliveAt) => {
          // Prepare
          const expiresAt =
            deletedAt === undefined && lastSeenAliveAt === undefined
              ? undefined
              : expiryTime({ deletedAt, lastSeenAliveAt }, DAY);
          const record = rec(state, {
            id: `p-${n++}`,
            stateSince: T0,
            ...(deletedAt !== undefined ? { deletedAt } : {}),
            ...(lastSeenAliveAt !== undefined ? { lastSeenAliveAt } : {}),
            ...(expiresAt !== undefined ? { expiresAt } : {}),
          });

          // Act
          await store.create(record);
          const ttl = await storedTtl(tableName, record.id);

          // Assess
          if (state !== 'DELETED' || expiresAt === undefined) {
            expect(ttl).toBeUndefined();
            return;
          }
          expect(ttl).toBe(Math.ceil((expiresAt + TTL_GRACE_MS) / 1000));
          expect(ttl! * 1000).toBeGreaterThanOrEqual(
            Math.max(deletedAt ?? 0, lastSeenAliveAt ?? 0) + DAY,
          );
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('DynamoDB pool store: reads cost pages, not records', () => {
  it('reads every counter in one query, whatever the number of records, and no record', async () => {
    // Prepare: 7 READY over two zones and 4 ERROR
    const { store, other, client } = await isolated();
    await Promise.all([
      ...Array.from({ length: 7 }, (_, i) =>
        other.create(rec('READY', { id: `r${i}`, zone: i < 4 ? 'az-1' : 'az-2' })),
      ),
      ...Array.from({ length: 4 }, (_, i) =>
        other.create(rec('ERROR', { id: `e${i}`, zone: 'az-1' })),
      ),
    ]);
    const counter = countCommands(client);

    // Act
    const { counts } = await store.getPoolState();

    // Assess: the two zone items, in one page
    expect(counts).toStrictEqual({
      default: { 'az-1': { READY: 4, ERROR: 4 }, 'az-2': { READY: 3 } },
    });
    expect(counter.count('QueryCommand')).toBe(1);
    expect(counter.count('BatchGetItemCommand') + counter.count('GetItemCommand')).toBe(0);
  });

  it.each([
    ['in any zone', {}],
    ['in one zone', { zone: 'az-1' }],
  ])('lists the oldest records %s reading only the pages it needs', async (_case, where) => {
    // Prepare: 10 READY, 2 index entries per page
    const { store, other, client } = await isolated(2);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        other.create(rec('READY', { id: `r${i}`, zone: 'az-1', stateSince: T0 + i })),
      ),
    );
    const counter = countCommands(client);

    // Act
    const listed = await store.listByState('default', 'READY', { ...where, limit: 3 });

    // Assess
    expect(listed.map((r) => r.id)).toStrictEqual(['r0', 'r1', 'r2']);
    expect(counter.count('QueryCommand')).toBe(2);
    expect(counter.count('BatchGetItemCommand')).toBe(2);
  });

  it('skips a record that left the state after the index was read, and still fills the limit', async () => {
    // Prepare
    const { store, other, client } = await isolated();
    const records = Array.from({ length: 4 }, (_, i) =>
      rec('READY', { id: `r${i}`, stateSince: T0 + i }),
    );
    await Promise.all(records.map((r) => other.create(r)));
    intercept(client, 'BatchGetItemCommand', async (call) => {
      // Between the index page and the record read, r0 is claimed by someone else.
      if (call.call === 0)
        await other.update(
          transition(records[0]!, 'ALLOCATED', { now: T0, reason: 'CLAIMED' }),
          records[0]!,
        );
      return call.proceed();
    });

    // Act
    const listed = await store.listByState('default', 'READY', { limit: 2 });

    // Assess
    expect(listed.map((r) => r.id)).toStrictEqual(['r1', 'r2']);
  });
});

describe('DynamoDB pool store: batch reads', () => {
  it('reads every record even when DynamoDB leaves keys unprocessed (16 MB responses)', async () => {
    // Prepare: 48 records of about 380 KB each, more than one BatchGetItem response can carry
    const { store, other, client } = await isolated();
    const big = (id: string) =>
      rec('ERROR', {
        id,
        history: Array.from({ length: 20 }, (_, i) => ({
          at: T0 + i,
          from: 'READY' as const,
          to: 'ERROR' as const,
          reason: `${i}`.padEnd(19_000, 'x'),
        })),
      });
    const ids = Array.from({ length: 48 }, (_, i) => `big-${i}`);
    for (let i = 0; i < ids.length; i += 8)
      await Promise.all(ids.slice(i, i + 8).map((id) => other.create(big(id))));
    const counter = countCommands(client);

    // Act
    const found = await store.getMany(ids);

    // Assess
    expect(found.map((r) => r.id).sort()).toStrictEqual([...ids].sort());
    expect(found[0]!.history).toHaveLength(20);
    expect(counter.count('BatchGetItemCommand')).toBeGreaterThan(1);
  });

  it('gives up with an error when DynamoDB keeps every key unprocessed', async () => {
    // Prepare
    const { store, other, client, tableName } = await isolated();
    await other.create(rec('READY', { id: 'a' }));
    let rounds = 0;
    intercept<BatchGetItemCommandInput, BatchGetItemCommandOutput>(
      client,
      'BatchGetItemCommand',
      async (call) => {
        rounds += 1;
        return {
          $metadata: {},
          Responses: { [tableName]: [] },
          UnprocessedKeys: call.input.RequestItems!,
        };
      },
    );

    // Act
    const read = store.getMany(['a']);

    // Assess
    await expect(read).rejects.toThrow(/1 key\(s\) unprocessed after 6 rounds/);
    expect(rounds).toBe(6);
  });
});

describe('DynamoDB pool store: writes DynamoDB cannot take', () => {
  it.each([
    ['a negative stateSince', -1],
    ['a fractional stateSince', T0 + 0.5],
  ])('refuses a record with %s, which would sort wrongly', async (_case, stateSince) => {
    const { store } = await isolated();
    await expect(store.create(rec('READY', { id: 'a', stateSince }))).rejects.toThrow(RangeError);
    expect(await store.get('a')).toBeUndefined();
  });

  it.each<[string, (lease: number) => WriteGroup, RegExp]>([
    [
      'more writes than one transaction holds',
      () =>
        Array.from({ length: 50 }, (_, i) => ({
          kind: 'create' as const,
          record: rec('PENDING_CREATE', { id: `n${i}` }),
        })),
      /50 record writes; one transaction takes at most 49/,
    ],
    [
      'two writes of one record',
      () => [
        { kind: 'create', record: rec('PENDING_CREATE', { id: 'twice' }) },
        {
          kind: 'update',
          record: rec('BOOTING', { id: 'twice' }),
          expectedVersion: 3,
          expectedState: 'PENDING_CREATE',
        },
      ],
      /writes amphora twice twice/,
    ],
  ])(
    'refuses a commit with a group of %s before writing any group',
    async (_case, bad, message) => {
      // Prepare
      const { store } = await isolated();
      const lease = (await store.acquireLease('planner', T0, 1_000))!;
      const fine: WriteGroup = [{ kind: 'create', record: rec('PENDING_CREATE', { id: 'fine' }) }];

      // Act
      const commit = store.commit(lease, [fine, bad(lease.token)]);

      // Assess
      await expect(commit).rejects.toThrow(message);
      expect(await store.get('fine')).toBeUndefined();
    },
  );
});

describe('DynamoDB pool store: cancelled transactions', () => {
  const cancelled = (codes: string[]) =>
    new TransactionCanceledException({
      message: `Transaction cancelled [${codes.join(', ')}]`,
      $metadata: {},
      CancellationReasons: codes.map((Code) => ({ Code })),
    });

  it.each<[string, string[], 'conflict-a' | 'conflict-all' | 'rethrown']>([
    [
      'a write racing another transaction is that record’s conflict',
      ['None', 'TransactionConflict', 'None'],
      'conflict-a',
    ],
    [
      'the lease item racing another transaction fails the whole group',
      ['TransactionConflict', 'None', 'None'],
      'conflict-all',
    ],
    [
      'throttling that outlived the SDK’s retries is rethrown',
      ['None', 'ThrottlingError', 'None'],
      'rethrown',
    ],
    ['a validation error is rethrown', ['None', 'None', 'ValidationError'], 'rethrown'],
  ])('%s', async (_case, codes, outcome) => {
    // Prepare
    const { store, client } = await isolated();
    const lease = (await store.acquireLease('planner', T0, 1_000))!;
    intercept(client, 'TransactWriteItemsCommand', async () => {
      throw cancelled(codes);
    });
    const group: WriteGroup = [
      { kind: 'create', record: rec('PENDING_CREATE', { id: 'a' }) },
      { kind: 'create', record: rec('PENDING_CREATE', { id: 'b' }) },
    ];

    // Act
    const commit = store.commit(lease, [group]);

    // Assess
    if (outcome === 'rethrown') {
      await expect(commit).rejects.toBeInstanceOf(TransactionCanceledException);
      return;
    }
    expect(await commit).toStrictEqual([
      { status: 'conflict', amphoraIds: outcome === 'conflict-a' ? ['a'] : ['a', 'b'] },
    ]);
  });

  it('stops a commit whose lease is taken over between two groups, keeping the groups before', async () => {
    // Prepare
    const { store, other, client } = await isolated();
    const lease = (await store.acquireLease('old', T0, 1_000))!;
    intercept(client, 'TransactWriteItemsCommand', async (call) => {
      const output = await call.proceed();
      // After the first group, the lease expires and another planner takes it.
      if (call.call === 0) expect(await other.acquireLease('new', T0 + 5_000, 1_000)).toBeDefined();
      return output;
    });
    const create = (id: string): WriteGroup => [
      { kind: 'create', record: rec('PENDING_CREATE', { id }) },
    ];

    // Act
    const commit = store.commit(lease, [create('g1'), create('g2'), create('g3')]);

    // Assess
    await expect(commit).rejects.toBeInstanceOf(LeaseLostError);
    expect(await store.get('g1')).toBeDefined();
    expect(await store.get('g2')).toBeUndefined();
    expect(await store.get('g3')).toBeUndefined();
  });
});
