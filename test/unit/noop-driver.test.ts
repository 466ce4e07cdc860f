/**
 * The noop driver beyond the happy-path contract: its call log, fault injection (shared by every
 * process over one cloud store), simulated slow and failing boots, and ownership of servers.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryCloudState } from '../../lib/adapters/memory/memory-cloud-state.ts';
import {
  AmphoraDriverError,
  DeleteFailedError,
  type DriverErrorKind,
  driverErrorKind,
  NotFoundError,
  NotImplementedError,
  UnauthorizedError,
  UnavailableError,
} from '../../lib/domain/errors.ts';
import {
  FAULT_RULES_MAX_AGE_MS,
  type FaultRule,
  NOOP_OPERATIONS,
  type NoopBootBehaviour,
  NoopCloudControl,
  NoopDriver,
  type NoopOperation,
} from '../../lib/drivers/noop/noop-driver.ts';
import { seededRandom } from '../../lib/local/random.ts';
import { amphoraTag } from '../../lib/ports/amphora-driver.ts';
import type { CloudStateStore } from '../../lib/ports/cloud-state.ts';
import { bootRequest } from '../support/boot.ts';

const TAG = 'amphora-housekeeper';
const INSTANT: NoopBootBehaviour = { bootSeconds: 0, bootFailureRate: 0 };

/** One simulated cloud: a store, a clock, ids, a control, and drivers ("processes") over it. */
function cloud(state: CloudStateStore = new MemoryCloudState()) {
  const clock = new ManualClock();
  let n = 0;
  const newId = () => `id-${++n}`;
  const control = new NoopCloudControl(state, newId);
  const driver = (
    boot: NoopBootBehaviour = INSTANT,
    options: { random?: () => number; tag?: string } = {},
  ) =>
    new NoopDriver(
      { state, clock, newId, ...(options.random ? { random: options.random } : {}) },
      options.tag ?? TAG,
      boot,
    );
  return { state, clock, control, driver };
}

/** Calls `operation` with arguments that need no existing server or image. */
function callAny(driver: NoopDriver, operation: NoopOperation): Promise<unknown> {
  switch (operation) {
    case 'createServer':
      return driver.createServer(bootRequest('amp-x', '*'));
    case 'listServers':
      return driver.listServers();
    case 'listImages':
      return driver.listImages({ amphoraId: 'amp-x' });
    case 'snapshot':
      return driver.snapshot('srv-x', { amphoraId: 'amp-x' });
    case 'resolveImage':
      return driver.resolveImage({ tag: 'amp-x' });
    default:
      return driver[operation]('srv-x');
  }
}

async function outcomes(calls: Array<Promise<unknown>>): Promise<string[]> {
  return (await Promise.allSettled(calls)).map((r) =>
    r.status === 'fulfilled' ? 'ok' : (driverErrorKind(r.reason) ?? String(r.reason)),
  );
}

describe('call log', () => {
  it('records operation, target, time and outcome of every call, failures included', async () => {
    // Prepare
    const { clock, control, driver } = cloud();
    const d = driver();
    const t0 = clock.now();

    // Act
    const server = await d.createServer(bootRequest('amp-1', 'az1'));
    clock.advance(1_000);
    await d.getServer('missing').catch(() => {});
    await d.listServers();
    await control.injectFault({ operation: 'deleteServer', error: 'DeleteFailed', times: 1 });
    clock.advance(1_000);
    await d.deleteServer(server.id).catch(() => {});
    await d.listServers({ amphoraId: 'amp-1' });

    // Assess
    expect(d.calls).toStrictEqual([
      { operation: 'createServer', target: 'amp-1', at: t0, outcome: 'ok' },
      { operation: 'getServer', target: 'missing', at: t0 + 1_000, outcome: 'NotFound' },
      { operation: 'listServers', at: t0 + 1_000, outcome: 'ok' },
      { operation: 'deleteServer', target: server.id, at: t0 + 2_000, outcome: 'DeleteFailed' },
      { operation: 'listServers', target: 'amp-1', at: t0 + 2_000, outcome: 'ok' },
    ]);
  });

  it('records an aborted call as Unavailable', async () => {
    // Prepare
    const d = cloud().driver();
    const controller = new AbortController();
    controller.abort();

    // Act
    await d.listServers(undefined, { signal: controller.signal }).catch(() => {});

    // Assess
    expect(d.calls.map((c) => c.outcome)).toStrictEqual(['Unavailable']);
  });

  it('is per instance: another driver over the same cloud has its own log', async () => {
    // Prepare
    const { driver } = cloud();
    const a = driver();
    const b = driver();

    // Act
    await a.listServers();
    await a.listServers();
    await b.listServers();

    // Assess
    expect(a.calls).toHaveLength(2);
    expect(b.calls).toHaveLength(1);
  });
});

