/**
 * Tier 2: the deployed code runs. Each function's package is taken from moto's asset bucket, as
 * `cdk deploy` uploaded it, and run under the real Lambda runtime interface client with the
 * deployed environment, pointed at moto. A tick invokes the planner with the schedule's input
 * from the template; a poller follows the deployed event source mapping into the executor.
 * The operator CLI works on the same stack, found by its name (`--target aws --stack`).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetRolePolicyCommand, ListRolePoliciesCommand } from '@aws-sdk/client-iam';
import {
  GetEventSourceMappingCommand,
  GetFunctionCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../../cdk/bundling.ts';
import { ApiError, HousekeeperApiClient } from '../../lib/api/client.ts';
import type { PoolStatus } from '../../lib/app/pool-status.ts';
import { ENV, METRICS_NAMESPACE } from '../../lib/config/deployment.ts';
import { STACK_OUTPUTS } from '../../lib/config/stack-outputs.ts';
import { encodeTask, TASK_SCHEMA_VERSION } from '../../lib/domain/tasks.ts';
import {
  MOTO_ACCOUNT,
  MOTO_CREDENTIALS,
  MOTO_REGION,
  motoEnvironment,
} from '../../scripts/deploy/moto.ts';
import {
  type Clients,
  clientsFor,
  policyDocument,
  Resolver,
  readTemplate,
  stackResources,
  type Template,
  unpackFunctionCode,
} from './support/deployed-stack.ts';
import { EventSourcePoller, type MappingSettings } from './support/event-source-poller.ts';
import { AsyncInvokeFront, FunctionUrl, type KnownCaller } from './support/function-url.ts';
import { allows, grantsOf, neededFor, recordedCalls, statementsOf } from './support/iam-check.ts';
import { type EnvironmentOptions, ExecutionEnvironment } from './support/lambda-runtime.ts';
import { NOOP_DEPLOYMENT } from './support/tier-config.ts';

const tier = inject('deployTier');
const RECORDER = fileURLToPath(new URL('./support/record-aws-calls.cjs', import.meta.url));
const stackName = tier.noop.stackName;
const template: Template = readTemplate(tier.noop.templatePath);

let clients: Clients;
let resolver: Resolver;
let planner: ExecutionEnvironment;
let executor: ExecutionEnvironment;
let poller: EventSourcePoller;
let api: ExecutionEnvironment;
let apiUrl: FunctionUrl;
let lambdaFront: AsyncInvokeFront;
const environments: ExecutionEnvironment[] = [];
type Role = 'planner' | 'executor' | 'api';
const codeDirs: Record<Role, string> = { planner: '', executor: '', api: '' };
const deployed: Record<Role, FunctionSetup> = {} as never;

/** The service that calls the claims API: moto's credentials, under a role name of its own. */
const LOAD_BALANCER_SERVICE: KnownCaller = {
  accessKeyId: MOTO_CREDENTIALS.accessKeyId,
  secretAccessKey: MOTO_CREDENTIALS.secretAccessKey,
  arn: `arn:aws:sts::${MOTO_ACCOUNT}:assumed-role/load-balancer-service/octavia`,
  account: MOTO_ACCOUNT,
};

interface FunctionSetup {
  readonly logicalId: string;
  readonly options: Omit<EnvironmentOptions, 'codeDirectory'>;
}

function logicalIdOfOutput(outputKey: string): string {
  const value = template.Outputs?.[outputKey]?.Value as { Ref?: string } | undefined;
  if (!value?.Ref) throw new Error(`output ${outputKey} is not a Ref`);
  return value.Ref;
}

