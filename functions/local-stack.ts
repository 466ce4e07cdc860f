/**
 * Wires the stacks the CLI works on: the local one (DynamoDB Local keeping its data in
 * `.local/`, fauxqs for SQS, the noop driver's cloud in the same table) and a deployed one (the
 * real table and queues named by environment variables). Part of the composition root: reads
 * files and the environment, builds SDK clients.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { parse as parseYaml } from 'yaml';
import { DynamoDbCloudState } from '../lib/adapters/dynamodb/dynamodb-cloud-state.ts';
import { DynamoDbIdempotencyStore } from '../lib/adapters/dynamodb/dynamodb-idempotency-store.ts';
import { DynamoDbPoolStore } from '../lib/adapters/dynamodb/dynamodb-pool-store.ts';
import { createTable } from '../lib/adapters/dynamodb/table.ts';
import { SqsDeadLetterQueue } from '../lib/adapters/sqs/sqs-dead-letter-queue.ts';
import { SqsTaskConsumer } from '../lib/adapters/sqs/sqs-task-consumer.ts';
import { SqsTaskQueue } from '../lib/adapters/sqs/sqs-task-queue.ts';
import { systemClock } from '../lib/adapters/system-clock.ts';
import { configFromEnv, ENV } from '../lib/config/env.ts';
import { ConfigSourceError, type HousekeeperConfig } from '../lib/config/schema.ts';
import { AMPHORA_STATES } from '../lib/domain/amphora.ts';
import { HousekeeperError } from '../lib/domain/errors.ts';
import { countOf } from '../lib/domain/pool.ts';
import { NoopCloudControl } from '../lib/drivers/noop/noop-driver.ts';
import {
  credentialsFromCloudsYaml,
  credentialsFromEnv,
  type OpenStackCredentials,
} from '../lib/drivers/openstack/credentials.ts';
import { OpenStackDriver } from '../lib/drivers/openstack/openstack-driver.ts';
import {
  createTaskQueues,
  localClientConfig,
  localTaskQueueOptions,
  startDynamoDbLocal,
  startSqsEmulator,
} from '../lib/local/emulators.ts';
import { ownerAlive, takeLocalOwnership, thisProcess } from '../lib/local/local-owner.ts';
import type { LocalStack } from '../lib/local/local-runner.ts';
import type { AmphoraDriver } from '../lib/ports/amphora-driver.ts';
import type { CloudStateStore } from '../lib/ports/cloud-state.ts';
import type { IdempotencyStore } from '../lib/ports/idempotency-store.ts';
import type { PoolStore } from '../lib/ports/pool-store.ts';
import type { DeadLetterQueue } from '../lib/ports/task-queue.ts';
import type { Logger } from '../lib/ports/telemetry.ts';
import { noMetrics } from '../lib/ports/telemetry.ts';
import { awsClients } from './aws-runtime.ts';
import { noopDriverFor } from './noop-driver.ts';

/** A stack the CLI works on, closed when the command is done. */
export interface OpenStack extends Omit<LocalStack, 'driver' | 'source'> {
  /** The driver and the queue poller, where this process may run executors (local only). */
  readonly executor?: Pick<LocalStack, 'driver' | 'source'>;
  /** Control over the simulated cloud, when the driver is noop. */
  readonly control?: NoopCloudControl;
  /** The task queue's dead-letter queue, for the operator. */
  readonly deadLetters: DeadLetterQueue;
  /** The claims API's idempotency records (in the pool table), where this stack serves the API. */
  readonly idempotency?: IdempotencyStore;
  /** The claims API's URL, for a deployed stack whose URL is known (`HOUSEKEEPER_API_URL`). */
  readonly apiUrl?: string;
  /** What the stack is, for messages: `local (running)`, `local`, `aws`. */
  readonly description: string;
  /** Whether an executor is consuming this stack's queue (a running local run or AWS). */
  readonly executorsRunning: boolean;
  close(): Promise<void>;
}

/** Where the local run keeps its data and how to find a running one. */
export const LOCAL_DIR = '.local';
const TABLE = 'amphora-housekeeper';

