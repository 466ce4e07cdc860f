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
import { POOL_TABLE } from '../../config/deployment.ts';

export {
  BY_EXPIRY,
  BY_ID,
  BY_STATE_AGE,
  BY_STATE_ZONE,
  type IndexDefinition,
  type KeyAttribute,
  POOL_TABLE,
  PRESERVED_QUEUE,
  type TableDefinition,
} from '../../config/deployment.ts';

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