function resourcesOfType(type: string): Array<[string, Record<string, unknown>]> {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

/** Lambda sets these itself; moto keeps no LoggingConfig, so they come from the template. */
function platformVariables(props: Record<string, unknown>): Record<string, string> {
  const logging = props.LoggingConfig as { LogFormat: string; ApplicationLogLevel: string };
  return {
    ...motoEnvironment(tier),
    AWS_LAMBDA_LOG_FORMAT: logging.LogFormat,
    AWS_LAMBDA_LOG_LEVEL: logging.ApplicationLogLevel,
  };
}

async function setUpFunction(role: Role, outputKey: string) {
  const logicalId = logicalIdOfOutput(outputKey);
  const props = template.Resources[logicalId]!.Properties!;
  const { Configuration: c } = await clients.lambda.send(
    new GetFunctionCommand({ FunctionName: resolver.physicalId(logicalId) }),
  );
  const code = (await resolver.resolve(props.Code)) as { S3Bucket: string; S3Key: string };
  const dir = join(tier.workDir, 'code', role);
  await unpackFunctionCode(clients, { bucket: code.S3Bucket, key: code.S3Key }, dir);
  codeDirs[role] = dir;
  const logGroup = (props.LoggingConfig as { LogGroup: unknown }).LogGroup;
  deployed[role] = {
    logicalId,
    options: {
      handler: c!.Handler!,
      variables: c!.Environment!.Variables!,
      platformVariables: platformVariables(props),
      functionName: c!.FunctionName!,
      functionArn: c!.FunctionArn!,
      memoryMb: c!.MemorySize!,
      timeoutSeconds: c!.Timeout!,
      logGroupName: (await resolver.resolve(logGroup)) as string,
    },
  };
}

/** Where each function's AWS calls are recorded (record-aws-calls.cjs). */
function callLog(role: Role): string {
  return join(tier.workDir, `${role}-aws-calls.jsonl`);
}

async function startEnvironment(
  role: Role,
  handler?: string,
  overrides: Record<string, string> = {},
) {
  const { options } = deployed[role];
  const env = await ExecutionEnvironment.start({
    codeDirectory: codeDirs[role],
    ...options,
    // The deployed variables, plus an observer of the AWS calls (it changes nothing).
    variables: {
      ...options.variables,
      NODE_OPTIONS: `${options.variables.NODE_OPTIONS ?? ''} --require ${RECORDER}`.trim(),
    },
    platformVariables: {
      ...options.platformVariables,
      TIER2_AWS_CALL_LOG: callLog(role),
      ...overrides,
    },
    ...(handler ? { handler } : {}),
  });
  environments.push(env);
  return env;
}

/** The schedule's input, with the context attributes the Scheduler fills in at each tick. */
function tickEvent(): unknown {
  const [[, schedule]] = resourcesOfType('AWS::Scheduler::Schedule') as [
    [string, Record<string, unknown>],
  ];
  const target = schedule.Target as { Input: string };
  const filled = target.Input.replaceAll(
    '<aws.scheduler.schedule-arn>',
    `arn:aws:scheduler:${MOTO_REGION}:${MOTO_ACCOUNT}:schedule/${schedule.GroupName}/tier2`,
  )
    .replaceAll('<aws.scheduler.scheduled-time>', new Date().toISOString())
    .replaceAll('<aws.scheduler.execution-id>', randomUUID())
    .replaceAll('<aws.scheduler.attempt-number>', '1');
  return JSON.parse(filled);
}

/**
 * Runs the CLI in a fresh process against the deployed stack. Its claim, deactivate, flag,
 * preserve and status go through the claims API: moto has no function URL for `--stack` to
 * find, so the loopback one is named in HOUSEKEEPER_API_URL.
 */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', 'functions/cli.ts', ...args],
      {
        cwd: PROJECT_ROOT,
        env: { ...process.env, ...motoEnvironment(tier), [ENV.apiUrl]: apiUrl.url },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function status(): Promise<PoolStatus> {
  const r = await cli('status', '--target', 'aws', '--stack', stackName, '--json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as PoolStatus;
}

async function tick() {
  const result = await planner.invoke(tickEvent());
  expect(result.functionError, JSON.stringify(result.payload)).toBeUndefined();
  return result.payload as { status: string; tasksSent: number; spareReady: number };
}

function queueUrl(): string {
  return tier.noop.outputs[STACK_OUTPUTS.queueUrl]!;
}

async function dlqDepth(): Promise<number> {
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: tier.noop.outputs[STACK_OUTPUTS.deadLetterQueueUrl],
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages);
}

/** Drains the task queue until the DLQ holds `depth` messages. */
async function drainUntilDlqHolds(depth: number): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if ((await dlqDepth()) >= depth) return;
    await poller.pollOnce(1);
  }
  throw new Error(`the DLQ never held ${depth} message(s)`);
}