interface RunningLocal {
  readonly pid: number;
  /** The process's start time, so that a reused PID is not taken for the run. */
  readonly startedAt?: string;
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
}

function runningFile(dir: string) {
  return join(dir, 'running.json');
}

/**
 * The local run this machine is running now, if any: its process is alive and is still the
 * process that wrote the file (PID and start time). A stale file is removed, with a message.
 */
export function runningLocal(
  dir = LOCAL_DIR,
  say: (message: string) => void = () => {},
): RunningLocal | undefined {
  const file = runningFile(dir);
  if (!existsSync(file)) return undefined;
  let running: RunningLocal;
  try {
    running = JSON.parse(readFileSync(file, 'utf8')) as RunningLocal;
  } catch {
    return undefined; // being written
  }
  if (ownerAlive(running)) return running;
  say(
    `removing a stale ${file}: the local run it names (pid ${running.pid}) is gone${running.startedAt !== undefined ? ' or is another process now' : ''}`,
  );
  rmSync(file, { force: true });
  return undefined;
}

/**
 * Refuses to start a local run while another one runs (called before anything is started or
 * printed, and again when the stack opens).
 * @throws HousekeeperError naming the running one.
 */
export function refuseSecondRun(
  running: Pick<RunningLocal, 'pid'> | undefined = runningLocal(),
): void {
  if (!running) return;
  throw new HousekeeperError(
    `a local run is already running (pid ${running.pid}); stop it first, or use the other housekeeper commands against it`,
  );
}

/** How long a command waits for another process that has the local data open. */
const OWNER_WAIT_MS = 120_000;

/** The file holding the configuration a local run last used. */
export function savedConfigFile(dir = LOCAL_DIR): string {
  return join(dir, 'config.json');
}

/**
 * The configuration a local run last used (saved so that other commands agree with it).
 * @throws ConfigSourceError when the file is not a JSON object.
 */
export function savedLocalConfig(dir = LOCAL_DIR): Record<string, unknown> | undefined {
  const file = savedConfigFile(dir);
  if (!existsSync(file)) return undefined;
  return readJsonObject(
    file,
    readFileSync(file, 'utf8'),
    'the next local run writes it again; remove it to use the local defaults until then',
  );
}

/**
 * The JSON object a configuration file holds.
 * @param remedy what to do about a bad file, appended to the message.
 * @throws ConfigSourceError when the text is not JSON, or not an object.
 */
