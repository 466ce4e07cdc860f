/**
 * The Lambda handlers, called as the Lambda runtime calls them (a ScheduledEvent, an SQSEvent
 * built from real messages, a Lambda-like context), on DynamoDB Local and fauxqs.
 */
import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, ScheduledEvent, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { executorHandler, TIMEOUT_EARLY_MS } from '../../functions/executor-handler.ts';
import { executorRuntimeFromEnv } from '../../functions/executor-runtime.ts';
import { plannerHandler } from '../../functions/planner-handler.ts';
import { plannerRuntimeFromEnv } from '../../functions/planner-runtime.ts';
import { DynamoDbPoolStore } from '../../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { configChecksum, METRICS } from '../../lib/config/deployment.ts';
import { ENV } from '../../lib/config/env.ts';
import { ConfigError, configToRaw, parseConfig } from '../../lib/config/schema.ts';
import { UnavailableError } from '../../lib/domain/errors.ts';
import { TASK_SCHEMA_VERSION } from '../../lib/domain/tasks.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../lib/local/emulators.ts';
import type { AmphoraDriver } from '../../lib/ports/amphora-driver.ts';
import { startTestDynamo, startTestSqs, type TestDynamo, type TestSqs } from '../support/aws.ts';
import { rec } from '../support/pool-fixtures.ts';

let dynamo: TestDynamo;
let sqs: TestSqs;

