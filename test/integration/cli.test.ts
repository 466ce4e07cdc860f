/**
 * The operator CLI end to end, as a newcomer runs it: a local run on the emulators keeps its
 * pool in .local/, and later commands inspect and change that same pool.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { executorRuntimeFromEnv } from '../../functions/executor-runtime.ts';
import { openAwsStack } from '../../functions/local-stack.ts';
import { DynamoDbCloudState } from '../../lib/adapters/dynamodb/dynamodb-cloud-state.ts';
import { DynamoDbIdempotencyStore } from '../../lib/adapters/dynamodb/dynamodb-idempotency-store.ts';
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { SqsTaskConsumer } from '../../lib/adapters/sqs/sqs-task-consumer.ts';
import { handleApiRequest } from '../../lib/api/handler.ts';
import { serveApi } from '../../lib/api/node-server.ts';
import { consumeBatch } from '../../lib/app/consume-messages.ts';
import { UnavailableError } from '../../lib/domain/errors.ts';
import { FAULT_RULES_MAX_AGE_MS, NoopDriver } from '../../lib/drivers/noop/noop-driver.ts';
import { consoleLogger } from '../../lib/local/console-logger.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../lib/local/emulators.ts';
import { InProcessWake } from '../../lib/local/local-api.ts';
import { thisProcess } from '../../lib/local/local-owner.ts';
import { noMetrics } from '../../lib/ports/telemetry.ts';
import { startTestDynamo, startTestSqs } from '../support/aws.ts';
import { bootRequest } from '../support/boot.ts';
import { withFreeApiPort } from '../support/cli-args.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../functions/cli.ts');
const cwd = mkdtempSync(join(tmpdir(), 'housekeeper-cli-'));

/** Runs the CLI in the test folder, with `env` over this process's environment. */
function housekeeperWith(env: Record<string, string>, ...args: string[]) {
  return housekeeperIn(cwd, env, ...args);
}