let maxReceiveCount: number;
let mappingArn: string;

beforeAll(async () => {
  clients = clientsFor(tier.endpoint);
  resolver = new Resolver(template, await stackResources(clients, stackName), clients);
  await setUpFunction('planner', STACK_OUTPUTS.plannerFunctionName);
  await setUpFunction('executor', STACK_OUTPUTS.executorFunctionName);
  await setUpFunction('api', STACK_OUTPUTS.apiFunctionName);
  const [mapping0] = resourcesOfType('AWS::Lambda::EventSourceMapping');
  const mappingId = mapping0![0];
  const uuid = resolver.physicalId(mappingId);
  // moto's own mapping would invoke the function itself and ignore batchItemFailures.
  await clients.lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
  const mapping = await clients.lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }));
  expect(mapping.State).toBe('Disabled');
  mappingArn = mapping.EventSourceArn!;
  const queueUrl = tier.noop.outputs[STACK_OUTPUTS.queueUrl]!;
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }),
  );
  maxReceiveCount = JSON.parse(Attributes!.RedrivePolicy!).maxReceiveCount;
  planner = await startEnvironment('planner');
  executor = await startEnvironment('executor');
  // moto serves neither function URLs nor asynchronous invocations: loopback fronts do, as AWS
  // does (support/function-url.ts); the API's Lambda client is pointed at the Invoke front.
  lambdaFront = await AsyncInvokeFront.start();
  api = await startEnvironment('api', undefined, {
    AWS_ENDPOINT_URL_LAMBDA: lambdaFront.endpoint,
  });
  apiUrl = await FunctionUrl.start({
    environment: () => api,
    region: MOTO_REGION,
    callers: [LOAD_BALANCER_SERVICE],
  });
  poller = new EventSourcePoller({
    sqs: clients.sqs,
    queueUrl,
    mapping: mapping as MappingSettings,
    environment: executor,
    region: MOTO_REGION,
  });
});

afterAll(async () => {
  await Promise.all([...environments.map((e) => e.stop()), apiUrl?.stop(), lambdaFront?.stop()]);
});

describe('a function started with a handler its package does not have', () => {
  it.each([
    ['index.nope', 'Runtime.HandlerNotFound', 'index.nope is undefined or not exported'],
    ['missing.handler', 'Runtime.ImportModuleError', "Cannot find module 'missing'"],
  ])(
    'with handler %s fails its invocation with %s, as Lambda does',
    async (handler, type, text) => {
      // Prepare
      const env = await startEnvironment('planner', handler);

      // Act
      const result = await env.invoke(tickEvent());
      const code = await env.exited;

      // Assess
      expect(result.functionError).toBe('Unhandled');
      expect(result.payload).toMatchObject({ errorType: type });
      expect((result.payload as { errorMessage: string }).errorMessage).toContain(text);
      expect(code).not.toBe(0);
    },
  );
});

