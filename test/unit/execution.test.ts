/**
 * The executor's decisions as pure functions (lib/domain/execution.ts): how a record boots,
 * what a status check, a preservation step or an image poll means for it, and what a task given
 * up leaves on it. The executor itself (lib/app/execute-task.ts) only does the I/O around them.
 */
import { describe, expect, it } from 'vitest';
import {
  afterBoot,
  afterImageStatus,
  afterRemove,
  afterStatusCheck,
  bootPlan,
  givenUp,
  pollDelay,
  preservationAbandoned,
  preservationAction,
  preservationDone,
  type ServerObservation,
  snapshotRequested,
} from '../../lib/domain/execution.ts';
import { launchDigest } from '../../lib/domain/settings.ts';
import { config, NOW, rec, SECOND } from '../support/pool-fixtures.ts';

const settings = config({
  boot_timeout: 600,
  check_initial_delay: 15,
  check_max_delay: 120,
  amphora_expiry_age: 3600,
  pools: [
    {
      name: 'large',
      availability_zones: [
        { name: 'octavia-a', compute_zone: 'nova-a', network_ids: ['mgmt-a'] },
        'octavia-b',
      ],
      openstack: {
        flavor_id: 'f-large',
        image_tag: 'amp',
        network_ids: ['mgmt'],
        security_group_ids: ['sg'],
        key_name: 'ops',
        config_drive: true,
        user_data: 'hello',
        server_group_id: 'grp',
      },
    },
  ],
});

describe('bootPlan', () => {
  it('boots with the pool’s launch spec for the zone, and the image the planner chose', () => {
    const r = rec('PENDING_CREATE', {
      pool: 'large',
      zone: 'octavia-a',
      computeZone: 'nova-a',
      launch: { imageId: 'img-7', flavorId: 'f-large', digest: 'x' },
    });
    const zone = settings.pools[0]!.zones[0]!;
    expect(bootPlan(settings, r)).toStrictEqual({
      ok: true,
      pool: 'large',
      computeZone: 'nova-a',
      spec: {
        imageId: 'img-7',
        flavorId: 'f-large',
        networkIds: ['mgmt-a'],
        securityGroupIds: ['sg'],
        keyName: 'ops',
        serverGroupId: 'grp',
        configDrive: true,
        userData: 'hello',
      },
      launch: {
        imageId: 'img-7',
        flavorId: 'f-large',
        digest: launchDigest(settings.pools[0]!.launch, zone),
      },
    });
  });

  it('uses the pool’s networks in a zone without its own, and Octavia’s name as Nova’s', () => {
    const r = rec('PENDING_CREATE', {
      pool: 'large',
      zone: 'octavia-b',
      launch: { imageId: 'img-7', digest: 'x' },
    });
    const plan = bootPlan(settings, r);
    expect(plan.ok && plan.spec.networkIds).toEqual(['mgmt']);
    expect(plan.ok && plan.computeZone).toBe('octavia-b');
  });

  it.each<[string, Parameters<typeof rec>[1], string]>([
    ['a pool no longer configured', { pool: 'gone' }, 'pool gone is no longer configured'],
    [
      'a zone no longer configured',
      { pool: 'large', zone: 'octavia-z' },
      'zone octavia-z is no longer configured in pool large',
    ],
    [
      'a tag pool without a resolved image',
      { pool: 'large', zone: 'octavia-b' },
      'no image resolved for tag amp of pool large',
    ],
  ])('refuses to boot %s, saying why', (_case, fields, reason) => {
    expect(bootPlan(settings, rec('PENDING_CREATE', fields))).toStrictEqual({ ok: false, reason });
  });
});

describe('afterBoot', () => {
  it.each([
    [false, 'SERVER_REQUESTED', 'booted'],
    [true, 'SERVER_ADOPTED', 'adopted'],
  ])(
    'moves to BOOTING with the server (adopted: %s), its launch, and a first CHECK',
    (adopted, reason, outcome) => {
      const r = rec('PENDING_CREATE');
      const launch = { imageId: 'img', digest: 'd' };
      const step = afterBoot(r, { serverId: 'srv-1', adopted, launch }, NOW, settings);
      expect(step.outcome).toBe(outcome);
      expect(step.followUpSeconds).toBe(15);
      expect(step.next).toMatchObject({
        state: 'BOOTING',
        computeId: 'srv-1',
        bootStartedAt: NOW,
        launch,
        task: { type: 'CHECK', issuedAt: NOW, polls: 0 },
      });
      expect(step.next.history.at(-1)?.reason).toBe(reason);
    },
  );
});

