/**
 * The housekeeper's DynamoDB table, as plain data: the CDK app, the local emulators and the tests
 * all create the very same table from {@link POOL_TABLE}. The item layout and every access
 * pattern are described in docs/dynamodb-table.md.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

/** A key attribute of the table or of an index (DynamoDB's and CDK's `AttributeType.STRING` is `'S'`). */
export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S';
}

/** A global secondary index (CDK's `ProjectionType.KEYS_ONLY` is `'KEYS_ONLY'`). */
export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  readonly projectionType: 'KEYS_ONLY';
}

/** The table definition: keys, indexes, TTL attribute and billing mode. */
export interface TableDefinition {
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  readonly globalSecondaryIndexes: readonly IndexDefinition[];
  /** Epoch SECONDS after which DynamoDB may delete the item (set on DELETED records only). */
  readonly timeToLiveAttribute: string;
  readonly billingMode: 'PAY_PER_REQUEST';
}

/** Records by state, then zone, then age: per-zone counts from keys alone, per-zone oldest-first lists. */
export const BY_STATE_ZONE = {
  indexName: 'byStateZone',
  partitionKey: { name: 'gsiState', type: 'S' },
  sortKey: { name: 'gsiZoneAge', type: 'S' },
  projectionType: 'KEYS_ONLY',
} as const satisfies IndexDefinition;

/** Records by state, then age across zones: the oldest records of a state in any zone. */
export const BY_STATE_AGE = {
  indexName: 'byStateAge',
  partitionKey: { name: 'gsiState', type: 'S' },
  sortKey: { name: 'gsiAge', type: 'S' },
  projectionType: 'KEYS_ONLY',
} as const satisfies IndexDefinition;

/** Sparse index of the preserved queue (PRESERVING and PRESERVED records only), by queue position. */
export const PRESERVED_QUEUE = {
  indexName: 'preservedQueue',
  partitionKey: { name: 'gsiQueue', type: 'S' },
  sortKey: { name: 'gsiQueueSeq', type: 'S' },
  projectionType: 'KEYS_ONLY',
} as const satisfies IndexDefinition;

/** The pool table: one table for records, lease, pool statistics, orphan marks and the noop cloud. */
export const POOL_TABLE = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [BY_STATE_ZONE, BY_STATE_AGE, PRESERVED_QUEUE],
  timeToLiveAttribute: 'ttl',
  billingMode: 'PAY_PER_REQUEST',
} as const satisfies TableDefinition;

/** The CreateTable request for {@link POOL_TABLE} under `tableName`. */
export function createTableInput(tableName: string): CreateTableCommandInput {
  const t = POOL_TABLE;
  const keyAttributes = new Map<string, 'S'>();
  for (const key of [
    t.partitionKey,
    t.sortKey,
    ...t.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey]),
  ]) {
    keyAttributes.set(key.name, key.type);
  }
  return {
    TableName: tableName,
    BillingMode: t.billingMode,
    AttributeDefinitions: [...keyAttributes].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType,
    })),
    KeySchema: [
      { AttributeName: t.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: t.sortKey.name, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: t.globalSecondaryIndexes.map((i) => ({
      IndexName: i.indexName,
      KeySchema: [
        { AttributeName: i.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: i.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: i.projectionType },
    })),
  };
}

/**
 * Creates the table and turns TTL on, for local and test use (deployed stacks get it from CDK).
 * An existing table is kept when it has every index, so a persistent local folder survives
 * restarts; one made by an older design is refused rather than silently misread.
 */
export async function createTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(createTableInput(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
    const missing = POOL_TABLE.globalSecondaryIndexes
      .map((i) => i.indexName)
      .filter((name) => !present.has(name));
    if (missing.length > 0) {
      throw new Error(
        `table ${tableName} exists without the index(es) ${missing.join(', ')}; delete it (or the local data folder) to recreate it`,
      );
    }
    return;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: tableName });
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: POOL_TABLE.timeToLiveAttribute, Enabled: true },
    }),
  );
}