describe('the deployed stack, driven as AWS drives it', () => {
  it('answers a tick of the schedule with a planner cycle that sends the first creates', async () => {
    // Act
    const report = await tick();
    const pool = await status();

    // Assess: as many creates as the deploying cap allows (and the first orphan sweep).
    expect(report.status).toBe('applied');
    expect(pool.deploying.count).toBe(NOOP_DEPLOYMENT.config.maximum_deploying_amphora_count);
    expect(pool.states.PENDING_CREATE).toBe(pool.deploying.count);
    expect(report.tasksSent).toBe(pool.deploying.count + 1);
  });

  it('converges to the target with the noop driver, the executor fed by the event source', async () => {
    // Act
    let ticks = 1;
    for (; ticks < 10; ticks++) {
      await poller.drain();
      const report = await tick();
      if (
        report.tasksSent === 0 &&
        report.spareReady === NOOP_DEPLOYMENT.config.spare_amphora_pool_size
      )
        break;
    }
    const pool = await status();

    // Assess
    expect(pool.spares).toStrictEqual({
      ready: NOOP_DEPLOYMENT.config.spare_amphora_pool_size,
      target: NOOP_DEPLOYMENT.config.spare_amphora_pool_size,
    });
    expect(pool.states.READY).toBe(NOOP_DEPLOYMENT.config.spare_amphora_pool_size);
    expect(ticks).toBeLessThanOrEqual(4);
    expect(poller.deliveries.every((d) => d.result.functionError === undefined)).toBe(true);
    expect(await dlqDepth()).toBe(0);
  });

  it('lets `housekeeper status --target aws --stack NAME` find the table and queues from the outputs', async () => {
    // Act
    const r = await cli('status', '--target', 'aws', '--stack', stackName);

    // Assess
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(tier.noop.outputs[STACK_OUTPUTS.tableName]!);
    const target = NOOP_DEPLOYMENT.config.spare_amphora_pool_size;
    expect(r.stdout).toContain(`spares READY ${target}/${target}`);
  });

  it('refuses --stack with a stack that does not exist, naming it', async () => {
    // Act
    const r = await cli('status', '--target', 'aws', '--stack', 'NoSuchStack');

    // Assess
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--stack NoSuchStack: cannot describe the stack');
  });

  it('preserves a failed amphora, and cycles it out for a newer failure (one preserved, cycle)', async () => {
    // Prepare
    const flagReady = async (): Promise<string> => {
      const listed = await cli(
        'list',
        '--target',
        'aws',
        '--stack',
        stackName,
        '--state',
        'READY',
        '--json',
      );
      const [ready] = JSON.parse(listed.stdout) as Array<{ id: string }>;
      expect(ready, 'a READY amphora to flag').toBeDefined();
      const flagged = await cli(
        'flag',
        '--target',
        'aws',
        '--stack',
        stackName,
        ready!.id,
        '--reason',
        'health check failed',
      );
      expect(flagged.code, flagged.stderr).toBe(0);
      return ready!.id;
    };
    const cycles = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await tick();
        await poller.drain();
      }
    };

    // Act
    const first = await flagReady();
    await cycles(2);
    const once = await status();
    const second = await flagReady();
    await cycles(3);
    const twice = await status();

    // Assess
    expect(once.preservedQueue.map((v) => [v.id, v.state])).toStrictEqual([[first, 'PRESERVED']]);
    expect(twice.preserved).toMatchObject({ count: 1, max: 1, scheme: 'cycle' });
    expect(twice.preservedQueue.map((v) => [v.id, v.state])).toStrictEqual([[second, 'PRESERVED']]);
    // The evicted one was removed; with amphora_expiry_age 0 the next cycle purges its record.
    const evicted = await cli('show', '--target', 'aws', '--stack', stackName, first, '--json');
    if (evicted.code === 0) expect(JSON.parse(evicted.stdout).state).toBe('DELETED');
    else expect(evicted.stderr).toContain(`amphora ${first} does not exist`);
  });

  it('moves a task that keeps failing to the DLQ after maxReceiveCount deliveries', async () => {
    // Prepare: a spare is claimed, so the planner creates one, and every boot is refused.
    expect((await cli('claim', '--target', 'aws', '--stack', stackName)).code).toBe(0);
    const fault = await cli(
      'noop',
      'fault',
      '--target',
      'aws',
      '--stack',
      stackName,
      '--operation',
      'createServer',
      '--error',
      'AmphoraDriverError',
      '--probability',
      '1',
    );
    expect(fault.code, fault.stderr).toBe(0);
    const before = new Set(poller.receives.keys());

    // Act
    expect((await tick()).tasksSent).toBe(1);
    await drainUntilDlqHolds(1);
    await cli('noop', 'clear', '--target', 'aws', '--stack', stackName);

    // Assess
    const poisoned = [...poller.receives].filter(([id]) => !before.has(id));
    expect(poisoned).toHaveLength(1);
    expect(poisoned[0]![1]).toBe(maxReceiveCount);
    const { Messages } = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: tier.noop.outputs[STACK_OUTPUTS.deadLetterQueueUrl],
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
      }),
    );
    // The last delivery gives up and dead-letters the task itself (the retry policy's bound is
    // maxReceiveCount): the DLQ holds exactly that task, and nothing else.
    expect(Messages).toHaveLength(1);
    expect(JSON.parse(Messages![0]!.Body!)).toMatchObject({ type: 'CREATE' });
  });

  it('stops cloud work after an Unauthorized: no retry storm, no dead letter, status says why, and one probe closes it', async () => {
    // Prepare
    expect((await cli('claim', '--target', 'aws', '--stack', stackName)).code).toBe(0);
    await cli(
      'noop',
      'fault',
      '--target',
      'aws',
      '--stack',
      stackName,
      '--operation',
      'createServer',
      '--error',
      'Unauthorized',
      '--times',
      '1',
    );
    const before = new Set(poller.receives.keys());
    const dlqBefore = await dlqDepth();

    // Act: the claim's replacement CREATE (and the removal of the create that failed above).
    expect((await tick()).tasksSent).toBeGreaterThanOrEqual(1);
    await poller.drain();

    // Assess: every task was delivered once and acknowledged, none retried; the breaker is open.
    const refused = [...poller.receives].filter(([id]) => !before.has(id));
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.every(([, n]) => n === 1)).toBe(true);
    expect(await dlqDepth()).toBe(dlqBefore);
    expect((await status()).cloud).toMatchObject({ kind: 'Unauthorized' });

    // The probe, once create_backoff_initial has passed, closes it; the dropped work resumes.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (let i = 0; i < 5 && (await status()).cloud !== undefined; i++) {
      await tick();
      await poller.drain();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect((await status()).cloud).toBeUndefined();
    expect(await dlqDepth()).toBe(dlqBefore);
  });

  it('removes an amphora handed back, through a REMOVE task', async () => {
    // Prepare
    const listed = await cli(
      'list',
      '--target',
      'aws',
      '--stack',
      stackName,
      '--state',
      'ALLOCATED',
      '--json',
    );
    const [claimed] = JSON.parse(listed.stdout) as Array<{ id: string }>;
    expect(claimed).toBeDefined();
    expect(
      (await cli('deactivate', '--target', 'aws', '--stack', stackName, claimed!.id)).code,
    ).toBe(0);

    // Act
    expect((await tick()).tasksSent).toBeGreaterThanOrEqual(1);
    await poller.drain();

    // Assess: DELETED, or already purged. With amphora_expiry_age 0, a planner run that a
    // boot finishing during the drain asked for (requestPlannerRun) purges it at once.
    const shown = await cli('show', '--target', 'aws', '--stack', stackName, claimed!.id, '--json');
    const seen =
      shown.code === 0
        ? (JSON.parse(shown.stdout) as { id: string; state: string }).state
        : shown.stderr.trim();
    expect(seen).toMatch(new RegExp(`^DELETED$|amphora ${claimed!.id} does not exist`));
  });

  it('runs an orphan sweep over the noop cloud and finds no orphan: every server has its record', async () => {
    // Prepare: the SWEEP the planner sends when orphan_sweep_interval has passed.
    const sweep = encodeTask({
      v: TASK_SCHEMA_VERSION,
      type: 'SWEEP',
      taskId: randomUUID(),
      issuedAt: Date.now(),
    });
    await clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl(), MessageBody: sweep }));
    const before = executor.lines.length;

    // Act
    await poller.drain();

    // Assess
    const done = executor.lines
      .slice(before)
      .map((l) => (l.startsWith('{') ? JSON.parse(l) : {}))
      .find((l) => l.message === 'task done' && l.type === 'SWEEP');
    expect(done).toBeDefined();
    expect(await dlqDepth()).toBe(1);
  });

  it('moves a malformed message to the DLQ at once, and runs the rest of its batch', async () => {
    // Act
    await clients.sqs.send(
      new SendMessageCommand({ QueueUrl: queueUrl(), MessageBody: '{"not":"a task"}' }),
    );
    await drainUntilDlqHolds(2);

    // Assess
    const last = poller.deliveries.at(-1)!;
    expect(last.result.functionError).toBeUndefined();
    expect(last.kept).toStrictEqual([]);
    expect(poller.receives.get(last.messageIds[0]!)).toBe(1);
  });

  it('prints EMF lines holding every metric the alarms watch, with exactly their dimensions', () => {
    // Prepare: what the alarms of the template watch in our namespace (the scenarios above made
    // the functions emit them all, the cloud-health gauges included).
    const watched = resourcesOfType('AWS::CloudWatch::Alarm')
      .map(([, p]) => p)
      .filter((p) => p.Namespace === METRICS_NAMESPACE)
      .map((p) => ({
        name: p.MetricName as string,
        dimensions: Object.fromEntries(
          (p.Dimensions as Array<{ Name: string; Value: string }>).map((d) => [d.Name, d.Value]),
        ),
      }));
    expect(watched.length).toBeGreaterThanOrEqual(4);

    // Act: every (namespace, metric, dimension values) the functions emitted.
    const emitted = new Set<string>();
    for (const line of [...planner.lines, ...executor.lines]) {
      if (!line.startsWith('{"_aws"')) continue;
      const blob = JSON.parse(line) as Record<string, unknown> & {
        _aws: {
          CloudWatchMetrics: Array<{
            Namespace: string;
            Dimensions: string[][];
            Metrics: Array<{ Name: string }>;
          }>;
        };
      };
      for (const directive of blob._aws.CloudWatchMetrics) {
        for (const set of directive.Dimensions) {
          for (const m of directive.Metrics) {
            const dims = Object.fromEntries([...set].sort().map((d) => [d, blob[d]]));
            emitted.add(JSON.stringify([directive.Namespace, m.Name, dims]));
          }
        }
      }
    }

    // Assess
    const missing = watched.filter(
      (w) =>
        !emitted.has(
          JSON.stringify([
            METRICS_NAMESPACE,
            w.name,
            Object.fromEntries(Object.entries(w.dimensions).sort(([a], [b]) => a.localeCompare(b))),
          ]),
        ),
    );
    expect(missing).toStrictEqual([]);
  });
});