describe('fault rules', () => {
  it.each([1, 2, 5])('times: %s fails exactly the next matching calls, then stops', async (n) => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver();
    const server = await d.createServer(bootRequest('amp-1', '*'));
    await control.injectFault({ operation: 'getServer', error: 'Unavailable', times: n });

    // Act
    const results: string[] = [];
    for (let i = 0; i < n + 3; i++) results.push(...(await outcomes([d.getServer(server.id)])));

    // Assess
    expect(results).toStrictEqual([...Array<string>(n).fill('Unavailable'), 'ok', 'ok', 'ok']);
    expect(await control.faults()).toStrictEqual([]);
  });

  it('leaves other operations alone and does not spend the rule on them', async () => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver();
    await control.injectFault({ operation: 'deleteServer', error: 'DeleteFailed', times: 1 });

    // Act
    const listed = await outcomes([d.listServers(), d.listImages({ amphoraId: 'a' })]);
    const deleted = await outcomes([d.deleteServer('srv-x'), d.deleteServer('srv-x')]);

    // Assess
    expect(listed).toStrictEqual(['ok', 'ok']);
    expect(deleted).toStrictEqual(['DeleteFailed', 'NotFound']);
  });

  it('fails before doing anything: a failed createServer boots nothing', async () => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver();
    await control.injectFault({ operation: 'createServer', error: 'Unavailable', times: 1 });

    // Act
    await expect(d.createServer(bootRequest('amp-1', '*'))).rejects.toBeInstanceOf(
      UnavailableError,
    );

    // Assess
    expect(await control.serverIds()).toStrictEqual([]);
  });

  it.each(NOOP_OPERATIONS)('"*" matches %s', async (operation) => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver();
    await control.injectFault({ operation: '*', error: 'Unauthorized', times: 1 });

    // Act
    const result = await outcomes([callAny(d, operation)]);

    // Assess
    expect(result).toStrictEqual(['Unauthorized']);
    expect(await control.faults()).toStrictEqual([]);
  });

  it('"*" with times: N fails the next N calls whatever their operation', async () => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver();
    await control.injectFault({ operation: '*', error: 'Unavailable', times: 3 });

    // Act
    const results: string[] = [];
    for (const op of ['listServers', 'getServer', 'listImages', 'listServers'] as const) {
      results.push(...(await outcomes([callAny(d, op)])));
    }

    // Assess
    expect(results).toStrictEqual(['Unavailable', 'Unavailable', 'Unavailable', 'ok']);
  });

  it.each([
    [0.1, 1],
    [0.3, 2],
    [0.5, 3],
    [0.9, 4],
  ])('probability %s fails at roughly that rate (seed %s)', async (p, seed) => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver(INSTANT, { random: seededRandom(seed) });
    await control.injectFault({ operation: 'listServers', error: 'Unavailable', probability: p });
    const calls = 2_000;

    // Act
    const results: string[] = [];
    for (let i = 0; i < calls; i++) results.push(...(await outcomes([d.listServers()])));

    // Assess
    const rate = results.filter((r) => r === 'Unavailable').length / calls;
    expect(rate).toBeGreaterThan(p - 0.05);
    expect(rate).toBeLessThan(p + 0.05);
    expect(results.filter((r) => r !== 'Unavailable' && r !== 'ok')).toStrictEqual([]);
    expect(await control.faults()).toHaveLength(1);
  });

  it.each([
    [1, 'Unavailable'],
    [0, 'ok'],
  ])('probability %s: every call is %s', async (p, expected) => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver(INSTANT, { random: seededRandom(7) });
    await control.injectFault({ operation: 'listServers', error: 'Unavailable', probability: p });

    // Act
    const results: string[] = [];
    for (let i = 0; i < 300; i++) results.push(...(await outcomes([d.listServers()])));

    // Assess
    expect(results).toStrictEqual(Array<string>(300).fill(expected));
  });

  it.each<[DriverErrorKind, new (...args: never[]) => AmphoraDriverError]>([
    ['NotFound', NotFoundError],
    ['Unauthorized', UnauthorizedError],
    ['Unavailable', UnavailableError],
    ['DeleteFailed', DeleteFailedError],
    ['NotImplemented', NotImplementedError],
    ['AmphoraDriverError', AmphoraDriverError],
  ])('an injected %s is an error of exactly that class', async (kind, errorClass) => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver();
    await control.injectFault({ operation: 'listServers', error: kind, times: 1 });

    // Act
    const error = await d.listServers().then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(errorClass);
    expect((error as Error).constructor).toBe(errorClass);
    expect(driverErrorKind(error)).toBe(kind);
    expect((error as Error).message).toBe(`injected ${kind} on listServers`);
    expect(d.calls.at(-1)?.outcome).toBe(kind);
  });

  it.each<[string, Omit<FaultRule, 'id'>]>([
    [
      'both times and probability',
      { operation: '*', error: 'Unavailable', times: 1, probability: 0.5 },
    ],
    ['neither times nor probability', { operation: '*', error: 'Unavailable' }],
  ])('injectFault refuses a rule with %s', async (_, rule) => {
    // Prepare
    const { control } = cloud();

    // Act
    const refused = control.injectFault(rule);

    // Assess
    await expect(refused).rejects.toThrow(
      new RangeError('a fault rule needs exactly one of times and probability'),
    );
    expect(await control.faults()).toStrictEqual([]);
  });

  it.each<[string, Omit<FaultRule, 'id'>, string]>([
    [
      'times 0',
      { operation: '*', error: 'Unavailable', times: 0 },
      'times = 0: must be a whole number of at least 1',
    ],
    [
      'times 1.5',
      { operation: '*', error: 'Unavailable', times: 1.5 },
      'times = 1.5: must be a whole number of at least 1',
    ],
    [
      'probability 1.5',
      { operation: '*', error: 'Unavailable', probability: 1.5 },
      'probability = 1.5: must be between 0 and 1',
    ],
    [
      'probability -0.1',
      { operation: '*', error: 'Unavailable', probability: -0.1 },
      'probability = -0.1: must be between 0 and 1',
    ],
  ])('injectFault refuses %s, naming the value and the rule', async (_, rule, message) => {
    // Prepare
    const { control } = cloud();

    // Act
    const refused = control.injectFault(rule);

    // Assess
    await expect(refused).rejects.toThrow(new RangeError(message));
    expect(await control.faults()).toStrictEqual([]);
  });

  it('injectFault returns the rule with an id, and clearFaults removes every rule', async () => {
    // Prepare
    const { control, driver } = cloud();
    const d = driver();

    // Act
    const rule = await control.injectFault({
      operation: 'getServer',
      error: 'Unavailable',
      times: 9,
    });
    await control.injectFault({ operation: '*', error: 'Unavailable', probability: 1 });
    const before = await control.faults();
    await control.clearFaults();

    // Assess
    expect(rule).toStrictEqual({
      id: rule.id,
      operation: 'getServer',
      error: 'Unavailable',
      times: 9,
    });
    expect(before).toHaveLength(2);
    expect(before).toContainEqual(rule);
    expect(await control.faults()).toStrictEqual([]);
    expect(await outcomes([d.listServers()])).toStrictEqual(['ok']);
  });
});