describe('afterStatusCheck', () => {
  const booting = (startedSecondsAgo: number, polls = 0) =>
    rec('BOOTING', {
      bootStartedAt: NOW - startedSecondsAgo * SECOND,
      task: { type: 'CHECK', issuedAt: NOW - SECOND, reissues: 2, polls },
    });

  it.each<[string, ServerObservation, number, object]>([
    [
      'ACTIVE → READY, a successful create',
      { kind: 'seen', status: 'ACTIVE' },
      30,
      {
        state: 'READY',
        outcome: 'ready',
        createOutcome: 'success',
      },
    ],
    [
      'ERROR → ERROR with Nova’s fault',
      { kind: 'seen', status: 'ERROR', fault: 'No valid host' },
      30,
      {
        state: 'ERROR',
        outcome: 'boot-failed',
        createOutcome: 'failure',
        failure: 'BOOT_FAILED: No valid host',
      },
    ],
    [
      'ERROR without a fault → a generic message',
      { kind: 'seen', status: 'ERROR' },
      30,
      {
        failure: 'BOOT_FAILED: server went to ERROR',
      },
    ],
    [
      'a vanished server → ERROR',
      { kind: 'gone' },
      30,
      {
        state: 'ERROR',
        outcome: 'server-gone',
        failure: expect.stringMatching(/^SERVER_GONE: server srv-.* disappeared while booting$/),
      },
    ],
    [
      'no server id → ERROR',
      { kind: 'no-server-id' },
      30,
      {
        failure: 'SERVER_GONE: booting without a server id',
      },
    ],
    [
      'BUILD past boot_timeout → ERROR',
      { kind: 'seen', status: 'BUILD' },
      600,
      {
        state: 'ERROR',
        outcome: 'boot-timeout',
        failure: expect.stringContaining('still BUILD after boot_timeout (600 s)'),
      },
    ],
    [
      'BUILD within boot_timeout → polled again',
      { kind: 'seen', status: 'BUILD' },
      599,
      {
        state: 'BOOTING',
        outcome: 'still-booting',
        followUpSeconds: 30,
      },
    ],
  ])('%s', (_case, seen, startedSecondsAgo, expected) => {
    const step = afterStatusCheck(booting(startedSecondsAgo), seen, NOW, settings);
    expect({
      state: step.next.state,
      outcome: step.outcome,
      ...(step.createOutcome ? { createOutcome: step.createOutcome } : {}),
      ...(step.followUpSeconds !== undefined ? { followUpSeconds: step.followUpSeconds } : {}),
      ...(step.next.failure
        ? { failure: `${step.next.failure.code}: ${step.next.failure.message}` }
        : {}),
    }).toMatchObject(expected);
  });

  it('keeps the re-issue count and counts the poll, backing off up to check_max_delay', () => {
    const step = afterStatusCheck(booting(30, 5), { kind: 'seen', status: 'BUILD' }, NOW, settings);
    expect(step.next.task).toMatchObject({ polls: 6, reissues: 2 });
    expect(step.followUpSeconds).toBe(120);
  });
});

describe('pollDelay', () => {
  it.each([
    [0, 15],
    [1, 30],
    [2, 60],
    [3, 120],
    [4, 120],
    [40, 120],
  ])('poll %i waits %i s', (polls, seconds) => {
    expect(pollDelay(settings, polls)).toBe(seconds);
  });
});

describe('afterRemove', () => {
  it('moves to DELETED with a purge time of the expiry age after it was last seen alive', () => {
    const r = rec('PENDING_DELETE', { lastSeenAliveAt: NOW + 60 * SECOND });
    const next = afterRemove(r, NOW, settings);
    expect(next).toMatchObject({ state: 'DELETED', deletedAt: NOW });
    expect(next.expiresAt).toBe(NOW + 60 * SECOND + 3600 * SECOND);
  });
});

