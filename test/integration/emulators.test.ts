/**
 * The local emulators as the local runner uses them: a persistent DynamoDB folder that survives
 * a restart, the table and queues they create, and DynamoDB Local never outliving whoever
 * started it (clean stop, failed start, or a parent that dies without a word).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbPoolStore } from '../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { createTable, POOL_TABLE } from '../../lib/adapters/dynamodb/table.ts';
import {
  freePort,
  type LocalEmulators,
  localClientConfig,
  startDynamoDbLocal,
  startLocalEmulators,
} from '../../lib/local/emulators.ts';
import { rec } from '../support/pool-fixtures.ts';

const EMULATORS = fileURLToPath(new URL('../../lib/local/emulators.ts', import.meta.url));
const folders: string[] = [];
const running: LocalEmulators[] = [];

afterAll(async () => {
  await Promise.all(running.map((e) => e.stop()));
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function javaPidIn(error: unknown): number | undefined {
  const match = /java-pid (\d+)/.exec(String(error));
  return match ? Number(match[1]) : undefined;
}

describe('local emulators', () => {
  it('keep DynamoDB data in a folder across a restart, with the table and queues ready', async () => {
    // Prepare
    const dbPath = mkdtempSync(join(tmpdir(), 'ahk-dynamodb-'));
    folders.push(dbPath);
    const first = await startLocalEmulators({ dbPath, maxReceiveCount: 3 });
    running.push(first);
    const record = rec('READY', { id: 'kept' });
    const client1 = new DynamoDBClient(localClientConfig(first.dynamodb.endpoint));
    await new DynamoDbPoolStore({ client: client1, tableName: first.dynamodb.tableName }).create(
      record,
    );
    client1.destroy();

    // Act
    await first.stop();
    const stoppedJava = first.dynamodb.pid;
    const second = await startLocalEmulators({ dbPath, maxReceiveCount: 3 });
    running.push(second);

    // Assess
    expect(alive(stoppedJava)).toBe(false);
    expect(second.dynamodb.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(second.sqs.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const dynamo = new DynamoDBClient(localClientConfig(second.dynamodb.endpoint));
    const sqs = new SQSClient(localClientConfig(second.sqs.endpoint));
    try {
      const store = new DynamoDbPoolStore({ client: dynamo, tableName: second.dynamodb.tableName });
      expect(await store.get('kept')).toStrictEqual(record);
      const { Table } = await dynamo.send(
        new DescribeTableCommand({ TableName: second.dynamodb.tableName }),
      );
      expect((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName).sort()).toStrictEqual(
        POOL_TABLE.globalSecondaryIndexes.map((i) => i.indexName).sort(),
      );
      const { TimeToLiveDescription } = await dynamo.send(
        new DescribeTimeToLiveCommand({ TableName: second.dynamodb.tableName }),
      );
      expect(TimeToLiveDescription).toMatchObject({
        AttributeName: POOL_TABLE.timeToLiveAttribute,
        TimeToLiveStatus: 'ENABLED',
      });
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: second.sqs.queueUrl, AttributeNames: ['All'] }),
      );
      expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toMatchObject({ maxReceiveCount: 3 });
      expect(Attributes?.VisibilityTimeout).toBe('30');

      // A table left by an older design is refused, not misread.
      await dynamo.send(
        new CreateTableCommand({
          TableName: 'old-design',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
      await expect(createTable(dynamo, 'old-design')).rejects.toThrow(
        /exists without the index\(es\) byStateZone, byStateAge, preservedQueue/,
      );
    } finally {
      dynamo.destroy();
      sqs.destroy();
      await second.stop();
    }
  });

  it('kill DynamoDB Local when the process that started it dies without a word', async () => {
    // Prepare: a child Node process starts DynamoDB Local and reports Java's pid
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '--no-warnings',
        '-e',
        `const { startDynamoDbLocal } = await import(${JSON.stringify(EMULATORS)});
         const local = await startDynamoDbLocal();
         console.log('pid', local.pid);
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const javaPid = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /pid (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
    });
    expect(alive(javaPid)).toBe(true);

    // Act
    child.kill('SIGKILL');

    // Assess
    expect(await gone(javaPid, 10_000)).toBe(true);
  });

  it('refuse a fixed port that is taken, leaving no Java behind', async () => {
    // Prepare
    const port = await freePort();
    const blocker: Server = createServer();
    // Java binds every interface, so only a wildcard listener stands in its way.
    await new Promise<void>((r) => blocker.listen(port, '0.0.0.0', r));

    try {
      // Act
      const error = await startDynamoDbLocal({ port }).then(
        () => undefined,
        (e: unknown) => e,
      );

      // Assess
      expect(String(error)).toMatch(
        new RegExp(`exited \\(code \\d+\\) before answering on port ${port}`),
      );
      const pid = javaPidIn(error);
      expect(pid).toBeDefined();
      expect(await gone(pid!, 5_000)).toBe(true);
    } finally {
      blocker.close();
    }
  });

  it('give up on a DynamoDB Local that does not answer in time, leaving no Java behind', async () => {
    // Act
    const error = await startDynamoDbLocal({ startTimeoutMs: 400 }).then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(String(error)).toMatch(/did not answer on port \d+ in time/);
    const pid = javaPidIn(error);
    expect(pid).toBeDefined();
    expect(await gone(pid!, 5_000)).toBe(true);
  });

  it('say plainly that Java is missing', async () => {
    await expect(startDynamoDbLocal({ javaPath: '/nonexistent/java' })).rejects.toThrow(
      /could not run \/nonexistent\/java: DynamoDB Local needs Java 17 or later/,
    );
  });
});