describe('fault rules are shared by every process over one cloud', () => {
  it('times: N fails N calls in total across two drivers, not N each', async () => {
    // Prepare
    const { control, driver } = cloud();
    const a = driver();
    const b = driver();
    await control.injectFault({ operation: 'listServers', error: 'Unavailable', times: 3 });

    // Act
    const results: string[] = [];
    for (let i = 0; i < 8; i++) results.push(...(await outcomes([(i % 2 ? b : a).listServers()])));

    // Assess
    expect(results).toStrictEqual([
      'Unavailable',
      'Unavailable',
      'Unavailable',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
    ]);
    expect(a.calls.filter((c) => c.outcome === 'Unavailable')).toHaveLength(2);
    expect(b.calls.filter((c) => c.outcome === 'Unavailable')).toHaveLength(1);
  });

  it('never fails more than N calls in total when two drivers call concurrently', async () => {
    // Prepare
    const { control, driver } = cloud();
    const a = driver();
    const b = driver();
    await control.injectFault({ operation: 'listServers', error: 'Unavailable', times: 3 });

    // Act
    const burst = await outcomes(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? b : a).listServers()),
    );
    const after: string[] = [];
    for (let i = 0; i < 8; i++) after.push(...(await outcomes([(i % 2 ? b : a).listServers()])));

    // Assess
    const failures = [...burst, ...after].filter((r) => r === 'Unavailable');
    expect(failures).toHaveLength(3);
    expect(await control.faults()).toStrictEqual([]);
  });

  it('times: N fails exactly N of 2N concurrent calls from two drivers', async () => {
    // Prepare
    const { control, driver } = cloud();
    const a = driver();
    const b = driver();
    await control.injectFault({ operation: 'listServers', error: 'Unavailable', times: 3 });

    // Act
    const burst = await outcomes(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? b : a).listServers()),
    );

    // Assess: the next 3 calls fail even when they arrive together
    expect(burst.filter((r) => r === 'Unavailable')).toHaveLength(3);
    expect(burst.filter((r) => r === 'ok')).toHaveLength(3);
    expect(await control.faults()).toStrictEqual([]);
  });
});