/** The claims API's typed client, as another service holds it: SigV4 with its credentials. */
function apiClient(options: { newKey?: () => string; secret?: string } = {}) {
  return new HousekeeperApiClient({
    baseUrl: apiUrl.url,
    signing: {
      region: MOTO_REGION,
      credentials: {
        accessKeyId: LOAD_BALANCER_SERVICE.accessKeyId,
        secretAccessKey: options.secret ?? LOAD_BALANCER_SERVICE.secretAccessKey,
      },
    },
    retries: 0,
    ...(options.newKey ? { newKey: options.newKey } : {}),
  });
}

/** Cycles until the pool holds its target of READY spares, the way the tier converged above. */
async function converge(): Promise<void> {
  const target = NOOP_DEPLOYMENT.config.spare_amphora_pool_size;
  for (let i = 0; i < 10; i++) {
    await poller.drain();
    const report = await tick();
    if (report.tasksSent === 0 && report.spareReady === target) return;
  }
  throw new Error('the pool did not converge');
}

/** Delivers the planner wakes the API asked for, and the tasks their cycles sent. */
async function deliverWakes() {
  const results = await lambdaFront.deliver(planner);
  for (const r of results) expect(r.functionError, JSON.stringify(r.payload)).toBeUndefined();
  await poller.drain();
  return results.map((r) => r.payload as { status: string; tasksSent: number });
}

