/**
 * The whole service end to end through the operator CLI only (issue 11, item 5, noop tier):
 * each scenario starts from a fresh `.local/` on the emulators, drives the local stack with
 * `housekeeper local`, and checks what an operator sees with `status`, `list` and `show`.
 *
 * Most scenarios leave `housekeeper local` running in the background, as an operator leaves it
 * in a terminal, and the other commands join it: a command with no local run starts DynamoDB
 * Local for itself, which takes seconds. Faults are injected with `housekeeper noop fault`, and
 * every `status` sample is checked against the caps. The one observer beside the CLI is the
 * simulated cloud's own server list (what `openstack server list` is for the real tier), read
 * from the running local run's table, to check that no server leaked and none went missing.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDbCloudState } from '../../lib/adapters/dynamodb/dynamodb-cloud-state.ts';
import type { AmphoraState } from '../../lib/domain/amphora.ts';
import { NoopCloudControl } from '../../lib/drivers/noop/noop-driver.ts';
import { localClientConfig } from '../../lib/local/emulators.ts';
import { withFreeApiPort } from '../support/cli-args.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../functions/cli.ts');
const dirs: string[] = [];
/** Local runs started in the background, stopped after each test whatever happened. */
const runs: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of runs.splice(0)) await stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh working folder with its config file: a new pool, as a newcomer starts one. */
function freshPool(config: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'housekeeper-e2e-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const housekeeper = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', CLI, ...withFreeApiPort(args)],
        { cwd: dir, timeout: 120_000 },
      );
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const json = async (...args: string[]) => {
    const r = await housekeeper(...args, '--json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  const cycles = async (n: number) => {
    const r = await housekeeper(
      'local',
      '--cycles',
      String(n),
      '--every',
      '3',
      '--no-workload',
      '--config',
      'config.json',
    );
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  /**
   * `housekeeper local` in the background (a cycle every second, JSON log lines on stderr), as
   * an operator leaves it running in a terminal: the other commands join it instead of starting
   * DynamoDB Local each. Resolves once it advertises itself in `.local/running.json`.
   */
  const background = async () => {
    const child = spawn(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        CLI,
        'local',
        '--api-port',
        '0',
        '--every',
        '1',
        '--no-workload',
        '--config',
        'config.json',
        '--log-format',
        'json',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stdout.resume();
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = () => stopRun(child, exited);
    runs.push(stop);
    const file = join(dir, '.local/running.json');
    const up = Date.now() + 90_000;
    while (!advertises(file, child.pid)) {
      if (child.exitCode !== null) throw new Error(`the local run ended early:\n${stderr}`);
      if (Date.now() > up) throw new Error(`the local run did not start in 90 s:\n${stderr}`);
      await sleep(200);
    }
    return {
      /** Its log entries so far. */
      log: () =>
        stderr
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as LogEntry),
      stop,
      /** The simulated cloud as its own API lists it (what `openstack server list` is for Nova). */
      cloudServers: async () => {
        const running = JSON.parse(readFileSync(file, 'utf8')) as { dynamodbEndpoint: string };
        const client = new DynamoDBClient(localClientConfig(running.dynamodbEndpoint));
        try {
          const cloud = new DynamoDbCloudState({ client, tableName: 'amphora-housekeeper' });
          return (await new NoopCloudControl(cloud, () => 'unused').serverIds()).sort();
        } finally {
          client.destroy();
        }
      },
    };
  };
  /**
   * Samples `status --json` every second until `done` holds (at most `seconds`), checking the
   * caps on every sample: never more deploying than the cap, never more preserved than the
   * maximum. Returns the samples, the last one satisfying `done`.
   */
  const until = async (
    done: (s: Status) => boolean,
    seconds: number,
    what: string,
  ): Promise<Status[]> => {
    const samples: Status[] = [];
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const s = (await json('status')) as Status;
      samples.push(s);
      expect(s.deploying.count, 'deploying at a status sample').toBeLessThanOrEqual(
        s.deploying.cap,
      );
      expect(s.preserved.count, 'preserved at a status sample').toBeLessThanOrEqual(
        s.preserved.max,
      );
      if (done(s)) return samples;
      if (Date.now() > deadline) {
        throw new Error(`not ${what} within ${seconds} s; last status: ${JSON.stringify(s)}`);
      }
      await sleep(1000);
    }
  };
  const setConfig = (next: Record<string, unknown>) =>
    writeFileSync(join(dir, 'config.json'), JSON.stringify(next));
  return { housekeeper, json, cycles, background, until, setConfig };
}