/**
 * The same cloud as another process sees it: a store object of its own over the same entries,
 * counting the fault listings it sends (a process shares nothing with another but the store).
 */
function anotherProcess(state: CloudStateStore) {
  const seen = { faultListings: 0 };
  const store: CloudStateStore = {
    get: (key) => state.get(key),
    put: (key, value, expected) => state.put(key, value, expected),
    delete: (key, expected) => state.delete(key, expected),
    list: (prefix) => {
      if (prefix === 'fault/') seen.faultListings += 1;
      return state.list(prefix);
    },
  };
  return { store, seen };
}

describe('fault rules cost no request per call, and reach other processes within a bound', () => {
  it('lists the rules once per FAULT_RULES_MAX_AGE_MS, however many calls it makes', async () => {
    // Prepare
    const { state, clock } = cloud();
    const { store, seen } = anotherProcess(state);
    const d = new NoopDriver({ state: store, clock, newId: () => 'srv' }, TAG, INSTANT);
    const server = await d.createServer(bootRequest('amp-1', '*'));

    // Act
    for (let i = 0; i < 50; i++) await d.getServer(server.id);
    const withinBound = seen.faultListings;
    clock.advance(FAULT_RULES_MAX_AGE_MS);
    for (let i = 0; i < 50; i++) await d.getServer(server.id);

    // Assess
    expect(withinBound).toBe(1);
    expect(seen.faultListings).toBe(2);
  });

  it('lists the rules once for concurrent calls whose list expired together', async () => {
    // Prepare
    const { state, clock } = cloud();
    const { store, seen } = anotherProcess(state);
    const d = new NoopDriver({ state: store, clock, newId: () => 'srv' }, TAG, INSTANT);
    const server = await d.createServer(bootRequest('amp-1', '*'));
    clock.advance(FAULT_RULES_MAX_AGE_MS);

    // Act
    const results = await outcomes(Array.from({ length: 10 }, () => d.getServer(server.id)));

    // Assess
    expect(results).toStrictEqual(Array(10).fill('ok'));
    expect(seen.faultListings).toBe(2);
  });

  it('applies a rule this process injects while a listing is in flight', async () => {
    // Prepare: the listing that began before the injection must not hide the rule afterwards
    const { state, clock, control } = cloud();
    const d = new NoopDriver({ state, clock, newId: () => 'srv' }, TAG, INSTANT);
    const server = await d.createServer(bootRequest('amp-1', '*'));
    clock.advance(FAULT_RULES_MAX_AGE_MS);

    // Act
    const before = d.getServer(server.id);
    await control.injectFault({ operation: 'getServer', error: 'Unavailable', times: 1 });
    const during = await outcomes([before]);
    const after = await outcomes([d.getServer(server.id)]);

    // Assess
    expect(during.length + after.length).toBe(2);
    expect([...during, ...after]).toContain('Unavailable');
  });

  it.each<[string, Omit<FaultRule, 'id'>]>([
    ['times', { operation: 'getServer', error: 'Unavailable', times: 2 }],
    ['probability', { operation: 'getServer', error: 'Unauthorized', probability: 1 }],
  ])(
    'a %s rule injected by another process fails calls within FAULT_RULES_MAX_AGE_MS',
    async (_, rule) => {
      // Prepare: the executor's process has read the (empty) rules just before the injection
      const { state, clock } = cloud();
      const executor = anotherProcess(state);
      const operator = anotherProcess(state);
      const d = new NoopDriver({ state: executor.store, clock, newId: () => 'srv' }, TAG, INSTANT);
      const server = await d.createServer(bootRequest('amp-1', '*'));
      await d.getServer(server.id);
      await new NoopCloudControl(operator.store, () => 'rule').injectFault(rule);

      // Act
      clock.advance(FAULT_RULES_MAX_AGE_MS);
      const after = await outcomes([d.getServer(server.id), d.getServer(server.id)]);

      // Assess
      expect(after).toStrictEqual([rule.error, rule.error]);
    },
  );

  it('never applies a times rule that another process cleared, even from a stale list', async () => {
    // Prepare: the executor's list still holds the rule when the operator clears it
    const { state, clock } = cloud();
    const executor = anotherProcess(state);
    const d = new NoopDriver({ state: executor.store, clock, newId: () => 'srv' }, TAG, INSTANT);
    const server = await d.createServer(bootRequest('amp-1', '*'));
    const operator = new NoopCloudControl(anotherProcess(state).store, () => 'rule');
    await operator.injectFault({ operation: 'getServer', error: 'Unavailable', times: 5 });
    clock.advance(FAULT_RULES_MAX_AGE_MS);
    const first = await outcomes([d.getServer(server.id)]);
    await operator.clearFaults();

    // Act
    const after = await outcomes([d.getServer(server.id), d.getServer(server.id)]);

    // Assess
    expect(first).toStrictEqual(['Unavailable']);
    expect(after).toStrictEqual(['ok', 'ok']);
  });

  it('times: N fails N calls in total across processes whose lists are stale', async () => {
    // Prepare: both processes have read the rule; each then consumes from its own copy
    const { state, clock } = cloud();
    const drivers = [anotherProcess(state), anotherProcess(state)].map(
      (p) => new NoopDriver({ state: p.store, clock, newId: () => 'srv' }, TAG, INSTANT),
    );
    await new NoopCloudControl(state, () => 'rule').injectFault({
      operation: 'listServers',
      error: 'Unavailable',
      times: 3,
    });

    // Act
    const burst = await outcomes(
      Array.from({ length: 10 }, (_, i) => drivers[i % 2]!.listServers()),
    );
    const after: string[] = [];
    for (let i = 0; i < 6; i++) after.push(...(await outcomes([drivers[i % 2]!.listServers()])));

    // Assess
    expect([...burst, ...after].filter((r) => r === 'Unavailable')).toHaveLength(3);
  });
});