export function readJsonObject(
  file: string,
  text: string,
  remedy?: string,
): Record<string, unknown> {
  const fix = remedy ? `; ${remedy}` : '';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigSourceError(`${file}: is not valid JSON (${(error as Error).message})${fix}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigSourceError(`${file}: must hold a JSON object of options${fix}`);
  }
  return value as Record<string, unknown>;
}

/** Saves the configuration of a local run for later commands. */
export function saveLocalConfig(raw: Record<string, unknown>, dir = LOCAL_DIR): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(savedConfigFile(dir), `${JSON.stringify(raw, null, 2)}\n`);
}

/**
 * Refuses a local run whose driver is not the one that made the pool in the local data: the
 * openstack driver would send the noop driver's invented server ids to the real cloud, and the
 * noop driver would take a real pool's servers for lost ones. Data no local run saved a driver
 * for was made by other commands (`status` in a fresh folder, `cycle --drain`), with the noop
 * driver: it belongs to it only when its pool holds amphorae, which `poolInUse` says once the
 * data is open (before that, such data is let through).
 * @throws ConfigSourceError naming both drivers and the way out.
 */
export function checkLocalDataDriver(driver: string, dir = LOCAL_DIR, poolInUse?: boolean): void {
  if (!existsSync(join(dir, 'dynamodb'))) return;
  const saved = savedLocalConfig(dir);
  if (saved === undefined && poolInUse !== true) return;
  const before = typeof saved?.driver === 'string' ? saved.driver : 'noop';
  if (before === driver) return;
  throw new ConfigSourceError(
    `the pool in ${dir}/ belongs to the ${before} driver${before === 'noop' ? ' (its servers are simulated)' : ' (its servers are on your cloud)'}, and a local run with driver ${driver} would take its servers for its own: ` +
      `move ${dir}/ away (or remove it) to start a pool with the ${driver} driver, or set driver ${before}`,
  );
}

/** Whether a pool store holds any amphora not yet DELETED. */
export async function poolInUse(store: Pick<PoolStore, 'getPoolState'>): Promise<boolean> {
  const { counts } = await store.getPoolState();
  return countOf(counts, LIVE_STATES) > 0;
}

const LIVE_STATES = AMPHORA_STATES.filter((s) => s !== 'DELETED');

/** Where openstacksdk looks for clouds.yaml and secure.yaml, in its order: the first found wins. */
const OPENSTACK_CONFIG_DIRS = (home: string) => [
  '.',
  join(home, '.config/openstack'),
  '/etc/openstack',
];
const CONFIG_SUFFIXES = ['.yaml', '.yml', '.json'];

/**
 * The files a local run reads credentials from, searched as openstacksdk searches them:
 * `OS_CLIENT_CONFIG_FILE`, then `clouds.{yaml,yml,json}` in the current directory,
 * `~/.config/openstack` and `/etc/openstack`; likewise `OS_CLIENT_SECURE_FILE`, then
 * `secure.{yaml,yml,json}` in the same directories, and last (beyond openstacksdk) beside
 * `OS_CLIENT_CONFIG_FILE`.
 */
export function openStackConfigCandidates(env: Readonly<Record<string, string | undefined>>): {
  readonly clouds: readonly string[];
  readonly secure: readonly string[];
} {
  const dirs = OPENSTACK_CONFIG_DIRS(env.HOME ?? '');
  const inDirs = (name: string) =>
    dirs.flatMap((d) => CONFIG_SUFFIXES.map((suffix) => join(d, `${name}${suffix}`)));
  const beside = env.OS_CLIENT_CONFIG_FILE
    ? join(resolve(env.OS_CLIENT_CONFIG_FILE, '..'), 'secure.yaml')
    : undefined;
  const present = (files: ReadonlyArray<string | undefined>) => [
    ...new Set(files.filter((f): f is string => !!f)),
  ];
  return {
    clouds: present([env.OS_CLIENT_CONFIG_FILE, ...inDirs('clouds')]),
    secure: present([env.OS_CLIENT_SECURE_FILE, ...inDirs('secure'), beside]),
  };
}

/** Credentials for the openstack driver run locally: clouds.yaml entry, or `OS_*` variables. */
export function localCredentials(
  config: HousekeeperConfig,
  env: Readonly<Record<string, string | undefined>>,
): OpenStackCredentials {
  const cloud = config.openstack.cloud ?? env.OS_CLOUD;
  if (!cloud) return credentialsFromEnv(env);
  const candidates = openStackConfigCandidates(env);
  const file = candidates.clouds.find((f) => existsSync(f));
  if (!file) {
    throw new ConfigSourceError(
      `cloud ${cloud}: no clouds.yaml found (looked at ${candidates.clouds.join(', ')})`,
    );
  }
  const secure = candidates.secure.find((f) => existsSync(f));
  return credentialsFromCloudsYaml(
    yamlFile(file),
    cloud,
    secure !== undefined ? yamlFile(secure) : undefined,
  );
}

function yamlFile(file: string): unknown {
  try {
    return parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigSourceError(`${file}: cannot be read as YAML (${(error as Error).message})`);
  }
}

/**
 * The driver a local stack runs its executors with: the openstack one (credentials from
 * `localCredentials`, read now, so that missing ones are refused before anything starts), or the
 * noop one on the simulated cloud in `cloud`, with its controls.
 */
export function driverFor(
  config: HousekeeperConfig,
  cloud: CloudStateStore,
  logger: Logger,
  env: Readonly<Record<string, string | undefined>>,
  random: () => number,
): { driver: AmphoraDriver; control?: NoopCloudControl } {
  if (config.driver === 'openstack') {
    return {
      driver: new OpenStackDriver({
        credentials: localCredentials(config, env),
        config: config.openstack,
        ownershipTag: config.ownership_tag,
        clock: systemClock,
        logger,
      }),
    };
  }
  return {
    driver: noopDriverFor(config, cloud, random),
    control: new NoopCloudControl(cloud, randomUUID),
  };
}

/**
 * Opens the local stack. With `serve`, this process becomes the running local run: it starts
 * DynamoDB Local on `.local/dynamodb` and fauxqs, and advertises them in `.local/running.json`.
 * Without it, a command joins the running local run if there is one, or else starts DynamoDB
 * Local on the same data for the command's duration (and a throw-away queue: tasks it sends are
 * re-issued by the planner of the next local run).
 */
export async function openLocalStack(options: {
  config: HousekeeperConfig;
  logger: Logger;
  env: Readonly<Record<string, string | undefined>>;
  serve?: boolean;
  /** Whether this command runs executors (`cycle --drain`): only then is the driver built. */
  executors?: boolean;
  dir?: string;
  random?: () => number;
  /** Where progress goes while a command starts the emulators itself (none by default). */
  progress?: (message: string) => void;
  /** Where messages about waiting for, or replacing, another owner go (default: stderr). */
  say?: (message: string) => void;
}): Promise<OpenStack> {
  const dir = options.dir ?? LOCAL_DIR;
  const say = options.say ?? ((m: string) => process.stderr.write(`housekeeper: ${m}\n`));
  let running = runningLocal(dir, say);
  if (options.serve && running) refuseSecondRun(running);
  const stops: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  try {
    let dynamodbEndpoint: string;
    let sqsEndpoint: string;
    let urls: { queueUrl: string; deadLetterQueueUrl: string };
    // Exactly one process opens the local data: this one takes it, or waits for its owner, or
    // joins a local run that started meanwhile.
    if (!running) {
      mkdirSync(dir, { recursive: true });
      const owned = await takeLocalOwnership({
        dir,
        purpose: options.serve ? 'the local run' : `housekeeper ${process.argv[2] ?? 'command'}`,
        waitMs: OWNER_WAIT_MS,
        say,
        ...(options.serve ? {} : { joinable: () => runningLocal(dir) !== undefined }),
      });
      if (owned === 'join') running = runningLocal(dir);
      else stops.push(async () => owned());
    }
    if (running && !options.serve) {
      ({ dynamodbEndpoint, sqsEndpoint } = running);
      urls = running;
    } else {
      if (!options.serve)
        options.progress?.(
          'no local run is active: starting DynamoDB Local on .local/ for this command…',
        );
      const dynamo = await startDynamoDbLocal({ dbPath: join(dir, 'dynamodb') });
      stops.push(() => dynamo.stop());
      const sqs = await startSqsEmulator();
      stops.push(() => sqs.stop());
      dynamodbEndpoint = dynamo.endpoint;
      sqsEndpoint = sqs.endpoint;
      const setup = {
        dynamo: new DynamoDBClient(localClientConfig(dynamodbEndpoint)),
        sqs: new SQSClient(localClientConfig(sqsEndpoint)),
      };
      await createTable(setup.dynamo, TABLE);
      urls = await createTaskQueues(setup.sqs, localTaskQueueOptions(options.config));
      setup.dynamo.destroy();
      setup.sqs.destroy();
      if (options.serve) {
        const file = runningFile(dir);
        writeFileSync(
          file,
          JSON.stringify(
            { ...thisProcess('the local run'), dynamodbEndpoint, sqsEndpoint, ...urls },
            null,
            2,
          ),
        );
        stops.unshift(async () => rmSync(file, { force: true }));
      }
    }
    const dynamodb = new DynamoDBClient({
      ...localClientConfig(dynamodbEndpoint),
      retryMode: 'standard',
    });
    const sqs = new SQSClient({ ...localClientConfig(sqsEndpoint), retryMode: 'standard' });
    stops.push(async () => {
      dynamodb.destroy();
      sqs.destroy();
    });
    const queue = new SqsTaskQueue({ client: sqs, ...urls });
    const cloud = new DynamoDbCloudState({ client: dynamodb, tableName: TABLE });
    // Only a command that runs executors needs the driver, and the openstack one its
    // credentials: status, list, plan and the operator's actions never call the cloud.
    const { driver, control } =
      options.serve || options.executors
        ? driverFor(
            options.config,
            cloud,
            options.logger,
            options.env,
            options.random ?? Math.random,
          )
        : options.config.driver === 'noop'
          ? { driver: undefined, control: new NoopCloudControl(cloud, randomUUID) }
          : { driver: undefined, control: undefined };
    return {
      config: options.config,
      store: new DynamoDbPoolStore({ client: dynamodb, tableName: TABLE }),
      idempotency: new DynamoDbIdempotencyStore({ client: dynamodb, tableName: TABLE }),
      queue,
      deadLetters: new SqsDeadLetterQueue({ client: sqs, ...urls }),
      ...(driver
        ? {
            executor: {
              driver,
              source: new SqsTaskConsumer({
                client: sqs,
                queueUrl: urls.queueUrl,
                waitTimeSeconds: 1,
              }),
            },
          }
        : {}),
      ...(control ? { control } : {}),
      clock: systemClock,
      newId: randomUUID,
      logger: options.logger,
      metrics: noMetrics,
      description: options.serve
        ? 'local run'
        : running
          ? `local run (pid ${running.pid})`
          : 'local data (no local run active)',
      executorsRunning: options.serve === true || running !== undefined,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Opens a deployed stack from the environment: `HOUSEKEEPER_TABLE_NAME`,
 * `HOUSEKEEPER_QUEUE_URL`, `HOUSEKEEPER_DLQ_URL`, the configuration (`HOUSEKEEPER_CONFIG` or a
 * file) and the AWS credentials of the default chain.
 */
export function openAwsStack(options: {
  config?: Record<string, unknown>;
  /** Where `config` came from (`--config f.json`), for messages. */
  configSource?: string;
  logger: Logger;
  env: Readonly<Record<string, string | undefined>>;
}): OpenStack {
  const env = options.env;
  const config = configFromEnv(env, {
    overrides: options.config ?? {},
    ...(options.configSource ? { overridesSource: options.configSource } : {}),
  });
  const missing = [ENV.tableName, ENV.queueUrl, ENV.deadLetterQueueUrl].filter((n) => !env[n]);
  if (missing.length > 0) {
    throw new HousekeeperError(
      `--target aws needs ${missing.join(', ')} (the deployed stack's outputs) in the environment`,
    );
  }
  const { dynamodb, sqs } = awsClients(env);
  const queue = new SqsTaskQueue({
    client: sqs,
    queueUrl: env[ENV.queueUrl]!,
    deadLetterQueueUrl: env[ENV.deadLetterQueueUrl]!,
  });
  const tableName = env[ENV.tableName]!;
  // Executors run as Lambdas there; the CLI only needs the noop cloud's controls, if any.
  const control =
    config.driver === 'noop'
      ? new NoopCloudControl(new DynamoDbCloudState({ client: dynamodb, tableName }), randomUUID)
      : undefined;
  return {
    config,
    store: new DynamoDbPoolStore({ client: dynamodb, tableName }),
    queue,
    deadLetters: new SqsDeadLetterQueue({
      client: sqs,
      queueUrl: env[ENV.queueUrl]!,
      deadLetterQueueUrl: env[ENV.deadLetterQueueUrl]!,
    }),
    ...(control ? { control } : {}),
    clock: systemClock,
    newId: randomUUID,
    logger: options.logger,
    metrics: noMetrics,
    ...(env[ENV.apiUrl] ? { apiUrl: env[ENV.apiUrl] } : {}),
    description: `aws (table ${tableName})`,
    executorsRunning: true,
    close: async () => {
      dynamodb.destroy();
      sqs.destroy();
    },
  };
}
