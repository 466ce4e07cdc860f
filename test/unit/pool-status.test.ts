/**
 * `status` answers the operator's questions in one screen (issue 11 item 4): per zone against
 * target, booting against the cap, the preserved queue in order with why and for how long, what
 * waits for an operator and the command that helps, whether the cloud refuses, and the
 * ALLOCATED amphorae whose server is gone.
 */
import { describe, expect, it } from 'vitest';
import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { poolStatus } from '../../lib/app/pool-status.ts';
import { parseConfig } from '../../lib/config/schema.ts';
import type { AmphoraRecord } from '../../lib/domain/amphora.ts';
import { MISSING_SWEEPS } from '../../lib/domain/ghosts.ts';
import { formatStatus } from '../../lib/local/format.ts';
import { styleFor } from '../../lib/local/output.ts';
import { MINUTE, NOW, rec } from '../support/pool-fixtures.ts';

const config = parseConfig({
  spare_amphora_pool_size: 2,
  availability_zones: ['az1', 'az2'],
  maximum_preserved_amphora_count: 2,
  preservation_scheme: 'cycle',
});

async function storeWith(...records: AmphoraRecord[]): Promise<MemoryPoolStore> {
  const store = new MemoryPoolStore();
  for (const r of records) await store.create(r);
  return store;
}

/** Fails one create in `zone`, as the executor records it. */
async function failCreate(store: MemoryPoolStore, zone: string, at: number): Promise<void> {
  const r = rec('PENDING_CREATE', { zone, ageSeconds: 0 });
  await store.create(r);
  await store.update(
    { ...r, state: 'ERROR', version: r.version + 1, updatedAt: at },
    { version: r.version, state: r.state },
    { createOutcome: 'failure' },
  );
}

const ESC = String.fromCharCode(27);