describe('simulated boots', () => {
  it('stays BUILD until bootSeconds have passed, then is ACTIVE', async () => {
    // Prepare
    const { clock, driver } = cloud();
    const d = driver({ bootSeconds: 30, bootFailureRate: 0 });

    // Act
    const created = await d.createServer(bootRequest('amp-1', 'az1'));
    clock.advance(29_999);
    const justBefore = await d.getServer(created.id);
    clock.advance(1);
    const atBoot = await d.getServer(created.id);

    // Assess
    expect(created.status).toBe('BUILD');
    expect(justBefore.status).toBe('BUILD');
    expect(atBoot).toStrictEqual({
      id: created.id,
      name: 'amphora-amp-1',
      pool: 'default',
      amphoraId: 'amp-1',
      status: 'ACTIVE',
      createdAt: created.createdAt,
      zone: 'az1',
    });
  });

  it('is ACTIVE at once with bootSeconds 0', async () => {
    const server = await cloud().driver().createServer(bootRequest('amp-1', '*'));
    expect(server.status).toBe('ACTIVE');
  });

  it('ends in ERROR with a fault message when the boot fails (bootFailureRate 1)', async () => {
    // Prepare
    const { clock, driver } = cloud();
    const d = driver({ bootSeconds: 10, bootFailureRate: 1 });

    // Act
    const created = await d.createServer(bootRequest('amp-1', '*'));
    const booting = await d.getServer(created.id);
    clock.advance(10_000);
    const failed = await d.getServer(created.id);

    // Assess
    expect(booting.status).toBe('BUILD');
    expect(booting.fault).toBeUndefined();
    expect(failed.status).toBe('ERROR');
    expect(failed.fault).toBe('simulated boot failure (noop driver)');
  });

  it('fails boots at roughly bootFailureRate with a seeded random', async () => {
    // Prepare
    const d = cloud().driver(
      { bootSeconds: 0, bootFailureRate: 0.25 },
      { random: seededRandom(11) },
    );

    // Act
    const statuses: string[] = [];
    for (let i = 0; i < 1_000; i++) {
      statuses.push((await d.createServer(bootRequest(`amp-${i}`, '*'))).status);
    }

    // Assess
    const rate = statuses.filter((s) => s === 'ERROR').length / statuses.length;
    expect(rate).toBeGreaterThan(0.2);
    expect(rate).toBeLessThan(0.3);
    expect(statuses.every((s) => s === 'ERROR' || s === 'ACTIVE')).toBe(true);
  });
});

