/**
 * A world backend on the real adapters: the DynamoDB pool store and cloud state on DynamoDB
 * Local, the SQS task queue and consumer on fauxqs. Domain time stays on the world's manual
 * clock; SQS delays and visibility run in real time, kept short by the run's configuration.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbCloudState } from '../../lib/adapters/dynamodb/dynamodb-cloud-state.ts';
import { DynamoDbPoolStore } from '../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { ATTR, recordFromItem } from '../../lib/adapters/dynamodb/items.ts';
import { SqsTaskConsumer } from '../../lib/adapters/sqs/sqs-task-consumer.ts';
import { SqsTaskQueue } from '../../lib/adapters/sqs/sqs-task-queue.ts';
import type { AmphoraRecord } from '../../lib/domain/amphora.ts';
import type { TaskQueue } from '../../lib/ports/task-queue.ts';
import { countCommands, type TestDynamo, type TestSqs, WRITE_COMMANDS } from './aws.ts';
import type { Backend } from './world.ts';

/** A fresh table and queue pair on running emulators, as a world backend. */
export async function emulatorBackend(
  dynamo: TestDynamo,
  sqs: TestSqs,
  options: { duplicateRate: number; random: () => number },
): Promise<Backend> {
  const tableName = await dynamo.newTable();
  // Short visibility: a crashed executor's messages come back within a second.
  const urls = await sqs.newQueues({ visibilityTimeoutSeconds: 1, maxReceiveCount: 10 });
  const storeClient = dynamo.newClient();
  const writes = countCommands(storeClient);
  const store = new DynamoDbPoolStore({ client: storeClient, tableName });
  const real = new SqsTaskQueue({ client: sqs.client, ...urls });
  let sent = 0;
  let deadLettered = 0;
  // Standard queues deliver at least once: some sends arrive twice.
  const queue: TaskQueue = {
    async send(tasks) {
      sent += tasks.length;
      await real.send(tasks);
      const again = tasks.filter(() => options.random() < options.duplicateRate);
      if (again.length > 0) await real.send(again);
    },
    async deadLetter(body, reason, receiveCount) {
      deadLettered += 1;
      await real.deadLetter(body, reason, receiveCount);
    },
  };
  const records = async (): Promise<AmphoraRecord[]> => {
    const out: AmphoraRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamo.client.send(
        new ScanCommand({
          TableName: tableName,
          ConsistentRead: true,
          FilterExpression: 'begins_with(#pk, :amphora)',
          ExpressionAttributeNames: { '#pk': ATTR.pk },
          ExpressionAttributeValues: { ':amphora': { S: 'AMPHORA#' } },
          ...(start ? { ExclusiveStartKey: start as never } : {}),
        }),
      );
      for (const item of page.Items ?? []) out.push(recordFromItem(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  };
  return {
    store,
    queue,
    source: new SqsTaskConsumer({
      client: sqs.client,
      queueUrl: urls.queueUrl,
      waitTimeSeconds: 0,
    }),
    cloud: new DynamoDbCloudState({ client: dynamo.client, tableName }),
    records,
    counts: async () => (await store.getPoolState()).counts,
    writes: () => WRITE_COMMANDS.reduce((n, c) => n + writes.count(c), 0),
    sent: () => sent,
    deadLettered: () => deadLettered,
    close: async () => {
      writes.remove();
    },
  };
}