beforeAll(async () => {
  [dynamo, sqs] = await Promise.all([startTestDynamo(), startTestSqs()]);
  // The SDK reads the region and credentials from the process environment, as in Lambda.
  vi.stubEnv('AWS_REGION', LOCAL_REGION);
  vi.stubEnv('AWS_ACCESS_KEY_ID', LOCAL_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', LOCAL_CREDENTIALS.secretAccessKey);
}, 60_000);

afterAll(async () => {
  vi.unstubAllEnvs();
  await Promise.all([dynamo?.stop(), sqs?.stop()]);
});

async function environment(config: Record<string, unknown> = {}) {
  const table = await dynamo.newTable();
  const urls = await sqs.newQueues({ visibilityTimeoutSeconds: 30 });
  return {
    table,
    ...urls,
    env: {
      [ENV.config]: JSON.stringify({ spare_amphora_pool_size: 2, ...config }),
      [ENV.tableName]: table,
      [ENV.queueUrl]: urls.queueUrl,
      [ENV.deadLetterQueueUrl]: urls.deadLetterQueueUrl,
      [ENV.dynamodbEndpoint]: dynamo.endpoint,
      [ENV.sqsEndpoint]: sqs.endpoint,
    },
  };
}

function context(remainingMs = 60_000): Context {
  return {
    awsRequestId: randomUUID(),
    functionName: 'test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:test',
    memoryLimitInMB: '256',
    logGroupName: '/aws/lambda/test',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => remainingMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** Captures what Powertools prints (JSON log lines and EMF blobs) during `body`. */
async function captureStdout<T>(body: () => Promise<T>): Promise<{ result: T; lines: unknown[] }> {
  const lines: unknown[] = [];
  const keep = (chunk: unknown) => {
    for (const line of String(chunk).split('\n')) {
      if (line.trim().startsWith('{')) lines.push(JSON.parse(line));
    }
    return true;
  };
  // Warnings and errors go to stderr: keep them too, out of the test output.
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(keep),
    vi.spyOn(process.stderr, 'write').mockImplementation(keep),
  ];
  try {
    return { result: await body(), lines };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

/** Receives `n` real messages and shapes them as the SQS event source would. */
async function sqsEvent(queueUrl: string, n: number): Promise<SQSEvent> {
  const records: SQSEvent['Records'] = [];
  for (let i = 0; i < 20 && records.length < n; i++) {
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    for (const m of Messages) {
      records.push({
        messageId: m.MessageId!,
        receiptHandle: m.ReceiptHandle!,
        body: m.Body!,
        attributes: {
          ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
          SentTimestamp: '0',
          SenderId: 'test',
          ApproximateFirstReceiveTimestamp: '0',
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:tasks',
        awsRegion: LOCAL_REGION,
      });
    }
  }
  return { Records: records };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each([
  ['planner', plannerRuntimeFromEnv],
  ['executor', executorRuntimeFromEnv],
] as const)('cold start of the %s', (_name, runtimeFromEnv) => {
  it('refuses a bad configuration with the schema’s message, naming every field', () => {
    expect(() =>
      runtimeFromEnv({
        [ENV.config]: JSON.stringify({ housekeeping_interval: 30, preservation_scheme: 'lru' }),
        [ENV.tableName]: 't',
        [ENV.queueUrl]: 'q',
        [ENV.deadLetterQueueUrl]: 'd',
      }),
    ).toThrow(
      'invalid configuration (2 problems):\n' +
        '  - housekeeping_interval = 30: must be at least 60 seconds\n' +
        '  - preservation_scheme = "lru": must be one of keep, cycle',
    );
  });

  it('names a missing resource variable', () => {
    expect(() => runtimeFromEnv({ [ENV.queueUrl]: 'q', [ENV.deadLetterQueueUrl]: 'd' })).toThrow(
      new ConfigError([
        { field: ENV.tableName, value: undefined, rule: 'is required (set by the CDK stack)' },
      ]),
    );
  });
});

describe('entry points', () => {
  it.each(['planner', 'executor'])(
    'the %s module parses the configuration when Lambda loads it, failing a bad one at once',
    async (name) => {
      const { env } = await environment();
      for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
      vi.resetModules();
      const loaded = await import(`../../functions/${name}.ts`);
      expect(typeof loaded.handler).toBe('function');

      vi.stubEnv(ENV.config, JSON.stringify({ maximum_deploying_amphora_count: 0 }));
      vi.resetModules();
      await expect(import(`../../functions/${name}.ts`)).rejects.toThrow(
        'maximum_deploying_amphora_count = 0: must be at least 1',
      );
      for (const k of Object.keys(env)) vi.stubEnv(k, undefined);
    },
  );
});

describe('entry points, deployed configuration', () => {
  it.each(['planner', 'executor'])(
    'the %s module trusts the configuration the stack validated, and validates one edited since in full',
    async (name) => {
      const { env } = await environment();
      const json = JSON.stringify(configToRaw(parseConfig({ spare_amphora_pool_size: 2 })));
      for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
      vi.stubEnv(ENV.config, json);
      vi.stubEnv(ENV.configChecksum, configChecksum(json));
      vi.resetModules();
      const loaded = await import(`../../functions/${name}.ts`);
      expect(typeof loaded.handler).toBe('function');

      // Edited in the console after the deploy: the checksum is the old value's.
      vi.stubEnv(ENV.config, JSON.stringify({ ...JSON.parse(json), executor_batch_size: 0 }));
      vi.resetModules();
      await expect(import(`../../functions/${name}.ts`)).rejects.toThrow(
        'executor_batch_size = 0: must be at least 1',
      );
      for (const k of [...Object.keys(env), ENV.configChecksum]) vi.stubEnv(k, undefined);
    },
  );
});

describe('planner handler', () => {
  it('runs one cycle per scheduled event, logging the pool and publishing EMF metrics', async () => {
    const { env, table } = await environment();
    const handler = plannerHandler(plannerRuntimeFromEnv(env));
    const event = { 'detail-type': 'Scheduled Event', source: 'aws.events' } as ScheduledEvent;

    const { result, lines } = await captureStdout(() => handler(event, context()));

    // Two creates, the first sweep, and the zone's fleet noted current (no task).
    expect(result).toMatchObject({
      status: 'applied',
      decisions: 4,
      applied: 4,
      tasksSent: 3,
      spareReady: 0,
      spareTarget: 2,
    });
    const store = new DynamoDbPoolStore({ client: dynamo.client, tableName: table });
    expect((await store.listByState('default', 'PENDING_CREATE')).length).toBe(2);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'spare pool',
        spareReady: 0,
        spareTarget: 2,
      }),
    );
    const emf = lines.filter((l) => (l as { _aws?: unknown })._aws) as Array<
      Record<string, unknown>
    >;
    expect(emf.some((b) => b.SparePoolSize === 0 && b.Pool === 'default')).toBe(true);
    expect(emf.some((b) => b.SparePoolTarget === 2 && b.Pool === 'default')).toBe(true);
    expect(emf.some((b) => b.State === 'READY' && b.AmphoraCount === 0)).toBe(true);
    // Every metric of the deployment contract that the planner emits is in its EMF output.
    const plannerMetrics = Object.values(METRICS).filter((m) => m.emittedBy === 'planner');
    const emitted = new Set(emf.flatMap((b) => Object.keys(b)));
    const missing = plannerMetrics
      .map((m) => m.name)
      .filter((n) => !emitted.has(n) && !['PlannerLeaseBusy', 'PlannerWriteConflict'].includes(n));
    expect(missing).toStrictEqual([]);
  });

  it('fails the invocation when the store fails, so that alarms fire', async () => {
    const { env } = await environment();
    const runtime = plannerRuntimeFromEnv(env);
    runtime.store.getPoolState = async () => {
      throw new Error('DynamoDB is down');
    };
    const handler = plannerHandler(runtime);

    await expect(captureStdout(() => handler({} as ScheduledEvent, context()))).rejects.toThrow(
      'DynamoDB is down',
    );
  });
});

describe('executor handler', () => {
  it('runs a batch, dead-letters a malformed message and reports only the retry as failed', async () => {
    const { env, table, queueUrl, deadLetterQueueUrl } = await environment();
    const runtime = executorRuntimeFromEnv(env);
    const store = new DynamoDbPoolStore({ client: dynamo.client, tableName: table });
    const ok = rec('PENDING_CREATE', {
      id: randomUUID(),
      version: 1,
      task: { type: 'CREATE', issuedAt: 0, reissues: 0, polls: 0 },
    });
    const flaky = rec('PENDING_CREATE', {
      id: randomUUID(),
      version: 1,
      task: { type: 'CREATE', issuedAt: 0, reissues: 0, polls: 0 },
    });
    await store.create(ok);
    await store.create(flaky);
    const real = await runtime.driver(silent);
    const driver: AmphoraDriver = Object.assign(Object.create(real), {
      createServer: async (...args: Parameters<AmphoraDriver['createServer']>) => {
        if (args[0].amphoraId === flaky.id) throw new UnavailableError('nova answered 503');
        return real.createServer(...args);
      },
    });
    const handler = executorHandler({ ...runtime, driver: async () => driver });
    await runtime.queue.send(
      [ok, flaky].map((r) => ({
        task: {
          v: TASK_SCHEMA_VERSION,
          type: 'CREATE' as const,
          taskId: randomUUID(),
          issuedAt: 0,
          amphoraId: r.id,
          version: 1,
        },
      })),
    );
    await sqs.client.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"v":1,"type":"EXPLODE"}' }),
    );
    const event = await sqsEvent(queueUrl, 3);
    const flakyMessage = event.Records.find((r) => r.body.includes(flaky.id))!;

    const { result } = await captureStdout(() => handler(event, context()));

    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: flakyMessage.messageId }] });
    expect((await store.get(ok.id))!.state).toBe('BOOTING');
    expect((await store.get(flaky.id))!.state).toBe('PENDING_CREATE');
    const dead = await sqsEvent(deadLetterQueueUrl, 1);
    expect(dead.Records.map((r) => r.body)).toEqual(['{"v":1,"type":"EXPLODE"}']);
  });

  it('passes the abort signal that fires just before the Lambda timeout down to driver calls', async () => {
    const { env, table, queueUrl } = await environment();
    const runtime = executorRuntimeFromEnv(env);
    const store = new DynamoDbPoolStore({ client: dynamo.client, tableName: table });
    const r = rec('PENDING_CREATE', {
      id: randomUUID(),
      version: 1,
      task: { type: 'CREATE', issuedAt: 0, reissues: 0, polls: 0 },
    });
    await store.create(r);
    let sawAbort = false;
    const real = await runtime.driver(silent);
    const slow: AmphoraDriver = Object.assign(Object.create(real), {
      listServers: (_filter: unknown, options?: { signal?: AbortSignal }) =>
        new Promise((_resolve, reject) => {
          options?.signal?.addEventListener('abort', () => {
            sawAbort = true;
            reject(new UnavailableError('aborted before the Lambda timeout'));
          });
        }),
    });
    const handler = executorHandler({ ...runtime, driver: async () => slow });
    await runtime.queue.send([
      {
        task: {
          v: TASK_SCHEMA_VERSION,
          type: 'CREATE',
          taskId: randomUUID(),
          issuedAt: 0,
          amphoraId: r.id,
          version: 1,
        },
      },
    ]);
    const event = await sqsEvent(queueUrl, 1);

    const { result } = await captureStdout(() => handler(event, context(TIMEOUT_EARLY_MS + 200)));

    expect(sawAbort).toBe(true);
    expect(result).toEqual({
      batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }],
    });
  });
});

const silent = { debug() {}, info() {}, warn() {}, error() {} };