describe('another program, over the claims API of the deployed stack', () => {
  it('claims a READY spare with the SigV4-signed typed client, and the claim wakes the planner once, which sends the replacement', async () => {
    // Prepare: the wakes of the CLI's claims above (it goes through the API too) delivered.
    await deliverWakes();
    await converge();
    const plannerName = tier.noop.outputs[STACK_OUTPUTS.plannerFunctionName]!;
    const wakesBefore = lambdaFront.accepted.length;

    // Act
    const claimed = await apiClient().claim();
    const wakes = lambdaFront.accepted.slice(wakesBefore);
    const cycles = await deliverWakes();
    const shown = await cli('show', '--target', 'aws', '--stack', stackName, claimed.id, '--json');

    // Assess
    expect(claimed).toMatchObject({ state: 'ALLOCATED', pool: 'default' });
    expect(claimed.serverId).toEqual(expect.any(String));
    expect(wakes).toStrictEqual([
      {
        functionName: plannerName,
        payload: { source: 'amphora-housekeeper.wake', reason: 'api' },
      },
    ]);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]).toMatchObject({ status: 'applied' });
    expect(cycles[0]!.tasksSent).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: claimed.id, state: 'ALLOCATED' });
    expect((await apiClient().pools()).spares.target).toBe(
      NOOP_DEPLOYMENT.config.spare_amphora_pool_size,
    );
  });

  it('gives a claim retried with its idempotency key the same amphora, not a second one', async () => {
    // Prepare
    await converge();
    const key = randomUUID();
    const readyBefore = (await apiClient().pools()).states.READY;

    // Act
    const first = await apiClient({ newKey: () => key }).claim();
    const retried = await apiClient({ newKey: () => key }).claim();

    // Assess
    expect(retried.id).toBe(first.id);
    expect((await apiClient().pools()).states.READY).toBe(readyBefore - 1);
    await deliverWakes();
  });

  it('hands an amphora back and reports another failed over the API: the first is removed, the second preserved', async () => {
    // Prepare
    await converge();
    const client = apiClient();
    const released = await client.claim();
    const failed = await client.claim();

    // Act
    const afterRelease = await client.release(released.id);
    const afterFailure = await client.fail(failed.id, 'health check failed (tier 2)');
    await deliverWakes();
    for (let i = 0; i < 3; i++) {
      await tick();
      await poller.drain();
    }

    // Assess
    expect(afterRelease.state).toBe('PENDING_DELETE');
    expect(afterFailure).toMatchObject({
      state: 'ERROR',
      failure: { message: 'health check failed (tier 2)' },
    });
    const gone = await client.get(released.id).then(
      (a) => a.state,
      (error: unknown) => (error instanceof ApiError ? error.status : error),
    );
    expect([404, 'DELETED']).toContain(gone);
    expect((await client.get(failed.id)).state).toBe('PRESERVED');
  });

  it('answers a bad request with 400 naming the field, and an unknown id with 404 (its idempotency key freed)', async () => {
    // Prepare
    const client = apiClient();
    const ready = (await client.pools()).states.READY;

    // Act
    const errors = await Promise.all([
      client.claim({ zone: '' }).catch((e: unknown) => e),
      client.get('no-such-amphora').catch((e: unknown) => e),
      client.release('no-such-amphora').catch((e: unknown) => e),
    ]);

    // Assess
    expect(errors[0]).toBeInstanceOf(ApiError);
    expect((errors[0] as ApiError).status).toBe(400);
    expect((errors[0] as ApiError).issues.map((i) => i.field)).toContain('body.zone');
    expect(errors[1]).toBeInstanceOf(ApiError);
    expect((errors[1] as ApiError).status).toBe(404);
    expect(errors[2]).toBeInstanceOf(ApiError);
    expect((errors[2] as ApiError).status).toBe(404);
    expect((await client.pools()).states.READY).toBe(ready);
  });

  it('refuses an unsigned request and one signed with the wrong secret with 403, as an AWS_IAM URL does, before the function runs', async () => {
    // Prepare
    const invocationsBefore = apiUrl.requests.length;

    // Act
    const unsigned = await fetch(`${apiUrl.url}/pools`);
    const wrong = await apiClient({ secret: 'not-the-secret' })
      .pools()
      .catch((e: unknown) => e);

    // Assess
    expect(unsigned.status).toBe(403);
    expect(wrong).toBeInstanceOf(ApiError);
    expect((wrong as ApiError).status).toBe(403);
    expect(apiUrl.requests.slice(invocationsBefore).map((r) => r.status)).toStrictEqual([403, 403]);
  });
});