/** A local run in the background, as {@link freshPool}'s `background` returns it. */
type Background = Awaited<ReturnType<ReturnType<typeof freshPool>['background']>>;
type Pool = ReturnType<typeof freshPool>;

interface LogEntry {
  level: string;
  time: string;
  message: string;
  [field: string]: unknown;
}

/** `status --json`, the parts these tests read. */
interface Status {
  spares: { ready: number; target: number };
  deploying: { count: number; cap: number };
  preserved: { count: number; max: number };
  states: Readonly<Record<AmphoraState, number>>;
  preservedQueue: Array<{ id: string }>;
  queues: { tasks: number; deadLetter: number };
  cloud?: { refusing: true; kind: string; since: string; nextProbe: string };
}

/** Whether `file` names the local run of process `pid`. */
function advertises(file: string, pid: number | undefined): boolean {
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { pid: number }).pid === pid;
  } catch {
    return false; // being written
  }
}

/** Stops a background local run as Ctrl-C does (it closes its emulators), killing it after 30 s. */
async function stopRun(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const stopped = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** The pool is at its target with nothing under way: no boot, removal or preservation pending. */
function settled(s: Status): boolean {
  const st = s.states;
  return (
    s.spares.ready === s.spares.target &&
    s.deploying.count === 0 &&
    st.PENDING_DELETE === 0 &&
    st.ERROR === 0 &&
    st.PRESERVE === 0 &&
    st.PRESERVING === 0 &&
    s.cloud === undefined
  );
}

/**
 * The invariants that must hold once the pool settled, whatever the faults were: every live
 * record has its server and every server in the cloud has a live record (nothing leaked, nothing
 * lost), the counters equal a recount of the records (`repair-counts` finds nothing to do), and
 * the deploying cap held at every instant of every record's history.
 */
async function expectInvariants(pool: Pool, local: Background): Promise<Listed[]> {
  const records = (await pool.json('list', '--limit', '1000')) as Listed[];
  const live = records.filter((r) => r.state !== 'DELETED');
  expect(
    live.filter((r) => r.computeId === undefined).map((r) => r.state),
    'live records without a server',
  ).toStrictEqual([]);
  expect(
    await local.cloudServers(),
    'the simulated cloud’s servers against the live records’ servers',
  ).toStrictEqual(live.map((r) => r.computeId).sort());
  const recount = await pool.housekeeper('repair-counts');
  expect(recount.code, recount.stderr).toBe(0);
  expect(recount.stdout).toContain('the counters were right');
  const status = (await pool.json('status')) as Status;
  expect(mostDeployingAtOnce(records)).toBeLessThanOrEqual(status.deploying.cap);
  return records;
}

interface Listed {
  id: string;
  state: string;
  computeId?: string;
  createdAt: string;
  failure?: { code: string; message: string };
  history: Array<{ at: string; from: string; to: string }>;
}

/** The most amphorae that were deploying (PENDING_CREATE or BOOTING) at any one instant. */
function mostDeployingAtOnce(records: readonly Listed[]): number {
  const events = records.flatMap((r) => {
    const left = r.history.find((h) => h.from === 'BOOTING' || h.from === 'PENDING_CREATE');
    const done = r.history.filter((h) => h.to !== 'BOOTING' && h.to !== 'PENDING_CREATE').at(0);
    const start = Date.parse(r.createdAt);
    const end = done ? Date.parse(done.at) : left ? Number.POSITIVE_INFINITY : start;
    return [
      { at: start, d: 1 },
      { at: end, d: -1 },
    ];
  });
  // At the same instant, an end comes before a start: the slot was freed, then reused.
  events.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of events) {
    now += e.d;
    most = Math.max(most, now);
  }
  return most;
}

const NOOP = { noop: { boot_seconds: 1, boot_failure_rate: 0 } };

/** Short delays for the fault scenarios: quick checks, and a breaker that probes every ≤ 4 s. */
const FAST = {
  ...NOOP,
  check_initial_delay: 1,
  check_max_delay: 2,
  create_backoff_initial: 1,
  create_backoff_max: 4,
};

