/**
 * The whole service end to end through the operator CLI on the loopback OpenStack (issue 11,
 * item 5, real tier). One fresh working folder: `housekeeper local` runs in the background with
 * `driver: openstack` and credentials from a clouds.yaml (`OS_CLIENT_CONFIG_FILE`, the secret in
 * a secure.yaml, as README describes); every action and every read of the pool goes through the
 * CLI. Nova, Neutron and Glance are read directly only to check the cloud's truth, Nova to make
 * one server behind the housekeeper's back, and Keystone to disable and re-enable the
 * housekeeper's own user (made for this run, so other users of the cloud are not disturbed).
 *
 * The steps build on each other, in order: fill, claim and hand back, unplug preservation, a
 * restart with snapshot preservation, cycle eviction, an orphan, a credential outage, the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type BackgroundRun,
  type CliResult,
  cliIn,
  startLocal,
  workFolders,
  writeConfig,
} from '../support/cli-e2e.ts';
import { type Json, loadOsciEnv, type OsciEnv, RawCloud, runTag } from './support.ts';

const CLOUD = 'hk-e2e';
const POOL = 2;

interface Listed {
  id: string;
  state: string;
  computeId?: string;
  preservation?: { imageId?: string; method: string };
}

/**
 * Reads `read()` every 2 s until `done` holds for what it returned, for at most `timeoutMs`.
 * @throws Error naming `what` and the last value read.
 */