/** Runs the CLI in `dir`, with `env` over this process's environment. */
async function housekeeperIn(dir: string, env: Record<string, string>, ...args: string[]) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', CLI, ...withFreeApiPort(args)],
      { cwd: dir, timeout: 120_000, env: { ...process.env, ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function housekeeper(...args: string[]) {
  return housekeeperWith({}, ...args);
}

afterAll(() => rmSync(cwd, { recursive: true, force: true }));

/**
 * A "deployed stack" on fresh emulators: its table and queues, its claims API (the handler the
 * API function runs, on a loopback port, its planner wake run in-process) recording the requests
 * it served, and the environment the CLI's `--target aws` reads (as `--stack` would find it).
 */
async function deployedStack(config: Record<string, unknown>) {
  const [dynamo, sqs] = await Promise.all([startTestDynamo(), startTestSqs()]);
  const table = await dynamo.newTable();
  const urls = await sqs.newQueues();
  const stackEnv = {
    HOUSEKEEPER_TABLE_NAME: table,
    HOUSEKEEPER_QUEUE_URL: urls.queueUrl,
    HOUSEKEEPER_DLQ_URL: urls.deadLetterQueueUrl,
    HOUSEKEEPER_DYNAMODB_ENDPOINT: dynamo.endpoint,
    HOUSEKEEPER_SQS_ENDPOINT: sqs.endpoint,
    HOUSEKEEPER_CONFIG: JSON.stringify(config),
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  };
  // The API runs in this process, as a Lambda would: its SDK clients read region and credentials
  // from the process environment.
  for (const name of ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const)
    vi.stubEnv(name, stackEnv[name]);
  const opened = openAwsStack({ env: stackEnv, logger: consoleLogger('error') });
  const served: string[] = [];
  const deps = {
    ...opened,
    idempotency: new DynamoDbIdempotencyStore({ client: dynamo.client, tableName: table }),
    wake: new InProcessWake(opened),
  };
  const api = await serveApi(
    (request) => {
      served.push(`${request.method} ${request.path}`);
      return handleApiRequest(deps, request);
    },
    { port: 0 },
  );
  const env = { ...stackEnv, HOUSEKEEPER_API_URL: api.url };
  const stop = async () => {
    await api.close();
    await deps.wake.settled();
    await opened.close();
    await Promise.all([dynamo.stop(), sqs.stop()]);
    vi.unstubAllEnvs();
  };
  return { dynamo, sqs, table, urls, env, served, stop };
}

describe('housekeeper CLI on the local emulators', () => {
  it('runs N cycles, prints the final pool as JSON, and keeps it for later commands', async () => {
    const config = join(cwd, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        spare_amphora_pool_size: 2,
        noop: { boot_seconds: 0, boot_failure_rate: 0 },
      }),
    );

    const local = await housekeeper(
      'local',
      '--cycles',
      '3',
      '--every',
      '2',
      '--no-workload',
      '--config',
      config,
    );

    expect(local.code).toBe(0);
    const final = JSON.parse(local.stdout);
    expect(final.spares).toEqual({ ready: 2, target: 2 });
    expect(local.stderr).toMatch(/cycle {3}1 {2}READY/);

    const status = await housekeeper('status', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).spares).toEqual({ ready: 2, target: 2 });

    const claim = await housekeeper('claim');
    expect(claim.stdout).toMatch(/^claimed [0-9a-f-]{36} \(server [0-9a-f-]{36}\)/);
    const id = claim.stdout.split(' ')[1]!;

    // The 8-character ids the local run prints are accepted.
    const show = await housekeeper('show', id.slice(0, 8));
    expect(show.stdout).toContain(`amphora ${id}`);
    expect(show.stdout).toMatch(/READY → ALLOCATED {2}CLAIMED/);

    // The simulated cloud loses and breaks servers on command, by the id prefixes the CLI prints.
    const ready = JSON.parse((await housekeeper('list', '--state', 'READY', '--json')).stdout);
    const spare = ready[0] as { id: string; computeId: string };
    const lose = await housekeeper('noop', 'lose', spare.id.slice(0, 8));
    expect(lose).toMatchObject({ code: 0 });
    expect(lose.stdout).toContain(`server ${spare.computeId} of amphora ${spare.id} deleted`);
    const again = await housekeeper('noop', 'lose', spare.id.slice(0, 8));
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`housekeeper: server ${spare.computeId} not found\n`);
    const broken = await housekeeper('noop', 'break', id.slice(0, 8));
    expect(broken.stdout).toContain(`of amphora ${id} put in ERROR`);

    const plan = await housekeeper('plan', '--json');
    expect(
      JSON.parse(plan.stdout).decisions.map((d: { reasons: string[] }) => d.reasons),
    ).toContainEqual(['TOP_UP']);
    expect(JSON.parse((await housekeeper('status', '--json')).stdout).states.PENDING_CREATE).toBe(
      0,
    );
  }, 180_000);

  it('lets exactly one process open the local data: parallel commands wait their turn, stale owners are replaced', async () => {
    // Three commands at once with no local run: each waits for the one before, none crashes.
    const parallel = await Promise.all([1, 2, 3].map(() => housekeeper('status', '--json')));
    for (const r of parallel) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).spares.target).toBe(2);
      expect(r.stderr).not.toMatch(/database is locked|at .*\.ts:\d+/);
    }
    expect(parallel.map((r) => r.stderr).join('')).toContain('which has the local data open…');

    // A leftover running.json and owner.json whose PID now belongs to another process (this
    // test's own, started at another time): both are replaced with a message, not trusted.
    const stale = { pid: process.pid, startedAt: '1', purpose: 'the local run' };
    writeFileSync(
      join(cwd, '.local/running.json'),
      JSON.stringify({
        ...stale,
        dynamodbEndpoint: 'http://127.0.0.1:9',
        sqsEndpoint: 'http://127.0.0.1:9',
        queueUrl: 'http://127.0.0.1:9/q',
        deadLetterQueueUrl: 'http://127.0.0.1:9/dlq',
      }),
    );
    writeFileSync(join(cwd, '.local/owner.json'), JSON.stringify(stale));
    const after = await housekeeper('status', '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).toContain(
      `removing a stale .local/running.json: the local run it names (pid ${process.pid}) is gone or is another process now`,
    );
    expect(after.stderr).toContain(`replacing a stale owner of the local data: pid ${process.pid}`);
    expect(existsSync(join(cwd, '.local/owner.json'))).toBe(false);
  }, 180_000);

  it('refuses bad input with the field, the value and the rule, and a non-zero exit', async () => {
    const unknown = await housekeeper('show', 'no-such-amphora');
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'housekeeper: amphora no-such-amphora does not exist\n',
    });

    // A refusal goes to stderr, not stdout.
    const nope = await housekeeper('deactivate', 'no-such-amphora');
    expect(nope).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'housekeeper: no-such-amphora: amphora no-such-amphora does not exist\n',
    });

    const cycles = await housekeeper('local', '--cycles', '0');
    expect(cycles.code).toBe(64);
    expect(cycles.stderr).toContain('--cycles = "0": must be a whole number of at least 1');
  }, 60_000);

  it('works on a deployed stack named by the environment with --target aws', async () => {
    const { env, stop } = await deployedStack({
      spare_amphora_pool_size: 3,
    });
    try {
      const cycle = await housekeeperWith(env, 'cycle', '--target', 'aws', '--json');
      expect(cycle.code).toBe(0);
      expect(JSON.parse(cycle.stdout)).toMatchObject({ status: 'applied', tasksSent: 3 });
      const status = await housekeeperWith(env, 'status', '--target', 'aws', '--json');
      expect(JSON.parse(status.stdout)).toMatchObject({
        spares: { ready: 0, target: 3 },
        deploying: { count: 2, cap: 2 },
      });

      // HOUSEKEEPER_CONFIG does not beat --config: the file on the command line wins.
      const p5 = configFile('p5.json', { spare_amphora_pool_size: 5 });
      const five = await housekeeperWith(
        env,
        ...['plan', '--target', 'aws', '--json', '--config', p5],
      );
      expect(JSON.parse(five.stdout).spareTarget).toBe(5);
      // The claims API runs with the deployed configuration: --config cannot change what it does.
      const refused = await housekeeperWith(env, ...['status', '--target', 'aws', '--config', p5]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `--config ${p5}: status --target aws goes through the claims API, which runs with the deployed configuration`,
      );
    } finally {
      await stop();
    }
  }, 120_000);

  it('claims, flags, hands back and reads the status through the claims API with --target aws, as other services do', async () => {
    // Prepare: two READY spares, booted by the deployed executor's runtime run here.
    const { sqs, urls, env, served, stop } = await deployedStack({
      spare_amphora_pool_size: 2,
      check_initial_delay: 0,
      noop: { boot_seconds: 0, boot_failure_rate: 0 },
    });
    try {
      const aws = (...args: string[]) => housekeeperWith(env, ...args, '--target', 'aws');
      const runtime = executorRuntimeFromEnv(env);
      const logger = consoleLogger('error');
      const deps = { ...runtime, driver: await runtime.driver(logger), logger, metrics: noMetrics };
      const source = new SqsTaskConsumer({
        client: sqs.client,
        queueUrl: urls.queueUrl,
        waitTimeSeconds: 1,
      });
      for (let i = 0; i < 6; i++) {
        const status = JSON.parse((await aws('status', '--json')).stdout);
        if (status.spares.ready === 2) break;
        await aws('cycle');
        while ((await consumeBatch(deps, source)).length > 0);
      }
      served.length = 0;

      // Act
      const first = await aws('claim', '--json');
      const second = await aws('claim', '--json');
      const a = JSON.parse(first.stdout);
      const b = JSON.parse(second.stdout);
      const flagged = await aws(
        'flag',
        b.id.slice(0, 8),
        '--reason',
        'health check failed',
        '--json',
      );
      const released = await aws('deactivate', a.id, '--json');
      const none = await aws('claim');
      const status = await aws('status', '--json');
      const unknownApi = await housekeeperWith(
        { ...env, HOUSEKEEPER_API_URL: '' },
        ...['claim', '--target', 'aws'],
      );

      // Assess
      expect(first.code, first.stderr).toBe(0);
      expect(a).toMatchObject({ state: 'ALLOCATED' });
      expect(b).toMatchObject({ state: 'ALLOCATED' });
      expect(b.id).not.toBe(a.id);
      expect(JSON.parse(flagged.stdout)).toMatchObject({ id: b.id, state: 'ERROR' });
      expect(JSON.parse(released.stdout)).toEqual([{ id: a.id, result: 'scheduled' }]);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('no READY spare to claim');
      expect(JSON.parse(status.stdout).spares.target).toBe(2);
      expect(served).toEqual([
        'POST /claims',
        'POST /claims',
        `POST /amphorae/${b.id}/failure`,
        `POST /amphorae/${a.id}/release`,
        'POST /claims',
        'GET /pools',
      ]);
      expect(unknownApi.code).toBe(1);
      expect(unknownApi.stderr).toContain(
        'claim --target aws goes through the claims API, and its URL is unknown',
      );
    } finally {
      await stop();
    }
  }, 180_000);

  it('dlq list shows a task the executor dead-lettered, dlq redrive sends it back, and an unknown id is refused', async () => {
    const { sqs, urls, env, stop } = await deployedStack({
      spare_amphora_pool_size: 1,
    });
    try {
      const aws = (...args: string[]) => housekeeperWith(env, ...args, '--target', 'aws');
      // Prepare: the cloud refuses the boot for good (NotImplemented), and the planner asks for one.
      const fault = await aws(
        ...['noop', 'fault', '--operation', 'createServer', '--error', 'NotImplemented'],
        ...['--times', '1'],
      );
      expect(fault.code, fault.stderr).toBe(0);
      const cycle = await aws('cycle', '--json');
      expect(JSON.parse(cycle.stdout)).toMatchObject({ status: 'applied' });
      // The deployed executor's runtime, on the same table and queues, runs the CREATE once (its
      // SDK clients find region and credentials in the process environment, as in Lambda).
      for (const name of ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const)
        vi.stubEnv(name, env[name]);
      const runtime = executorRuntimeFromEnv(env);
      const logLines: string[] = [];
      const logger = consoleLogger('warn', (l) => logLines.push(l));
      const deps = { ...runtime, driver: await runtime.driver(logger), logger, metrics: noMetrics };
      const source = new SqsTaskConsumer({
        client: sqs.client,
        queueUrl: urls.queueUrl,
        waitTimeSeconds: 1,
      });
      const reports = await consumeBatch(deps, source);
      const deadLettered = reports.filter((r) => r.outcome === 'dead-letter');
      expect(
        deadLettered.map((r) => r.task?.type),
        JSON.stringify([reports.map((r) => [r.task?.type, r.outcome]), logLines]),
      ).toEqual(['CREATE']);

      // Act and assess: the DLQ shows it, twice (reading leaves it there), and the status counts it.
      const list = await aws('dlq', 'list', '--json');
      expect(list.code, list.stderr).toBe(0);
      const [dead, ...others] = JSON.parse(list.stdout);
      expect(others).toEqual([]);
      expect(dead).toMatchObject({
        taskType: 'CREATE',
        amphoraId: (deadLettered[0]!.task as { amphoraId: string }).amphoraId,
        errorClass: 'NotImplemented',
        receiveCount: 1,
      });
      expect(dead.ageSeconds).toBeGreaterThanOrEqual(0);
      const table2 = await aws('dlq', 'list');
      expect(table2.stdout).toMatch(/^MESSAGE ID +TASK +AMPHORA +ERROR CLASS +RECEIVES +AGE\n/);
      expect(table2.stdout).toContain(dead.messageId);
      const status = await aws('status', '--json');
      expect(JSON.parse(status.stdout).queues).toEqual({ tasks: 0, deadLetter: 1 });

      const unknown = await aws('dlq', 'redrive', 'no-such-id');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('not in the dead-letter queue: no-such-id');
      const neither = await aws('dlq', 'redrive');
      expect(neither.code).toBe(64);
      expect(neither.stderr).toContain('give either --all or message ids');

      const redrive = await aws('dlq', 'redrive', dead.messageId, '--json');
      expect(redrive.code, redrive.stderr).toBe(0);
      expect(JSON.parse(redrive.stdout)).toEqual([
        { messageId: dead.messageId, result: 'redriven' },
      ]);
      expect(JSON.parse((await aws('dlq', 'list', '--json')).stdout)).toEqual([]);
      const back = await source.receive(10);
      expect(back).toHaveLength(1);
      expect(JSON.parse(back[0]!.body)).toMatchObject({
        type: 'CREATE',
        amphoraId: dead.amphoraId,
      });
    } finally {
      await stop();
    }
  }, 180_000);

  it('`noop fault` reaches an executor in another process within FAULT_RULES_MAX_AGE_MS', async () => {
    const [dynamo, sqs] = await Promise.all([startTestDynamo(), startTestSqs()]);
    try {
      // Prepare: an executor's noop driver on the same table has read the (empty) rules
      const table = await dynamo.newTable();
      const urls = await sqs.newQueues();
      const clock = new ManualClock();
      const driver = new NoopDriver(
        {
          state: new DynamoDbCloudState({ client: dynamo.client, tableName: table }),
          clock,
          newId: randomUUID,
        },
        'amphora-housekeeper',
        { bootSeconds: 0, bootFailureRate: 0 },
      );
      const server = await driver.createServer(bootRequest(randomUUID()));
      await driver.getServer(server.id);
      const env = {
        HOUSEKEEPER_TABLE_NAME: table,
        HOUSEKEEPER_QUEUE_URL: urls.queueUrl,
        HOUSEKEEPER_DLQ_URL: urls.deadLetterQueueUrl,
        HOUSEKEEPER_DYNAMODB_ENDPOINT: dynamo.endpoint,
        HOUSEKEEPER_SQS_ENDPOINT: sqs.endpoint,
        HOUSEKEEPER_CONFIG: JSON.stringify({ spare_amphora_pool_size: 1 }),
        AWS_REGION: LOCAL_REGION,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      };

      // Act
      const fault = await housekeeperWith(
        env,
        ...['noop', 'fault', '--target', 'aws', '--operation', 'getServer'],
        ...['--error', 'Unavailable', '--times', '1'],
      );
      clock.advance(FAULT_RULES_MAX_AGE_MS);
      const failed = driver.getServer(server.id);

      // Assess
      expect(fault.code, fault.stderr).toBe(0);
      await expect(failed).rejects.toBeInstanceOf(UnavailableError);
      expect((await driver.getServer(server.id)).id).toBe(server.id);
    } finally {
      await Promise.all([dynamo.stop(), sqs.stop()]);
    }
  }, 120_000);

  it('names the missing variables when --target aws has no stack to work on', async () => {
    const result = await housekeeperWith(
      { HOUSEKEEPER_TABLE_NAME: '' },
      'status',
      '--target',
      'aws',
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "housekeeper: --target aws needs HOUSEKEEPER_TABLE_NAME, HOUSEKEEPER_QUEUE_URL, HOUSEKEEPER_DLQ_URL (the deployed stack's outputs) in the environment\n",
    );
  });
});