describe('the service end to end through the CLI (noop driver, emulators)', () => {
  it('fills the pool within the deploying cap, in one interval: each finished boot starts the next', async () => {
    const pool = freshPool({
      ...NOOP,
      spare_amphora_pool_size: 4,
      maximum_deploying_amphora_count: 2,
    });

    const local = await pool.cycles(2);

    expect(local.code, local.stderr).toBe(0);
    // Two boot rounds (4 spares, 2 at a time) inside the first 3 s interval.
    expect(local.stderr).toMatch(/cycle {3}1 {2}READY 4\/4/);
    const records = (await pool.json('list')) as Listed[];
    expect(records.map((r) => r.state)).toStrictEqual(['READY', 'READY', 'READY', 'READY']);
    expect(mostDeployingAtOnce(records)).toBe(2);
  }, 180_000);

  it('refills after claims, and removes what is handed back', async () => {
    const pool = freshPool({ ...NOOP, spare_amphora_pool_size: 2 });
    const local = await pool.background();
    await pool.until(settled, 60, 'filled');

    const claimed = [await pool.json('claim'), await pool.json('claim')] as Listed[];
    const refilled = await pool.until(
      (s) => settled(s) && s.states.ALLOCATED === 2,
      60,
      'refilled after two claims',
    );
    const handBack = await pool.housekeeper('deactivate', ...claimed.map((c) => c.id.slice(0, 8)));
    const removed = await pool.until(
      (s) => settled(s) && s.states.ALLOCATED === 0 && s.states.DELETED === 2,
      60,
      'the handed-back amphorae removed',
    );
    await expectInvariants(pool, local);

    expect(claimed.map((c) => c.state)).toStrictEqual(['ALLOCATED', 'ALLOCATED']);
    expect(refilled.at(-1)!.spares).toStrictEqual({ ready: 2, target: 2 });
    expect(handBack.code, handBack.stderr).toBe(0);
    for (const { id } of claimed) {
      expect((await pool.json('show', id)).state).toBe('DELETED');
    }
    expect(removed.at(-1)!.states).toMatchObject({ READY: 2, ALLOCATED: 0 });
  }, 180_000);

  it.each([
    ['cycle', 2, 'keeps the two newest of three failures', [1, 2]],
    ['keep', 2, 'keeps the first two and removes the third', [0, 1]],
    ['cycle', 0, 'with no room removes all three', []],
  ] as const)(
    'preservation_scheme %s, maximum_preserved_amphora_count %i %s',
    async (scheme, max, _, kept) => {
      const pool = freshPool({
        ...NOOP,
        spare_amphora_pool_size: 3,
        preservation_scheme: scheme,
        maximum_preserved_amphora_count: max,
      });
      const local = await pool.background();
      await pool.until(settled, 60, 'filled');
      const claimed: string[] = [];
      for (let i = 0; i < 3; i++) claimed.push(((await pool.json('claim')) as { id: string }).id);

      // Three failures, one after another, each preserved (or removed) before the next.
      for (const id of claimed) {
        const flagged = await pool.housekeeper(
          'flag',
          id,
          '--reason',
          'e2e: health monitor failed',
        );
        expect(flagged.code, flagged.stderr).toBe(0);
        await pool.until(settled, 60, `the failure of ${id} preserved or removed`);
      }
      await expectInvariants(pool, local);

      const status = (await pool.json('status')) as Status;
      const preserved = status.preservedQueue.map((v) => v.id);
      expect(preserved).toStrictEqual(kept.map((i) => claimed[i]));
      for (const [i, id] of claimed.entries()) {
        if (kept.includes(i as never)) continue;
        expect((await pool.json('show', id)).state).toBe('DELETED');
      }
    },
    240_000,
  );

  it('lowering the target shrinks the pool: the spares READY longest are removed, with their servers', async () => {
    const config = { ...FAST, spare_amphora_pool_size: 4 };
    const pool = freshPool(config);
    let local = await pool.background();
    await pool.until((s) => settled(s) && s.spares.ready === 4, 60, 'filled to 4');
    const before = (await pool.json('list', '--state', 'READY')) as Listed[];
    await local.stop();

    pool.setConfig({ ...config, spare_amphora_pool_size: 2 });
    local = await pool.background();
    const [first] = await pool.until(
      (s) => settled(s) && s.states.DELETED === 2,
      60,
      'shrunk to 2',
    );
    const records = await expectInvariants(pool, local);

    expect(first!.spares.target).toBe(2);
    expect(records.filter((r) => r.state === 'READY').map((r) => r.id)).toStrictEqual(
      before.slice(2).map((r) => r.id),
    );
    expect(
      records
        .filter((r) => r.state === 'DELETED')
        .map((r) => r.id)
        .sort(),
    ).toStrictEqual(
      before
        .slice(0, 2)
        .map((r) => r.id)
        .sort(),
    );
  }, 240_000);

  it('an Unavailable storm on every cloud call ends with the invariants intact and the pool back at target', async () => {
    const pool = freshPool({
      ...FAST,
      spare_amphora_pool_size: 3,
      maximum_deploying_amphora_count: 2,
    });
    const local = await pool.background();
    await pool.until(settled, 60, 'filled');

    const fault = await pool.json(
      'noop',
      'fault',
      '--operation',
      '*',
      '--error',
      'Unavailable',
      '--probability',
      '0.5',
    );
    expect(fault).toMatchObject({ operation: '*', error: 'Unavailable', probability: 0.5 });
    // Work for the storm to hit: two refills (creates and checks) and a removal.
    const claimed = [await pool.json('claim'), await pool.json('claim')] as Listed[];
    expect(await pool.json('deactivate', claimed[0]!.id)).toMatchObject([{ result: 'scheduled' }]);
    const stormy = Date.now() + 8_000;
    await pool.until(() => Date.now() > stormy, 20, 'through the storm');
    const failed = local.log().filter((e) => e.errorClass === 'Unavailable');
    await pool.housekeeper('noop', 'clear');

    const samples = await pool.until(settled, 90, 'recovered');
    const records = await expectInvariants(pool, local);

    expect(failed.length, 'the storm hit some cloud calls').toBeGreaterThan(0);
    // A transient outage is retried or waited out: it leaves no dead letter.
    expect(samples.at(-1)!.queues.deadLetter).toBe(0);
    expect(records.filter((r) => r.state === 'ALLOCATED').map((r) => r.id)).toStrictEqual([
      claimed[1]!.id,
    ]);
    expect(samples.at(-1)!.spares).toStrictEqual({ ready: 3, target: 3 });
  }, 300_000);

  it('an Unauthorized outage is no storm: the breaker stops cloud work, probes with back-off, and nothing is burnt or dead-lettered', async () => {
    const config = { ...FAST, spare_amphora_pool_size: 2, maximum_deploying_amphora_count: 2 };
    const pool = freshPool(config);
    const local = await pool.background();
    await pool.until(settled, 60, 'filled');

    await pool.json(
      'noop',
      'fault',
      '--operation',
      '*',
      '--error',
      'Unauthorized',
      '--probability',
      '1',
    );
    const claimed = [await pool.json('claim'), await pool.json('claim')] as Listed[];
    const outage = await pool.until(
      (s) => s.cloud !== undefined && Date.now() - Date.parse(s.cloud.since ?? '') > 10_000,
      40,
      'refusing for 10 s',
    );
    const refusals = local.log().filter((e) => e.errorClass === 'Unauthorized');
    await pool.housekeeper('noop', 'clear');
    const recovered = await pool.until(settled, 60, 'recovered');
    const records = await expectInvariants(pool, local);

    const refusing = outage.filter((s) => s.cloud !== undefined);
    expect(refusing.length, 'status showed the refusal').toBeGreaterThan(0);
    for (const s of refusing)
      expect(s.cloud).toMatchObject({ refusing: true, kind: 'Unauthorized' });
    for (const s of [...outage, ...recovered]) expect(s.queues.deadLetter).toBe(0);
    // Once the breaker opened, only its probes reach the cloud: the first refusals are the
    // tasks in flight (at most the deploying cap, plus a sweep), then one per doubling interval.
    const seconds = (Date.parse(refusals.at(-1)!.time) - Date.parse(refusals[0]!.time)) / 1000;
    expect(refusals.length).toBeLessThanOrEqual(
      config.maximum_deploying_amphora_count + 1 + probesWithin(seconds, config),
    );
    // No amphora was given up for it: the two refills waited, and booted once it ended.
    expect(records.map((r) => r.state).sort()).toStrictEqual([
      'ALLOCATED',
      'ALLOCATED',
      'READY',
      'READY',
    ]);
    expect(
      records
        .filter((r) => r.state === 'ALLOCATED')
        .map((r) => r.id)
        .sort(),
    ).toStrictEqual(claimed.map((c) => c.id).sort());
  }, 300_000);

  it('boot failures end with the failed amphorae preserved within the maximum or removed, and the pool back at target once boots succeed', async () => {
    const config = {
      ...FAST,
      spare_amphora_pool_size: 2,
      maximum_deploying_amphora_count: 2,
      maximum_preserved_amphora_count: 1,
      preservation_scheme: 'cycle',
      noop: { boot_seconds: 1, boot_failure_rate: 1 },
    };
    const pool = freshPool(config);
    let local = await pool.background();
    const failing = await pool.until(
      (s) => s.states.DELETED + s.preserved.count >= 3,
      60,
      'three boots failed',
    );
    await local.stop();

    // Boots succeed again. Then one refill's create and its check each fail once (retried).
    pool.setConfig({ ...config, noop: { boot_seconds: 1, boot_failure_rate: 0 } });
    local = await pool.background();
    const refilled = await pool.until(settled, 90, 'refilled');
    for (const operation of ['createServer', 'getServer']) {
      await pool.json(
        'noop',
        'fault',
        '--operation',
        operation,
        '--error',
        'AmphoraDriverError',
        '--times',
        '1',
      );
    }
    await pool.json('claim');
    const recovered = await pool.until(
      (s) => settled(s) && s.states.ALLOCATED === 1,
      60,
      'refilled after a failed create and check',
    );
    const records = await expectInvariants(pool, local);

    expect(failing.at(-1)!.spares.ready).toBe(0);
    expect(refilled.at(-1)!.spares).toStrictEqual({ ready: 2, target: 2 });
    const failures = records.filter((r) => r.failure !== undefined);
    expect(failures.length).toBeGreaterThanOrEqual(3);
    for (const r of failures) expect(r.failure!.code).toBe('BOOT_FAILED');
    // The cycle scheme keeps only the newest failure; the others were removed.
    const failedAt = (r: Listed) => Date.parse(r.history.find((h) => h.to === 'ERROR')!.at);
    const newest = failures.sort((a, b) => failedAt(a) - failedAt(b)).at(-1)!;
    expect(recovered.at(-1)!.preservedQueue.map((r) => r.id)).toStrictEqual([newest.id]);
    expect(failures.filter((r) => r.state !== 'DELETED').map((r) => r.id)).toStrictEqual([
      newest.id,
    ]);
    expect(recovered.at(-1)!.spares).toStrictEqual({ ready: 2, target: 2 });
    expect(
      local
        .log()
        .filter((e) => e.message === 'task failed')
        .map((e) => `${e.type} ${e.errorClass} ${e.verdict}`)
        .sort(),
    ).toStrictEqual(['CHECK AmphoraDriverError retry', 'CREATE AmphoraDriverError retry']);
  }, 300_000);

  it('the DLQ commands list a task the local run’s queue dead-lettered after task_max_attempts deliveries, and redrive it to finish its work', async () => {
    const pool = freshPool({ ...FAST, spare_amphora_pool_size: 1, task_max_attempts: 2 });
    const local = await pool.background();
    await pool.until(settled, 60, 'filled');

    // The refill's status check meets the cloud unavailable on both of its deliveries: the
    // queue's redrive policy (maxReceiveCount = task_max_attempts) moves it to the DLQ.
    await pool.json(
      'noop',
      'fault',
      '--operation',
      'getServer',
      '--error',
      'Unavailable',
      '--times',
      '2',
    );
    // The local run's executors read the fault rules at most FAULT_RULES_MAX_AGE_MS (1 s) late:
    // claim only once they see the rule, so that the refill's first CHECK meets it.
    await new Promise((r) => setTimeout(r, 2_000));
    await pool.json('claim');
    const stuck = await pool.until((s) => s.queues.deadLetter === 1, 40, 'dead-lettered');
    const dead = (await pool.json('dlq', 'list')) as Array<Record<string, unknown>>;
    const booting = (await pool.json('list', '--state', 'BOOTING')) as Listed[];
    const redriven = await pool.json('dlq', 'redrive', String(dead[0]?.messageId));
    const done = await pool.until(settled, 30, 'the redriven check done');
    await expectInvariants(pool, local);

    expect(stuck.at(-1)!.spares.ready).toBe(0);
    expect(booting).toHaveLength(1);
    expect(dead).toStrictEqual([
      expect.objectContaining({
        taskType: 'CHECK',
        amphoraId: booting[0]!.id,
        errorClass: 'maxReceiveCount',
      }),
    ]);
    expect(redriven).toStrictEqual([{ messageId: dead[0]!.messageId, result: 'redriven' }]);
    expect(done.at(-1)!.queues.deadLetter).toBe(0);
    expect((await pool.json('show', booting[0]!.id)).state).toBe('READY');
  }, 240_000);
});

/**
 * How many probes the cloud breaker lets through in `seconds` after it opened: one per
 * interval, `create_backoff_initial` doubled after each refused probe, capped at
 * `create_backoff_max` (lib/domain/cloud-health.ts).
 */
function probesWithin(
  seconds: number,
  c: { create_backoff_initial: number; create_backoff_max: number },
): number {
  let n = 0;
  for (let t = 0, k = 0; t <= seconds; k++, n++) {
    t += Math.min(c.create_backoff_initial * 2 ** k, c.create_backoff_max);
  }
  return n;
}