async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for ${what}; last seen: ${JSON.stringify(value)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

function sorted(ids: Iterable<string | undefined>): string[] {
  return [...ids].filter((id): id is string => id !== undefined).sort();
}

describe('the service end to end through the CLI on the loopback OpenStack', () => {
  const folders = workFolders('housekeeper-e2e-os-');
  let env: OsciEnv;
  let tag: string;
  let raw: RawCloud;
  let admin: RawCloud;
  let userId: string | undefined;
  let dir: string;
  let cliEnv: NodeJS.ProcessEnv;
  let cli: ReturnType<typeof cliIn>;
  let local: BackgroundRun | undefined;
  const runs: BackgroundRun[] = [];
  let orphan: { id: string; madeAt: number } | undefined;
  /** Where the snapshot run's output starts, in its lines. */
  let snapshotFrom = 0;
  /** The amphorae this file claims, by the step that claimed them. */
  const claimed: Record<string, Listed> = {};

  const housekeeper = (...args: string[]): Promise<CliResult> => cli.housekeeper(...args);
  const json = (...args: string[]): Promise<Json> => cli.json(...args);
  const records = async (): Promise<Listed[]> => json('list', '--limit', '1000');
  const show = async (id: string): Promise<Listed> => json('show', id);
  const status = async (): Promise<Json> => json('status');

  /** The servers Nova lists with the housekeeper's tag (the cloud's truth). */
  const novaServers = async (): Promise<Array<{ id: string; status: string }>> => {
    const r = await raw.call('compute', 'GET', `/servers/detail?tags=${encodeURIComponent(tag)}`);
    if (r.status !== 200) throw new Error(`nova server list: HTTP ${r.status}`);
    return r.body.servers;
  };
  const serverStatus = async (serverId: string): Promise<number> =>
    (await raw.call('compute', 'GET', `/servers/${serverId}`)).status;
  const imageOf = async (imageId: string) => raw.call('image', 'GET', `/images/${imageId}`);
  /** The snapshot images the housekeeper made (it marks them `managed_by` its tag). */
  const novaImages = async (): Promise<string[]> => {
    const r = await raw.call('image', 'GET', '/images?limit=1000');
    return sorted(
      (r.body.images as Array<{ id: string; managed_by?: string }>)
        .filter((i) => i.managed_by === tag)
        .map((i) => i.id),
    );
  };
  const setUserEnabled = async (enabled: boolean) => {
    const r = await admin.call('identity', 'PATCH', `/users/${userId}`, { user: { enabled } });
    if (r.status !== 200) throw new Error(`keystone user update: HTTP ${r.status}`);
  };

  /** Starts `housekeeper local` with `config` and waits until `status` answers through it. */
  const startRun = async (config: string) => {
    local = startLocal(
      dir,
      ['--config', config, '--no-workload', '--every', '3', '--log-level', 'info'],
      cliEnv,
    );
    runs.push(local);
    const run = local;
    await until(
      async () => {
        if (run.exited()) throw new Error(`local run exited:\n${run.lines().join('\n')}`);
        return housekeeper('status', '--json');
      },
      (r) => r.code === 0 && JSON.parse(r.stdout).lastCycle !== undefined,
      'the local run’s first planner cycle',
      90_000,
    );
  };

  /** Claims a READY spare through the CLI, then reports it failed. */
  const claimAndFlag = async (step: string): Promise<Listed> => {
    const spare: Listed = await json('claim');
    claimed[step] = spare;
    const flagged = await housekeeper('flag', spare.id, '--reason', `e2e: ${step}`);
    expect(flagged.code, flagged.stderr).toBe(0);
    return spare;
  };

  const waitForState = (id: string, state: string, timeoutMs: number) =>
    until(
      () => show(id),
      (r) => r.state === state,
      `amphora ${id.slice(0, 8)} ${state}`,
      timeoutMs,
    );

  const waitForServerGone = (serverId: string, timeoutMs: number) =>
    until(
      () => serverStatus(serverId),
      (s) => s === 404,
      `server ${serverId} gone from Nova`,
      timeoutMs,
    );

  /** The pool at target with nothing in flight, and Nova agreeing with the records. */
  const settled = (what: string, timeoutMs: number) =>
    until(
      async () => {
        const [s, listed, servers] = await Promise.all([status(), records(), novaServers()]);
        const live = listed.filter((r) => r.state !== 'DELETED');
        return {
          ready: s.spares.ready,
          busy: live.filter((r) => !['READY', 'ALLOCATED', 'PRESERVED'].includes(r.state)).length,
          refusing: s.cloud !== undefined,
          records: sorted(live.map((r) => r.computeId)),
          nova: sorted(servers.map((v) => v.id)),
        };
      },
      (v) =>
        v.ready === POOL &&
        v.busy === 0 &&
        !v.refusing &&
        JSON.stringify(v.records) === JSON.stringify(v.nova),
      what,
      timeoutMs,
    );

  beforeAll(async () => {
    env = loadOsciEnv();
    tag = runTag('osci-e2e');
    raw = new RawCloud(env);
    admin = new RawCloud(env, 'admin');
    dir = folders.make();

    // The housekeeper's own user in the test project: disabling it disturbs nobody else.
    const password = randomBytes(12).toString('hex');
    const made = await admin.call('identity', 'POST', '/users', {
      user: { name: tag, password, domain_id: 'default', enabled: true },
    });
    if (made.status !== 201) throw new Error(`keystone user create: HTTP ${made.status}`);
    userId = made.body.user.id as string;
    for (const name of ['member', 'reader']) {
      const role = await admin.call('identity', 'GET', `/roles?name=${name}`);
      const grant = await admin.call(
        'identity',
        'PUT',
        `/projects/${env.project_id}/users/${userId}/roles/${role.body.roles[0].id}`,
      );
      if (grant.status !== 204) throw new Error(`keystone role ${name}: HTTP ${grant.status}`);
    }

    // Credentials as README describes them: a clouds.yaml entry, its secret in secure.yaml.
    const os = join(dir, 'openstack');
    mkdirSync(os);
    writeFileSync(
      join(os, 'clouds.yaml'),
      [
        'clouds:',
        `  ${CLOUD}:`,
        '    auth_type: password',
        '    auth:',
        `      auth_url: ${env.auth_url}`,
        `      username: ${tag}`,
        `      user_domain_name: ${env.user.domain}`,
        `      project_name: ${env.user.project}`,
        `      project_domain_name: ${env.user.domain}`,
        `    region_name: ${env.region}`,
        '    interface: public',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(os, 'secure.yaml'),
      `clouds:\n  ${CLOUD}:\n    auth:\n      password: ${password}\n`,
    );
    // Only the clouds.yaml speaks for the cloud: no OS_* or HOUSEKEEPER_* from this shell.
    cliEnv = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !k.startsWith('OS_') && !k.startsWith('HOUSEKEEPER_'),
      ),
    );
    cliEnv.OS_CLIENT_CONFIG_FILE = join(os, 'clouds.yaml');
    cliEnv.OS_CLIENT_SECURE_FILE = join(os, 'secure.yaml');
    cli = cliIn(dir, { env: cliEnv });

    const base = {
      driver: 'openstack',
      ownership_tag: tag,
      spare_amphora_pool_size: POOL,
      maximum_deploying_amphora_count: 2,
      maximum_preserved_amphora_count: 1,
      preservation_scheme: 'cycle',
      boot_timeout: 180,
      task_timeout: 60,
      check_initial_delay: 2,
      check_max_delay: 4,
      create_backoff_initial: 5,
      create_backoff_max: 20,
      orphan_sweep_interval: 60,
      orphan_grace_period: 60,
      openstack: {
        cloud: CLOUD,
        image_id: env.image_id,
        flavor_id: env.flavor_id,
        network_ids: [env.network_id],
        request_timeout: 60,
      },
    };
    writeConfig(dir, { ...base, preservation_method: 'unplug' }, 'unplug.json');
    writeConfig(dir, { ...base, preservation_method: 'snapshot' }, 'snapshot.json');
  });

  afterEach((context) => {
    if (context.task.result?.state !== 'fail' || !local) return;
    console.error(`[e2e-cli] the local run's last lines:\n${local.lines().slice(-80).join('\n')}`);
  });

  afterAll(async () => {
    for (const run of runs) await run.stop();
    if (userId) {
      await setUserEnabled(true).catch(() => {});
      await admin.call('identity', 'DELETE', `/users/${userId}`).catch(() => {});
    }
    // Whatever the steps left, even after a failure: every server with the tag, and its images.
    if (raw) await raw.purge(tag);
    folders.cleanup();
  }, 180_000);

  it('fills the pool with real Nova servers, and Nova’s tagged list agrees with list --json id for id', async () => {
    // A newcomer looks at the empty pool first (this once made the folder the noop driver's).
    const first = await housekeeper('status');
    expect(first.code, first.stderr).toBe(0);
    await startRun('unplug.json');

    const pool = await settled('the pool READY 2/2 and Nova agreeing with the records', 180_000);
    const listed = await records();
    const s = await status();

    expect(s.spares).toStrictEqual({ ready: POOL, target: POOL });
    expect(listed.map((r) => r.state)).toStrictEqual(['READY', 'READY']);
    expect(pool.nova).toStrictEqual(sorted(listed.map((r) => r.computeId)));
    expect(pool.nova).toHaveLength(POOL);
    for (const server of await novaServers()) expect(server.status).toBe('ACTIVE');

    // A server with the housekeeper's tag and no record, made behind its back (checked below).
    const r = await raw.call('compute', 'POST', '/servers', {
      server: {
        name: `${tag}-orphan`,
        imageRef: env.image_id,
        flavorRef: env.flavor_id,
        networks: [{ uuid: env.network_id }],
        tags: [tag],
      },
    });
    expect(r.status).toBe(202);
    orphan = { id: r.body.server.id, madeAt: Date.now() };
  }, 300_000);

  it('claim and deactivate delete the server in Nova, and the pool refills', async () => {
    const spare: Listed = await json('claim');
    claimed.handBack = spare;
    expect(spare.state).toBe('ALLOCATED');
    expect(await serverStatus(spare.computeId!)).toBe(200);

    const handBack = await housekeeper('deactivate', spare.id.slice(0, 8));

    expect(handBack.code, handBack.stderr).toBe(0);
    await waitForState(spare.id, 'DELETED', 120_000);
    await waitForServerGone(spare.computeId!, 60_000);
    await until(status, (s) => s.spares.ready === POOL, 'the pool refilled to READY 2/2', 120_000);
  }, 300_000);

  it('unplug preservation keeps the server and leaves it no port', async () => {
    const failed = await claimAndFlag('unplug');
    expect(await raw.portCount(failed.computeId!)).toBeGreaterThan(0);

    await waitForState(failed.id, 'PRESERVED', 120_000);

    expect(await raw.portCount(failed.computeId!)).toBe(0);
    expect((await raw.server(failed.computeId!)).status).toBe('ACTIVE');
    const s = await status();
    expect(s.preservedQueue.map((v: Listed) => v.id)).toStrictEqual([failed.id]);
  }, 300_000);

  it('snapshot preservation leaves an active image and a SHUTOFF server, with no error and no failed attempt', async () => {
    await local!.stop();
    await startRun('snapshot.json');
    snapshotFrom = local!.lines().length;

    const failed = await claimAndFlag('snapshot');
    const preserved = await waitForState(failed.id, 'PRESERVED', 180_000);

    const imageId = preserved.preservation?.imageId;
    expect(preserved.preservation?.method).toBe('snapshot');
    expect(imageId).toBeDefined();
    expect((await imageOf(imageId!)).body.status).toBe('active');
    expect((await raw.server(failed.computeId!)).status).toBe('SHUTOFF');
    // Nova may refuse the stop (409) while it still uploads the image that Glance already
    // calls active: the executor polls again, neither logging an error nor spending an attempt.
    const phase = local!.lines().slice(snapshotFrom);
    expect(phase.filter((l) => /^error\b|task failed/.test(l))).toStrictEqual([]);
    expect(phase.some((l) => l.includes(`PRESERVE ${failed.id.slice(0, 8)} → preserved`))).toBe(
      true,
    );
    // maximum_preserved_amphora_count 1, cycle: the unplugged one made room, server and all.
    await waitForState(claimed.unplug!.id, 'DELETED', 120_000);
    await waitForServerGone(claimed.unplug!.computeId!, 60_000);
  }, 300_000);

  it('cycle eviction deletes the oldest preserved server and its image', async () => {
    const oldest = await show(claimed.snapshot!.id);
    const oldestImage = oldest.preservation!.imageId!;

    const failed = await claimAndFlag('evicting');
    await waitForState(failed.id, 'PRESERVED', 180_000);

    await waitForState(oldest.id, 'DELETED', 120_000);
    await waitForServerGone(oldest.computeId!, 60_000);
    expect((await imageOf(oldestImage)).status).toBe(404);
    const s = await status();
    expect(s.preservedQueue.map((v: Listed) => v.id)).toStrictEqual([failed.id]);
    // The second snapshot preservation, and the eviction, were as quiet as the first.
    const phase = local!.lines().slice(snapshotFrom);
    expect(phase.filter((l) => /^error\b|task failed/.test(l))).toStrictEqual([]);
  }, 300_000);

  it('removes a tagged server that has no record after the grace period', async () => {
    expect(orphan).toBeDefined();
    // orphan_grace_period 60 and orphan_sweep_interval 60: marked by one sweep, removed by a
    // later one past the grace; a sweep may start up to a minute late.
    const left = Math.max(30_000, 240_000 - (Date.now() - orphan!.madeAt));
    await waitForServerGone(orphan!.id, left);

    expect((await records()).map((r) => r.computeId)).not.toContain(orphan!.id);
  }, 300_000);

  it('a credential outage (the user disabled in Keystone, then re-enabled) ends with the pool recovered and nothing leaked', async () => {
    await settled('a quiet pool before the outage', 120_000);
    const before = sorted((await novaServers()).map((s) => s.id));

    await setUserEnabled(false);
    // Work the cloud must do: hand one back (REMOVE) and claim one (a CREATE to refill).
    const handBack: Listed = await json('claim');
    claimed.outage = handBack;
    expect((await housekeeper('deactivate', handBack.id)).code).toBe(0);
    claimed.outageKept = await json('claim');
    const refusing = await until(
      status,
      (s) => s.cloud?.refusing === true,
      'status to show the cloud refusing',
      120_000,
    );
    expect(refusing.cloud.kind).toBe('Unauthorized');
    // A few probes' worth of outage: nothing was created or deleted meanwhile.
    await new Promise((r) => setTimeout(r, 20_000));
    expect(sorted((await novaServers()).map((s) => s.id))).toStrictEqual(before);

    await setUserEnabled(true);

    const pool = await settled('the pool recovered after the outage', 240_000);
    expect((await show(handBack.id)).state).toBe('DELETED');
    expect(pool.nova).not.toContain(handBack.computeId);
    expect(pool.nova).toContain(claimed.outageKept!.computeId);
    // What the outage dead-lettered, the operator reads with `dlq list`: refusals, nothing else.
    const dead: Array<{ errorClass: string }> = await json('dlq', 'list');
    expect(dead.filter((d) => d.errorClass !== 'Unauthorized')).toStrictEqual([]);
    console.log(`[e2e-cli] dead letters after the outage: ${dead.length}`);
  }, 420_000);

  it('at the end, Nova’s tagged servers and the housekeeper’s images equal the records', async () => {
    const listed = await records();
    const live = listed.filter((r) => r.state !== 'DELETED');

    expect(sorted((await novaServers()).map((s) => s.id))).toStrictEqual(
      sorted(live.map((r) => r.computeId)),
    );
    expect(await novaImages()).toStrictEqual(sorted(live.map((r) => r.preservation?.imageId)));
    expect(live.map((r) => r.state).sort()).toStrictEqual([
      'ALLOCATED',
      'PRESERVED',
      'READY',
      'READY',
    ]);
    expect((await local!.stop()) ?? 'killed').toBe(0);
  }, 120_000);
});
