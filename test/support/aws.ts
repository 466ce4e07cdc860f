/**
 * Emulators for integration tests (one per test file, a fresh table or queue pair per test) and
 * two client seams: a command counter, and an interceptor that injects the faults an emulator
 * cannot produce (a retryable partial batch failure, a racing write between two requests).
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createTable } from '../../lib/adapters/dynamodb/table.ts';
import {
  createTaskQueues,
  localClientConfig,
  startDynamoDbLocal,
  startSqsEmulator,
  type TaskQueueOptions,
  type TaskQueueUrls,
} from '../../lib/local/emulators.ts';

/** DynamoDB Local for one test file. */
export interface TestDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  /** Another client of the same emulator (destroyed by `stop()`), for per-test interceptors. */
  newClient(): DynamoDBClient;
  /** Creates a new, empty pool table and returns its name. */
  newTable(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts DynamoDB Local in memory; `stop()` kills it (call it in `afterAll`). */
export async function startTestDynamo(): Promise<TestDynamo> {
  const local = await startDynamoDbLocal();
  const client = new DynamoDBClient(localClientConfig(local.endpoint));
  const clients = [client];
  return {
    endpoint: local.endpoint,
    client,
    newClient() {
      const another = new DynamoDBClient(localClientConfig(local.endpoint));
      clients.push(another);
      return another;
    },
    async newTable() {
      const name = `pool-${randomUUID()}`;
      await createTable(client, name);
      return name;
    },
    async stop() {
      for (const c of clients) c.destroy();
      await local.stop();
    },
  };
}

/** fauxqs for one test file. */
export interface TestSqs {
  readonly endpoint: string;
  readonly client: SQSClient;
  /** Another client of the same emulator (destroyed by `stop()`), for per-test interceptors. */
  newClient(): SQSClient;
  /** Creates a new task queue and DLQ (defaults: visibility 30 s, maxReceiveCount 5). */
  newQueues(
    options?: Partial<Omit<TaskQueueOptions, 'queueName' | 'deadLetterQueueName'>>,
  ): Promise<TaskQueueUrls>;
  stop(): Promise<void>;
}

/** Starts fauxqs in process; `stop()` closes it (call it in `afterAll`). */
export async function startTestSqs(): Promise<TestSqs> {
  const sqs = await startSqsEmulator();
  const client = new SQSClient(localClientConfig(sqs.endpoint));
  const clients = [client];
  return {
    endpoint: sqs.endpoint,
    client,
    newClient() {
      const another = new SQSClient(localClientConfig(sqs.endpoint));
      clients.push(another);
      return another;
    },
    newQueues(options = {}) {
      const name = `tasks-${randomUUID()}`;
      return createTaskQueues(client, {
        queueName: name,
        deadLetterQueueName: `${name}-dlq`,
        maxReceiveCount: options.maxReceiveCount ?? 5,
        visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
      });
    },
    async stop() {
      for (const c of clients) c.destroy();
      await sqs.stop();
    },
  };
}

/** Any SDK v3 client (its middleware stack is all these seams need). */
type AnyClient = DynamoDBClient | SQSClient;

/** The part of an SDK middleware stack used here; the clients' own types do not unify. */
interface Stack {
  add(middleware: unknown, options: { step: 'initialize'; name: string }): void;
  remove(name: string): boolean;
}

function stackOf(client: AnyClient): Stack {
  return client.middlewareStack as unknown as Stack;
}

/** The DynamoDB commands that write. */
export const WRITE_COMMANDS: readonly string[] = [
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'TransactWriteItemsCommand',
  'BatchWriteItemCommand',
];

/** Counts the commands a client sends, by command name (e.g. `QueryCommand`). */
export function countCommands(client: AnyClient): {
  count(commandName: string): number;
  reset(): void;
  remove(): void;
} {
  const counts = new Map<string, number>();
  const name = `count-commands-${randomUUID()}`;
  stackOf(client).add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: unknown) => {
        const command = context.commandName ?? '?';
        counts.set(command, (counts.get(command) ?? 0) + 1);
        return next(args);
      },
    { step: 'initialize', name },
  );
  return {
    count: (commandName) => counts.get(commandName) ?? 0,
    reset: () => counts.clear(),
    remove: () => {
      stackOf(client).remove(name);
    },
  };
}

/** What an interceptor sees of one command: its input, and the way on to the emulator. */
export interface Intercepted<I = Record<string, unknown>, O = Record<string, unknown>> {
  /** How many commands of this name were intercepted before this one. */
  readonly call: number;
  readonly input: I;
  /** Sends `input` (possibly changed) on to the emulator. */
  proceed(input?: I): Promise<O>;
}

/**
 * Routes every command of `commandName` through `handler`, which may change the input, the
 * output, or throw. @returns a function that removes the interceptor.
 */
export function intercept<I = Record<string, unknown>, O = Record<string, unknown>>(
  client: AnyClient,
  commandName: string,
  handler: (call: Intercepted<I, O>) => Promise<O>,
): () => void {
  const name = `intercept-${randomUUID()}`;
  let calls = 0;
  stackOf(client).add(
    (
      next: (args: { input: I }) => Promise<{ output: O; response: unknown }>,
      context: { commandName?: string },
    ) =>
      async (args: { input: I }) => {
        if (context.commandName !== commandName) return next(args);
        let response: unknown;
        const output = await handler({
          call: calls++,
          input: args.input,
          proceed: async (input = args.input) => {
            const result = await next({ ...args, input });
            response = result.response;
            return result.output;
          },
        });
        return { output, response };
      },
    { step: 'initialize', name },
  );
  return () => {
    stackOf(client).remove(name);
  };
}
