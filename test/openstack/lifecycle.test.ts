/**
 * The full amphora lifecycle through the openstack driver on the loopback OpenStack, checked
 * independently through the REST APIs, plus authentication with both credential kinds.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverName, snapshotName } from '../../lib/domain/amphora.ts';
import { UnauthorizedError } from '../../lib/domain/errors.ts';
import { nodeTransport, type Transport } from '../../lib/drivers/openstack/http.ts';
import { clearTokenCache } from '../../lib/drivers/openstack/keystone.ts';
import type { OpenStackDriver } from '../../lib/drivers/openstack/openstack-driver.ts';
import { amphoraTag, poolTag } from '../../lib/ports/amphora-driver.ts';
import { notFound } from '../contract/driver-contract.ts';
import { bootRequest } from '../support/boot.ts';
import {
  appCredentialFrom,
  eventually,
  loadOsciEnv,
  type OsciEnv,
  passwordFrom,
  RawCloud,
  realDriver,
  realSpec,
  runTag,
} from './support.ts';

/** An unschedulable flavor (10 TiB of RAM), made once by the admin for the ERROR test. */
const HUGE_FLAVOR = 'osci-huge';

describe('openstack driver lifecycle on the loopback OpenStack', () => {
  let env: OsciEnv;
  let tag: string;
  let raw: RawCloud;
  let admin: RawCloud;
  let groupId: string;
  let defaultSecurityGroup: string;

  beforeAll(async () => {
    env = loadOsciEnv();
    tag = runTag('osci-lifecycle');
    raw = new RawCloud(env);
    admin = new RawCloud(env, 'admin');
    const sg = await raw.call('network', 'GET', '/security-groups?name=default');
    defaultSecurityGroup = sg.body.security_groups[0].id;
    const group = await raw.call('compute', 'POST', '/os-server-groups', {
      server_group: { name: tag, policy: 'affinity' },
    });
    expect(group.status).toBe(200);
    groupId = group.body.server_group.id;
    if ((await admin.call('compute', 'GET', `/flavors/${HUGE_FLAVOR}`)).status === 404) {
      const made = await admin.call('compute', 'POST', '/flavors', {
        flavor: { name: HUGE_FLAVOR, id: HUGE_FLAVOR, ram: 10_485_760, vcpus: 1, disk: 1 },
      });
      expect([200, 409]).toContain(made.status);
    }
  });

  afterAll(async () => {
    await raw.purge(tag);
    if (groupId) await raw.call('compute', 'DELETE', `/os-server-groups/${groupId}`);
  });

  it('boots with every option, lists, unplugs, snapshots, stops and deletes an amphora', async () => {
    // Prepare
    const driver = realDriver({ env, ownershipTag: tag });
    const amphoraId = randomUUID();
    const base = await driver.resolveImage({ tag: env.image_tag });
    expect(base.id).toBe(env.image_id);
    const spec = realSpec(env, {
      imageId: base.id,
      securityGroupIds: [defaultSecurityGroup],
      keyName: env.key_name,
      configDrive: true,
      userData: '#cloud-config\nhostname: amphora\n',
      serverGroupId: groupId,
    });

    // Act + Assess: boot to ACTIVE
    const created = await driver.createServer(bootRequest(amphoraId, 'nova', spec, 'large'));
    expect(created).toMatchObject({ name: serverName(amphoraId), amphoraId, status: 'BUILD' });
    const active = await eventually(async () => {
      const s = await driver.getServer(created.id);
      if (s.status === 'ERROR') throw new Error(`boot failed: ${s.fault}`);
      return s.status === 'ACTIVE' ? s : undefined;
    }, 'server ACTIVE');
    expect(active).toMatchObject({ id: created.id, amphoraId, zone: 'nova' });
    expect(active.createdAt).toBeGreaterThan(Date.now() - 10 * 60_000);

    // the boot options reached Nova
    const server = await raw.server(created.id);
    expect(server.image.id).toBe(env.image_id);
    expect(server.tags).toEqual(
      expect.arrayContaining([tag, amphoraTag(amphoraId), poolTag('large')]),
    );
    expect(server.metadata).toEqual({ amphora_id: amphoraId, pool: 'large', managed_by: tag });
    expect(server.key_name).toBe(env.key_name);
    expect(server.config_drive).toBe('True');
    expect(server.security_groups.map((g: { name: string }) => g.name)).toContain('default');
    const group = await raw.call('compute', 'GET', `/os-server-groups/${groupId}`);
    expect(group.body.server_group.members).toEqual([created.id]);

    // list ours
    expect((await driver.listServers()).map((s) => s.id)).toEqual([created.id]);
    expect((await driver.listServers({ amphoraId })).map((s) => s.id)).toEqual([created.id]);
    expect(await driver.listServers({ amphoraId: randomUUID() })).toEqual([]);

    // unplug: no port remains, in Neutron or in Nova's view
    expect(await raw.portCount(created.id)).toBe(1);
    await driver.unplug(created.id);
    expect(await raw.portCount(created.id)).toBe(0);
    const interfaces = await raw.call('compute', 'GET', `/servers/${created.id}/os-interface`);
    expect(interfaces.body.interfaceAttachments).toEqual([]);

    // snapshot: the image becomes active and is found by the amphora id
    const { imageId } = await driver.snapshot(created.id, { amphoraId });
    const image = await eventually(async () => {
      const i = await driver.getImage(imageId);
      return i.status === 'active' ? i : undefined;
    }, 'snapshot active');
    expect(image).toEqual({
      id: imageId,
      name: snapshotName(amphoraId),
      status: 'active',
      amphoraId,
    });
    expect((await driver.listImages({ amphoraId })).map((i) => i.id)).toEqual([imageId]);
    const glance = await raw.call('image', 'GET', `/images/${imageId}`);
    expect(glance.body).toMatchObject({
      image_type: 'snapshot',
      instance_uuid: created.id,
      managed_by: tag,
    });

    // stop: SHUTOFF, and stopping again is done
    await driver.stopServer(created.id);
    await eventually(
      async () => ((await driver.getServer(created.id)).status === 'SHUTOFF' ? true : undefined),
      'server SHUTOFF',
    );
    await driver.stopServer(created.id);

    // delete image and server; second deletes are NotFound
    await driver.deleteImage(imageId);
    expect(await notFound(driver.getImage(imageId))).toBe(true);
    expect(await notFound(driver.deleteImage(imageId))).toBe(true);
    await driver.deleteServer(created.id);
    await eventually(
      async () => ((await notFound(driver.getServer(created.id))) ? true : undefined),
      'server gone',
    );
    expect(await notFound(driver.deleteServer(created.id))).toBe(true);
    expect(await driver.listServers()).toEqual([]);
  });

  it("reports a server that cannot be scheduled as ERROR with Nova's fault", async () => {
    const driver = realDriver({ env, ownershipTag: tag });
    const { id } = await driver.createServer(
      bootRequest(randomUUID(), '*', realSpec(env, { flavorId: HUGE_FLAVOR })),
    );
    const server = await eventually(async () => {
      const s = await driver.getServer(id);
      return s.status === 'BUILD' ? undefined : s;
    }, 'server leaves BUILD');
    expect(server.status).toBe('ERROR');
    expect(server.fault).toMatch(/No valid host/);
    await driver.deleteServer(id);
  });

  describe.each([
    ['password', passwordFrom, (e: OsciEnv) => passwordFrom(e, 'wrong-password')],
    [
      'application credential',
      appCredentialFrom,
      (e: OsciEnv) => appCredentialFrom(e, 'wrong-secret'),
    ],
  ])('with %s credentials from osci-env.json', (_kind, good, bad) => {
    it('authenticates and lists our servers', async () => {
      clearTokenCache();
      const driver = realDriver({ env, ownershipTag: tag, credentials: good(env) });
      expect(await driver.listServers()).toEqual([]);
    });

    it('is refused with UnauthorizedError when the secret is wrong', async () => {
      clearTokenCache();
      const driver = realDriver({ env, ownershipTag: tag, credentials: bad(env) });
      await expect(driver.listServers()).rejects.toBeInstanceOf(UnauthorizedError);
    });
  });

  it('re-authenticates once when Keystone revokes the token it holds', async () => {
    // Prepare: a transport that notes the tokens sent and the token requests made
    clearTokenCache();
    const inner = nodeTransport();
    const sent: string[] = [];
    let tokenRequests = 0;
    const statuses: number[] = [];
    const transport: Transport = async (request) => {
      if (request.url.endsWith('/auth/tokens')) tokenRequests += 1;
      const token = request.headers['x-auth-token'];
      if (token) sent.push(token);
      const response = await inner(request);
      if (token) statuses.push(response.status);
      return response;
    };
    const driver: OpenStackDriver = realDriver({ env, ownershipTag: tag, transport });
    await driver.listServers();
    // Act
    await raw.revoke(sent[0]!);
    const servers = await driver.listServers();
    // Assess
    expect(servers).toEqual([]);
    expect(tokenRequests).toBe(2);
    expect(statuses).toEqual([200, 401, 200]);
    expect(sent[1]).toBe(sent[0]);
    expect(sent[2]).not.toBe(sent[0]);
  });
});