/** The inline policy statements of a deployed role, read back from IAM. */
async function roleStatements(functionLogicalId: string) {
  const roleId = (
    template.Resources[functionLogicalId]!.Properties!.Role as { 'Fn::GetAtt': [string] }
  )['Fn::GetAtt'][0];
  const roleName = resolver.physicalId(roleId);
  const { PolicyNames } = await clients.iam.send(
    new ListRolePoliciesCommand({ RoleName: roleName }),
  );
  const documents: unknown[] = [];
  for (const policyName of PolicyNames ?? []) {
    const { PolicyDocument } = await clients.iam.send(
      new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }),
    );
    documents.push(policyDocument(PolicyDocument!));
  }
  return statementsOf(documents);
}

/**
 * What the platform uses a role for, not the code: Lambda writes the logs, and the event source
 * mapping polls and deletes (GetQueueAttributes is what Lambda checks when it creates it).
 */
const PLATFORM_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents'];
const MAPPING_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'];

/**
 * Grants for paths of the code that this tier does not drive, each with the path: they stay
 * granted (the path needs them) but are not required to be used here.
 */
const UNDRIVEN_GRANTS: Record<
  Role,
  ReadonlyArray<{ action: string; index: string; why: string }>
> = {
  planner: [
    {
      action: 'dynamodb:Query',
      index: 'byStateZone',
      why: 'the oldest READY spares of one zone, read only to shrink a zone past its target (a lowered target) or to rotate it to a new image; the tier deploys one configuration and publishes no image',
    },
  ],
  executor: [
    {
      action: 'dynamodb:Query',
      index: 'byStateZone',
      why: 'the planner cycle a finished boot runs reads it for the same reason as the planner (shrinking or rotating a zone), which this tier does not drive',
    },
    {
      action: 'dynamodb:Query',
      index: 'byId',
      why: 'a sweep that finds the counters drifted rebuilds them from every record; the tier keeps its counters true',
    },
  ],
  api: [
    {
      action: 'dynamodb:Query',
      index: 'byStateZone',
      why: "a claim naming a zone lists that zone's READY spares; the tier's pool has no zones",
    },
  ],
};