/** A config file in the test folder. */
function configFile(name: string, value: unknown): string {
  const file = join(cwd, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

const OPENSTACK_CONFIG = {
  driver: 'openstack',
  openstack: { image_id: 'i', flavor_id: 'f', network_ids: ['n'] },
};
/** No OpenStack credentials at all, whatever the shell running the tests has. */
const NO_OS_ENV = { OS_CLOUD: '', OS_AUTH_URL: '', OS_USERNAME: '', OS_PASSWORD: '' };
/** Password credentials for a Keystone that is not there (nothing listens on port 9). */
const DEAD_KEYSTONE_ENV = {
  OS_CLOUD: '',
  OS_AUTH_URL: 'http://127.0.0.1:9/v3',
  OS_USERNAME: 'u',
  OS_PASSWORD: 'p',
  OS_PROJECT_NAME: 'p',
  OS_USER_DOMAIN_NAME: 'Default',
  OS_PROJECT_DOMAIN_NAME: 'Default',
};

describe('the defects a newcomer found (shared/reports/newcomer.md)', () => {
  it('local --memory with driver openstack drives the real cloud, and refuses without credentials', async () => {
    const os = configFile('os.json', OPENSTACK_CONFIG);
    const missing = await housekeeperWith(
      NO_OS_ENV,
      'local',
      '--memory',
      '--cycles',
      '1',
      '--config',
      os,
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('OS_AUTH_URL = (missing): is required');

    const dead = await housekeeperWith(
      DEAD_KEYSTONE_ENV,
      'local',
      '--memory',
      '--cycles',
      '2',
      '--every',
      '1',
      '--config',
      os,
    );
    expect(dead.code, dead.stderr).toBe(0);
    // The boots went to the (unreachable) Keystone, not to a simulated cloud.
    expect(dead.stderr).toMatch(/CREATE [0-9a-f]{8} → retry/);
    expect(dead.stderr).toContain('127.0.0.1:9');
    expect(dead.stderr).not.toContain('→ booted');
  }, 60_000);

  it('cycle --reissue re-issues a pending task at once, not after task_timeout', async () => {
    const pool = configFile('pool2.json', {
      spare_amphora_pool_size: 2,
      noop: { boot_seconds: 0, boot_failure_rate: 0 },
    });
    const local = await housekeeper(
      'local',
      '--cycles',
      '3',
      '--every',
      '1',
      '--no-workload',
      '--config',
      pool,
    );
    expect(local.code, local.stderr).toBe(0);
    const [spare] = JSON.parse((await housekeeper('list', '--state', 'READY', '--json')).stdout);
    // No local run: the REMOVE this sends goes to a throw-away queue and is lost.
    const deactivate = await housekeeper('deactivate', spare.id);
    expect(deactivate.stdout).toContain(`${spare.id}: scheduled`);

    const plain = await housekeeper('plan', '--json');
    const reissue = await housekeeper('cycle', '--reissue', '--json');
    expect(reissue.code, reissue.stderr).toBe(0);
    const stuck = (plan: { decisions: Array<{ reasons: string[] }> }) =>
      plan.decisions.filter((d) => d.reasons.includes('TASK_STUCK'));
    expect(stuck(JSON.parse(plain.stdout))).toEqual([]);
    const reissued = stuck(JSON.parse(reissue.stdout).plan);
    expect(reissued).toHaveLength(1);
    expect(JSON.stringify(reissued[0])).toContain(spare.id);
  }, 120_000);

  it('list is oldest first across states and --limit counts all rows; show, list and the actions print one JSON shape', async () => {
    // The pool the test before left: READY spares and one PENDING_DELETE.
    const all = JSON.parse((await housekeeper('list', '--json')).stdout);
    expect(new Set(all.map((r: { state: string }) => r.state)).size).toBeGreaterThan(1);
    const since = all.map((r: { stateSince: string }) => r.stateSince);
    expect(since).toEqual([...since].sort());
    expect(since[0]).toMatch(/^\d{4}-\d\d-\d\dT/);
    const one = JSON.parse((await housekeeper('list', '--limit', '1', '--json')).stdout);
    expect(one).toEqual([all[0]]);

    const claim = await housekeeper('claim', '--json');
    expect(claim.code, claim.stderr).toBe(0);
    const claimed = JSON.parse(claim.stdout);
    expect(claimed).toMatchObject({ state: 'ALLOCATED', stateSince: expect.stringMatching(/Z$/) });
    const shown = JSON.parse((await housekeeper('show', claimed.id.slice(0, 8), '--json')).stdout);
    expect(Object.keys(shown)).toEqual(Object.keys(claimed));
    const deactivated = JSON.parse((await housekeeper('deactivate', claimed.id, '--json')).stdout);
    expect(deactivated).toEqual([{ id: claimed.id, result: 'scheduled' }]);

    const zone = await housekeeper('claim', '--zone', 'nope');
    expect(zone).toMatchObject({
      code: 1,
      stderr: 'housekeeper: zone nope is not configured (this deployment requests no zone)\n',
    });
    const reason = await housekeeper('flag', claimed.id, '--reason', ' ');
    expect(reason.code).toBe(64);
    expect(reason.stderr).toContain('--reason must not be empty');
  }, 180_000);

  it('cycle --drain with no local run active leaves no boot half done', async () => {
    // Boots slower than the first checks: each CHECK comes back after a growing delay.
    const slow = configFile('slow.json', { noop: { boot_seconds: 5, boot_failure_rate: 0 } });
    const drain = await housekeeper('cycle', '--drain', '--json', '--config', slow);
    expect(drain.code, drain.stderr).toBe(0);
    expect(JSON.parse(drain.stdout).tasksSent).toBeGreaterThan(0);
    expect(drain.stderr).toMatch(/CREATE [0-9a-f]{8} → booted/);
    expect(drain.stderr).toMatch(/CHECK +[0-9a-f]{8} → ready/);
    const status = JSON.parse((await housekeeper('status', '--json')).stdout);
    expect(status.states, drain.stdout + drain.stderr).toMatchObject({
      PENDING_CREATE: 0,
      BOOTING: 0,
    });
  }, 180_000);

  it('one openstack-driver local run does not need credentials for read-only commands, and a noop run is refused its pool', async () => {
    const dir = mkdtempSync(join(cwd, 'openstack-'));
    const os = configFile('os.json', OPENSTACK_CONFIG);
    const local = await housekeeperIn(
      dir,
      DEAD_KEYSTONE_ENV,
      'local',
      '--cycles',
      '1',
      '--config',
      os,
    );
    expect(local.code, local.stderr).toBe(0);

    // status, list, show and plan never call the cloud: no credentials needed.
    for (const args of [['status'], ['list'], ['plan']]) {
      const r = await housekeeperIn(dir, NO_OS_ENV, ...args, '--json');
      expect(r.code, `${args}: ${r.stderr}`).toBe(0);
    }
    const pending = JSON.parse((await housekeeperIn(dir, NO_OS_ENV, 'list', '--json')).stdout);
    expect(pending.length).toBeGreaterThan(0);

    // The pool belongs to the openstack driver: a noop run does not take it over.
    const noop = await housekeeperIn(dir, NO_OS_ENV, 'local', '--cycles', '1');
    expect(noop.code).toBe(2);
    expect(noop.stderr).toContain('the pool in .local/ belongs to the openstack driver');
    expect(noop.stderr).not.toContain('starting DynamoDB Local');
  }, 180_000);

  it('status in a fresh folder, before any local run, does not give the folder to the noop driver: an openstack local run starts there', async () => {
    const dir = mkdtempSync(join(cwd, 'status-first-'));
    const os = configFile('os.json', OPENSTACK_CONFIG);
    const look = await housekeeperIn(dir, NO_OS_ENV, 'status', '--json');
    expect(look.code, look.stderr).toBe(0);

    const local = await housekeeperIn(
      dir,
      DEAD_KEYSTONE_ENV,
      'local',
      '--cycles',
      '1',
      '--config',
      os,
    );

    expect(local.code, local.stderr).toBe(0);
    expect(local.stderr).not.toContain('belongs to the noop driver');
    expect(
      JSON.parse((await housekeeperIn(dir, NO_OS_ENV, 'list', '--json')).stdout).length,
    ).toBeGreaterThan(0);
  }, 180_000);

  it.each([
    ['bad.json', '{"spare_amphora_pool_size": 3,}', 'is not valid JSON'],
    ['empty.json', '', 'is not valid JSON'],
    ['list.json', '[1]', 'must hold a JSON object of options'],
  ])('exit code 2 is kept for bad JSON: %s', async (name, text, rule) => {
    const file = configFile(name, text);
    for (const args of [['local', '--cycles', '1'], ['status']]) {
      const r = await housekeeper(...args, '--config', file);
      expect(r.code).toBe(2);
      expect(r.stderr.startsWith(`housekeeper: --config ${file}: ${rule}`), r.stderr).toBe(true);
      expect(r.stderr).not.toMatch(/at .*\.ts:\d+/);
    }
  });

  it.each([
    [['status', '--bogus'], "error: unknown option '--bogus'"],
    [['frob'], "error: unknown command 'frob'"],
    [['list', '--state', 'NOPE'], "argument 'NOPE' is invalid"],
    [['show'], "error: missing required argument 'id'"],
  ])('usage errors exit 64, not 1 like a refused action: %j', async (args, message) => {
    const r = await housekeeper(...args);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(message);
  });

  it('--version prints the package version', async () => {
    const r = await housekeeper('--version');
    expect(r).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });

  it.each([
    [['--times', '1', '--probability', '0.5'], 'give exactly one of --times and --probability'],
    [[], 'give exactly one of --times and --probability'],
    [['--probability', 'abc'], '--probability = "abc": must be a number from 0 to 1'],
    [['--probability', '5'], '--probability = "5": must be a number from 0 to 1'],
    [['--probability', '-1'], '--probability = "-1": must be a number from 0 to 1'],
    [['--times', '1', '--operation', 'create'], 'must be * or a driver method: createServer, '],
  ])('noop fault input errors end in a message, not a stack trace: %j', async (args, message) => {
    const r = await housekeeper(
      'noop',
      'fault',
      '--operation',
      'createServer',
      '--error',
      'Unavailable',
      ...args,
    );
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/RangeError|at .*\.ts:\d+/);
  });

  it('the README’s CLI table matches --help: every command, and every option of each', async () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('| command ')).split('\n\n')[0]!;
    // Options every command that opens a stack takes, documented once below the table.
    const shared = new Set([
      '--help',
      '--target',
      '--stack',
      '--config',
      '--log-level',
      '--log-format',
      // Every command but `local` takes these (checked below).
      '--output',
      '--json',
    ]);
    // Commands with subcommands, documented one row per subcommand.
    const GROUPS = ['noop', 'dlq'];
    const flagsOf = (text: string) =>
      [...text.matchAll(/(--[a-z][\w-]*)/g)].map((m) => m[1]!).filter((f) => !shared.has(f));
    const documented = new Map<string, string[]>();
    for (const row of table.split('\n').slice(2)) {
      const cell = row.split(' | ')[0]!;
      for (const [, usage] of cell.matchAll(/`([^`]+)`/g)) {
        const words = usage!.split(' ');
        const name = GROUPS.includes(words[0]!) ? `${words[0]} ${words[1]}` : words[0]!;
        documented.set(name, flagsOf(usage!).sort());
      }
    }
    const commandsIn = (help: string) =>
      [...help.slice(help.indexOf('Commands:')).matchAll(/^ {2}([a-z][\w-]*)/gm)]
        .map((m) => m[1]!)
        .filter((c) => c !== 'help');
    const names = [
      ...commandsIn((await housekeeper('--help')).stdout).filter((c) => !GROUPS.includes(c)),
    ];
    for (const group of GROUPS) {
      names.push(
        ...commandsIn((await housekeeper(group, '--help')).stdout).map((c) => `${group} ${c}`),
      );
    }
    const actual = new Map<string, string[]>();
    const withoutOutput: string[] = [];
    for (const name of names) {
      const help = (await housekeeper(...name.split(' '), '--help')).stdout;
      const options = help.slice(help.indexOf('Options:'));
      actual.set(name, [...new Set(flagsOf(options))].sort());
      if (!/-o, --output <format>/.test(options) || !/--json/.test(options))
        withoutOutput.push(name);
    }
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(actual));
    // -o json|yaml|table and --json on every command that prints, the local run aside.
    expect(withoutOutput).toEqual(['local', 'completion']);
  }, 120_000);

  it('the local run’s DynamoDB Local going away ends in a message, not a bare connection stack trace', async () => {
    // A local run that is alive (this process) but whose emulators are gone (nothing on port 9).
    const dir = mkdtempSync(join(cwd, 'gone-'));
    mkdirSync(join(dir, '.local'));
    writeFileSync(
      join(dir, '.local/running.json'),
      JSON.stringify({
        ...thisProcess('the local run'),
        dynamodbEndpoint: 'http://127.0.0.1:9',
        sqsEndpoint: 'http://127.0.0.1:9',
        queueUrl: 'http://127.0.0.1:9/000000000000/q',
        deadLetterQueueUrl: 'http://127.0.0.1:9/000000000000/dlq',
      }),
    );

    const status = await housekeeperIn(dir, {}, 'status');
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(
      /^housekeeper: lost the connection to 127\.0\.0\.1:9 \(ECONNREFUSED\): .*DynamoDB Local.*start the local run again\n$/,
    );
    const debug = await housekeeperIn(dir, {}, 'status', '--debug');
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/ECONNREFUSED[\s\S]*at /);
  });
});