describe('status', () => {
  it('lists the ALLOCATED amphorae whose server is gone, with the command that clears them, and not one missed by a single sweep', async () => {
    const gone = rec('ALLOCATED', {
      id: 'gone-0001-x',
      zone: 'az1',
      missing: { since: NOW - 5 * MINUTE, sweeps: MISSING_SWEEPS },
    });
    const broken = rec('ALLOCATED', {
      id: 'brok-0001-x',
      zone: 'az2',
      missing: { since: NOW - MINUTE, sweeps: 1, status: 'ERROR' },
    });
    const once = rec('ALLOCATED', { zone: 'az1', missing: { since: NOW, sweeps: 1 } });
    const fine = rec('ALLOCATED', { zone: 'az1' });
    const status = await poolStatus(await storeWith(gone, broken, once, fine), config);

    expect(status.allocatedGhosts.map((g) => [g.id, g.serverStatus, g.commands])).toEqual(
      expect.arrayContaining([
        ['gone-0001-x', undefined, ['housekeeper deactivate gone-000']],
        ['brok-0001-x', 'ERROR', ['housekeeper deactivate brok-000']],
      ]),
    );
    expect(status.allocatedGhosts).toHaveLength(2);
    const gv = status.allocatedGhosts.find((g) => g.id === gone.id)!;
    expect(gv.missingSince).toBe(new Date(NOW - 5 * MINUTE).toISOString());

    const screen = formatStatus(status, 'memory', { now: NOW });
    expect(screen).toContain('ALLOCATED amphorae whose server is gone or broken');
    expect(screen).toContain(`server ${gone.computeId} missing since`);
    expect(screen).toContain(`server ${broken.computeId} in ERROR since`);
    expect(screen).toContain('`housekeeper deactivate gone-000` removes the record');
  });

  it('shows the preserved queue oldest first with its position, why it failed and for how long', async () => {
    const older = rec('PRESERVED', {
      id: 'old-preserved',
      ageSeconds: 3 * 3600,
      failure: { code: 'BOOT_FAILED', message: 'kernel panic', at: NOW - 3 * 3600_000 },
    });
    const newer = rec('PRESERVING', {
      id: 'new-preserving',
      ageSeconds: 120,
      failure: { code: 'REPORTED', message: 'lb said so', at: NOW - 120_000 },
    });
    const status = await poolStatus(await storeWith(newer, older), config);

    expect(status.preservedQueue.map((v) => [v.position, v.id, v.queuedAt])).toEqual([
      [1, 'old-preserved', new Date(NOW - 3 * 3600_000).toISOString()],
      [2, 'new-preserving', new Date(NOW - 120_000).toISOString()],
    ]);
    const screen = formatStatus(status, 'memory', { now: NOW }).split('\n');
    const head = screen.findIndex((l) => l.startsWith('preserved queue, oldest first'));
    expect(screen[head]).toContain('cycle: the next failure evicts #1');
    expect(screen[head + 1]).toMatch(/^ {2}#\s+ID\s+POOL\s+STATE\s+PRESERVED FOR\s+METHOD\s+WHY$/);
    expect(screen[head + 2]).toMatch(
      /^ {2}1\s+old-preserved\s+default\s+PRESERVED\s+3h\s+unplug.*BOOT_FAILED: kernel panic$/,
    );
    expect(screen[head + 3]).toMatch(
      /^ {2}2\s+new-preserving\s+.*PRESERVING\s+2m\s+.*REPORTED: lb said so$/,
    );
  });

  it('says what waits for an operator with the exact commands, in JSON and on screen', async () => {
    const removal = rec('PENDING_DELETE', {
      id: 'stuck-rm-1',
      failure: { code: 'DELETE_FAILED', message: 'nova says no', at: NOW },
    });
    const preserve = rec('PRESERVING', {
      id: 'stuck-pr-1',
      failure: { code: 'PRESERVE_FAILED', message: 'glance says no', at: NOW },
    });
    const status = await poolStatus(await storeWith(removal, preserve), config);

    expect(Object.fromEntries(status.needsOperator.map((v) => [v.id, v.commands]))).toEqual({
      'stuck-rm-1': ['housekeeper retry stuck-rm'],
      'stuck-pr-1': ['housekeeper retry stuck-pr', 'housekeeper deactivate stuck-pr'],
    });
    const screen = formatStatus(status, 'memory', { now: NOW });
    expect(screen).toContain('`housekeeper retry stuck-rm` tries the removal again');
    expect(screen).toContain('`housekeeper deactivate stuck-pr` removes it');
  });

  it('shows every zone against its target with its deploying count and its failing creates', async () => {
    const store = await storeWith(
      rec('READY', { zone: 'az1' }),
      rec('READY', { zone: 'az1' }),
      rec('BOOTING', { zone: 'az2' }),
    );
    await failCreate(store, 'az2', NOW - 10 * MINUTE);
    await failCreate(store, 'az2', NOW - 4 * MINUTE);
    const status = await poolStatus(store, config);

    expect(status.pools[0]!.zones).toEqual([
      { zone: 'az1', ready: 2, target: 2, deploying: 0 },
      {
        zone: 'az2',
        ready: 0,
        target: 2,
        deploying: 1,
        createFailures: { inARow: 2, lastAt: new Date(NOW - 4 * MINUTE).toISOString() },
      },
    ]);
    expect(status.deploying).toEqual({ count: 1, cap: config.maximum_deploying_amphora_count });
    const lines = formatStatus(status, 'memory', { now: NOW }).split('\n');
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ {2}POOL\s+ZONE\s+READY\s+TARGET\s+DEPLOYING\s+CREATE FAILURES\s+IMAGE$/,
      ),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}default\s+az1\s+2\s+2\s+0\s+-\s+-$/));
    expect(lines).toContainEqual(
      expect.stringMatching(/^ {2}default\s+az2\s+0\s+2\s+1\s+2 in a row, last 4m ago\s+-$/),
    );
  });

  it.each([
    [
      'no refusal recorded',
      undefined,
      undefined,
      undefined,
      'cloud: answering (no refusal recorded)',
    ],
    [
      'one Unavailable, below the threshold',
      { state: 'ok' as const, failures: 1, kind: 'Unavailable' as const, lastError: 'nova 503' },
      undefined,
      { refusalsInARow: 1, kind: 'Unavailable', error: 'nova 503' },
      'cloud: 1 refusal(s) in a row (Unavailable: nova 503), not yet refusing',
    ],
    [
      'recovered',
      { state: 'ok' as const, failures: 0, recoveredAt: NOW - MINUTE },
      undefined,
      { refusalsInARow: 0, recoveredAt: new Date(NOW - MINUTE).toISOString() },
      `cloud: answering; last recovered from refusing at ${new Date(NOW - MINUTE).toISOString()}`,
    ],
    [
      'refusing on bad credentials',
      {
        state: 'refusing' as const,
        failures: 1,
        kind: 'Unauthorized' as const,
        lastError: 'keystone 401',
        since: NOW - MINUTE,
        probeAt: NOW + MINUTE,
        probes: 0,
      },
      {
        refusing: true,
        kind: 'Unauthorized',
        since: new Date(NOW - MINUTE).toISOString(),
        nextProbe: new Date(NOW + MINUTE).toISOString(),
        error: 'keystone 401',
      },
      undefined,
      'THE CLOUD REFUSES (Unauthorized: keystone 401)',
    ],
  ])('says whether the cloud refuses us: %s', async (_, health, cloud, recent, line) => {
    const store = new MemoryPoolStore();
    if (health) await store.putCloudHealth(health);
    const status = await poolStatus(store, config);
    expect(status.cloud).toEqual(cloud);
    expect(status.cloudRecent).toEqual(recent);
    expect(formatStatus(status, 'memory', { now: NOW })).toContain(line);
  });

  it('writes no escape codes without colour, and colours a refusal when colour is on', async () => {
    const store = await storeWith(rec('READY', { zone: 'az1' }));
    await store.putCloudHealth({
      state: 'refusing',
      failures: 1,
      kind: 'Unauthorized',
      since: NOW,
      probeAt: NOW,
    });
    const status = await poolStatus(store, config);
    expect(formatStatus(status, 'memory', { now: NOW })).not.toContain(ESC);
    const colour = styleFor({ FORCE_COLOR: '1' }, false);
    expect(formatStatus(status, 'memory', { now: NOW, style: colour })).toContain(`${ESC}[31m`);
  });
});