describe('preservation', () => {
  const preserving = (method: 'unplug' | 'snapshot', fields: Parameters<typeof rec>[1] = {}) =>
    rec('PRESERVING', {
      preservation: { method, seq: '000000000001:000000', queuedAt: NOW },
      ...fields,
    });

  it.each<[string, ReturnType<typeof rec>, string]>([
    ['no server: abandon', preserving('unplug', { computeId: undefined }), 'abandon'],
    ['unplug', preserving('unplug'), 'unplug'],
    ['snapshot not yet requested', preserving('snapshot'), 'snapshot'],
    [
      'snapshot requested',
      preserving('snapshot', {
        preservation: { method: 'snapshot', seq: 's', queuedAt: NOW, imageId: 'img-1' },
      }),
      'check-image',
    ],
  ])('next action with %s', (_case, record, kind) => {
    expect(preservationAction(record).kind).toBe(kind);
  });

  it.each<[string, string]>([
    ['active', 'stop'],
    ['killed', 'failed'],
    ['deleted', 'failed'],
    ['pending_delete', 'failed'],
  ])('an image %s means %s', (status, kind) => {
    const r = preserving('snapshot');
    expect((afterImageStatus(r, status, NOW, settings) as { kind: string }).kind).toBe(kind);
  });

  it.each(['queued', 'saving', 'uploading', 'importing'])(
    'an image %s is polled again',
    (status) => {
      const r = preserving('snapshot', {
        task: { type: 'PRESERVE', issuedAt: NOW, reissues: 0, polls: 1 },
      });
      const step = afterImageStatus(r, status, NOW, settings);
      expect('next' in step && step.outcome).toBe('image-pending');
      expect('next' in step && step.followUpSeconds).toBe(60);
    },
  );

  it('keeps the requested image and polls it first after check_initial_delay', () => {
    const step = snapshotRequested(preserving('snapshot'), 'img-9', NOW, settings);
    expect(step.next.preservation?.imageId).toBe('img-9');
    expect(step.followUpSeconds).toBe(15);
  });

  it('enters PRESERVED with the time it was done', () => {
    const step = preservationDone(preserving('unplug'), NOW);
    expect(step.next).toMatchObject({ state: 'PRESERVED', preservation: { preservedAt: NOW } });
  });

  it('removes a record whose server vanished, with a REMOVE sent at once', () => {
    const step = preservationAbandoned(preserving('unplug'), 'gone', NOW);
    expect(step.next).toMatchObject({
      state: 'PENDING_DELETE',
      failure: { code: 'SERVER_GONE', message: 'gone' },
      task: { type: 'REMOVE' },
    });
    expect(step.followUpSeconds).toBe(0);
  });
});

describe('givenUp', () => {
  it.each<
    [string, Parameters<typeof givenUp>[1], Parameters<typeof givenUp>[2], object | undefined]
  >([
    [
      'a CREATE: ERROR, a failed create',
      'CREATE',
      'Unauthorized',
      {
        state: 'ERROR',
        code: 'CREATE_FAILED',
        createOutcome: 'failure',
      },
    ],
    [
      'a REMOVE that failed to delete: DELETE_FAILED',
      'REMOVE',
      'DeleteFailed',
      {
        state: 'PENDING_DELETE',
        code: 'DELETE_FAILED',
        metric: 'DeleteFailed',
      },
    ],
    [
      'a REMOVE refused as Unauthorized: the record keeps its task',
      'REMOVE',
      'Unauthorized',
      undefined,
    ],
    [
      'a PRESERVE: PRESERVE_FAILED',
      'PRESERVE',
      'AmphoraDriverError',
      {
        state: 'PRESERVING',
        code: 'PRESERVE_FAILED',
        metric: 'PreserveFailed',
      },
    ],
    [
      'a PRESERVE refused as Unauthorized: the record keeps its task',
      'PRESERVE',
      'Unauthorized',
      undefined,
    ],
  ])('%s', (_case, type, kind, expected) => {
    const state = {
      CREATE: 'PENDING_CREATE',
      REMOVE: 'PENDING_DELETE',
      PRESERVE: 'PRESERVING',
      CHECK: 'BOOTING',
    } as const;
    const step = givenUp(rec(state[type]), type, kind, 'why', NOW);
    if (!expected) {
      expect(step).toBeUndefined();
      return;
    }
    expect({
      state: step!.next.state,
      code: step!.next.failure?.code,
      ...(step!.createOutcome ? { createOutcome: step!.createOutcome } : {}),
      ...(step!.metric ? { metric: step!.metric } : {}),
    }).toStrictEqual(expected);
  });
});