describe('least privilege, from what the deployed code did (after the runs above)', () => {
  it.each(['planner', 'executor', 'api'] as const)(
    "authorizes every AWS call the %s made with its deployed role's policy, and uses every grant",
    async (role) => {
      // Prepare
      const statements = await roleStatements(deployed[role].logicalId);
      const calls = recordedCalls(callLog(role));
      expect(calls.length).toBeGreaterThan(10);
      const needed = calls.flatMap((c) => neededFor(c, MOTO_REGION, MOTO_ACCOUNT));
      if (role === 'executor') {
        const queueArn = mappingArn;
        for (const action of MAPPING_ACTIONS) {
          needed.push({ action, resource: queueArn, call: 'the event source mapping' });
        }
      }

      // Act
      const refused = needed.filter((n) => !allows(statements, n.action, n.resource));
      const undriven = (g: { action: string; resource: string }) =>
        UNDRIVEN_GRANTS[role].some(
          (u) => u.action === g.action && g.resource.endsWith(`/index/${u.index}`),
        );
      const unused = grantsOf(statements).filter(
        (g) =>
          !PLATFORM_ACTIONS.includes(g.action) &&
          !undriven(g) &&
          !needed.some(
            (n) =>
              n.action === g.action &&
              allows(
                [{ Effect: 'Allow', Action: g.action, Resource: g.resource }],
                n.action,
                n.resource,
              ),
          ),
      );

      // Assess
      expect(refused.map((n) => `${n.call}: ${n.action} on ${n.resource}`)).toStrictEqual([]);
      expect(unused.map((g) => `${g.action} on ${g.resource}`)).toStrictEqual([]);
    },
  );
});