describe('servers live in the cloud store, not in the driver', () => {
  it('a second driver over the same store sees, and can delete, what the first made', async () => {
    // Prepare
    const { driver } = cloud();
    const first = driver();
    const second = driver();
    const made = await first.createServer(bootRequest('amp-1', 'az1'));

    // Act
    const seen = await second.getServer(made.id);
    const listed = await second.listServers({ amphoraId: 'amp-1' });
    await second.deleteServer(made.id);

    // Assess
    expect(seen).toStrictEqual(made);
    expect(listed).toStrictEqual([made]);
    await expect(first.getServer(made.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a driver over another store sees none of them', async () => {
    // Prepare
    const made = await cloud().driver().createServer(bootRequest('amp-1', '*'));
    const other = cloud().driver();

    // Act
    const listed = await other.listServers();

    // Assess
    expect(listed).toStrictEqual([]);
    await expect(other.getServer(made.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('listServers returns only servers with our ownership tag', () => {
  it('leaves out a foreign server, even one carrying an amphora-id tag', async () => {
    // Prepare
    const { clock, control, driver } = cloud();
    const d = driver();
    const ours = await d.createServer(bootRequest('amp-1', '*'));
    const foreign = await control.plantServer(['other-tag'], clock.now());
    const lookalike = await control.plantServer(['other-tag', amphoraTag('amp-1')], clock.now());

    // Act
    const all = await d.listServers();
    const forAmphora = await d.listServers({ amphoraId: 'amp-1' });

    // Assess
    expect(all.map((s) => s.id)).toStrictEqual([ours.id]);
    expect(forAmphora.map((s) => s.id)).toStrictEqual([ours.id]);
    expect((await control.serverIds()).sort()).toStrictEqual([ours.id, foreign, lookalike].sort());
  });

  it('lists a planted server that carries the ownership tag (an orphan)', async () => {
    // Prepare
    const { clock, control, driver } = cloud();
    const orphan = await control.plantServer([TAG], clock.now());

    // Act
    const listed = await driver().listServers();

    // Assess
    expect(listed.map((s) => s.id)).toStrictEqual([orphan]);
    expect(listed[0]!.amphoraId).toBeUndefined();
  });

  it('keeps two deployments with different tags apart on one cloud', async () => {
    // Prepare
    const { driver } = cloud();
    const blue = driver(INSTANT, { tag: 'housekeeper-blue' });
    const green = driver(INSTANT, { tag: 'housekeeper-green' });
    const b = await blue.createServer(bootRequest('amp-b', '*'));
    const g = await green.createServer(bootRequest('amp-g', '*'));

    // Act
    const blueSees = await blue.listServers();
    const greenSees = await green.listServers();

    // Assess
    expect(blueSees.map((s) => s.id)).toStrictEqual([b.id]);
    expect(greenSees.map((s) => s.id)).toStrictEqual([g.id]);
  });
});
