import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serverName, snapshotName } from '../../../lib/domain/amphora.ts';
import { AmphoraDriverError, NotFoundError, ServerBusyError } from '../../../lib/domain/errors.ts';
import { clearTokenCache } from '../../../lib/drivers/openstack/keystone.ts';
import { NOVA_MICROVERSION } from '../../../lib/drivers/openstack/nova.ts';
import { serverStatus } from '../../../lib/drivers/openstack/openstack-driver.ts';
import { amphoraTag, poolTag } from '../../../lib/ports/amphora-driver.ts';
import { bootRequest } from '../../support/boot.ts';
import { FakeOpenStack } from '../../support/openstack-fake/fake-openstack.ts';
import {
  capturingLogger,
  driverOnFake,
  FAKE_OWNER,
  fakeSpec,
  pollUntil,
} from '../../support/openstack-fake/harness.ts';

describe('Nova status folding', () => {
  it.each([
    ['ACTIVE', undefined, 'ACTIVE'],
    ['BUILD', 'spawning', 'BUILD'],
    ['ERROR', undefined, 'ERROR'],
    ['SHUTOFF', undefined, 'SHUTOFF'],
    ['ACTIVE', 'deleting', 'DELETING'],
    ['SOFT_DELETED', undefined, 'DELETING'],
    ['DELETED', undefined, 'DELETING'],
    ['PAUSED', undefined, 'OTHER'],
    ['SHELVED_OFFLOADED', undefined, 'OTHER'],
    ['UNKNOWN', undefined, 'OTHER'],
  ])('folds status %s with task state %s into %s', (status, task, expected) => {
    expect(serverStatus(status, task)).toBe(expected);
  });
});

describe('the openstack driver on the fake cloud', () => {
  let fake: FakeOpenStack;

  beforeEach(async () => {
    clearTokenCache();
    fake = await new FakeOpenStack().start();
  });
  afterEach(async () => {
    await fake.stop();
  });

  describe('boot', () => {
    it('sends every boot option of the request, the tags and the pinned microversion', async () => {
      // Prepare
      const driver = driverOnFake(fake);
      const amphoraId = randomUUID();
      const spec = fakeSpec({
        networkIds: ['net-a', 'net-b'],
        securityGroupIds: ['sg-1', 'sg-2'],
        keyName: 'amphora-key',
        configDrive: true,
        userData: '#cloud-config\nhostname: ä\n',
        serverGroupId: 'group-1',
      });
      // Act
      const created = await driver.createServer(bootRequest(amphoraId, 'az-2', spec, 'large'));
      // Assess
      const { server, hints } = fake.lastBoot();
      expect(server).toEqual({
        name: serverName(amphoraId),
        imageRef: 'img-base',
        flavorRef: 'flavor-1',
        networks: [{ uuid: 'net-a' }, { uuid: 'net-b' }],
        tags: [FAKE_OWNER, amphoraTag(amphoraId), poolTag('large')],
        metadata: { amphora_id: amphoraId, pool: 'large', managed_by: FAKE_OWNER },
        config_drive: true,
        security_groups: [{ name: 'sg-1' }, { name: 'sg-2' }],
        key_name: 'amphora-key',
        user_data: Buffer.from('#cloud-config\nhostname: ä\n').toString('base64'),
        availability_zone: 'az-2',
      });
      expect(hints).toEqual({ group: 'group-1' });
      expect(fake.requestsTo('compute', 'POST')[0]!.headers['openstack-api-version']).toBe(
        `compute ${NOVA_MICROVERSION}`,
      );
      expect(created).toEqual({
        id: expect.any(String),
        name: serverName(amphoraId),
        amphoraId,
        pool: 'large',
        status: 'BUILD',
        zone: 'az-2',
      });
    });

    it('leaves the zone to Nova and sends no optional field when none is requested', async () => {
      await driverOnFake(fake).createServer(bootRequest('a-1', '*', fakeSpec()));
      const { server, hints } = fake.lastBoot();
      expect(Object.keys(server).sort()).toEqual(
        ['config_drive', 'flavorRef', 'imageRef', 'metadata', 'name', 'networks', 'tags'].sort(),
      );
      expect(hints).toBeUndefined();
    });

    it('refuses a boot without an image or a flavor, sending nothing', async () => {
      const driver = driverOnFake(fake);
      for (const spec of [fakeSpec({ imageId: undefined }), fakeSpec({ flavorId: undefined })]) {
        const { imageId, flavorId, ...rest } = spec;
        const error = await driver
          .createServer(
            bootRequest('a-1', '*', {
              ...rest,
              ...(imageId ? { imageId } : {}),
              ...(flavorId ? { flavorId } : {}),
            }),
          )
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AmphoraDriverError);
        expect((error as Error).message).toBe(
          'amphora a-1: a boot needs an image and a flavor (pool default)',
        );
      }
      expect(fake.requestsTo('compute', 'POST')).toHaveLength(0);
    });

    it('resolves a tag to the newest active image, warning when several match', async () => {
      // Prepare
      const older = fake.addImage({ name: 'amp-1', tags: ['amp'], created: 1_000 });
      const newer = fake.addImage({ name: 'amp-2', tags: ['amp'], created: 2_000 });
      fake.addImage({ name: 'amp-3', tags: ['amp'], created: 3_000, status: 'queued' });
      fake.addImage({ name: 'other', tags: ['other'], created: 4_000 });
      const logger = capturingLogger();
      const driver = driverOnFake(fake, { logger });
      // Act
      const resolved = await driver.resolveImage({ tag: 'amp' });
      // Assess
      expect(resolved).toMatchObject({ id: newer, name: 'amp-2' });
      expect(older).not.toBe(newer);
      expect(logger.lines).toEqual([
        expect.objectContaining({ level: 'warn', fields: { tag: 'amp', imageId: newer } }),
      ]);
      const query = fake.requestsTo('image', 'GET')[0]!.query;
      expect(Object.fromEntries(query)).toMatchObject({
        tag: 'amp',
        status: 'active',
        sort: 'created_at:desc',
      });
    });

    it('filters tagged images by owner when one is given', async () => {
      const mine = fake.addImage({
        name: 'amp-mine',
        tags: ['amp'],
        owner: 'p-octavia',
        created: 1_000,
      });
      fake.addImage({ name: 'amp-theirs', tags: ['amp'], owner: 'p-stranger', created: 9_000 });
      const logger = capturingLogger();
      const driver = driverOnFake(fake, { logger });
      expect((await driver.resolveImage({ tag: 'amp', ownerId: 'p-octavia' })).id).toBe(mine);
      expect(logger.lines).toEqual([]);
    });

    it('asks Glance on every resolution: caching is the planner’s, across cycles', async () => {
      const driver = driverOnFake(fake);
      await driver.resolveImage({ tag: 'amphora' });
      await driver.resolveImage({ tag: 'amphora' });
      expect(fake.requestsTo('image', 'GET')).toHaveLength(2);
    });

    it('raises NotFoundError when no active image has the tag', async () => {
      const driver = driverOnFake(fake);
      const error = await driver.resolveImage({ tag: 'missing-tag' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toBe('no active image tagged missing-tag');
    });

    it("passes Nova's refusal of a boot on as AmphoraDriverError with its message", async () => {
      const driver = driverOnFake(fake);
      const error = await driver
        .createServer(bootRequest('a-1', '*', fakeSpec({ imageId: 'gone' })))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AmphoraDriverError);
      expect((error as AmphoraDriverError).status).toBe(400);
      expect((error as Error).message).toContain('Image gone could not be found.');
    });
  });

  describe('status', () => {
    it('reports a server stuck in BUILD as BUILD, however long it is asked', async () => {
      fake.bootPlan.push('stuck');
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 15));
        expect((await driver.getServer(id)).status).toBe('BUILD');
      }
    });

    it("reports a server gone to ERROR with Nova's fault message", async () => {
      fake.bootPlan.push({
        error: 'No valid host was found. There are not enough hosts available.',
      });
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      const server = await pollUntil(async () => {
        const s = await driver.getServer(id);
        return s.status === 'BUILD' ? undefined : s;
      }, 'server leaves BUILD');
      expect(server).toMatchObject({
        status: 'ERROR',
        fault: 'No valid host was found. There are not enough hosts available.',
        amphoraId: 'a-1',
      });
    });

    it('reads the creation time and zone Nova reports', async () => {
      const driver = driverOnFake(fake);
      const before = Date.now() - 1_000;
      const { id } = await driver.createServer(bootRequest('a-1', 'az-9', fakeSpec()));
      const server = await driver.getServer(id);
      expect(server.zone).toBe('az-9');
      expect(server.createdAt).toBeGreaterThanOrEqual(before);
    });
  });

  describe('listing', () => {
    it('lists only servers carrying the ownership tag, even from a cloud that ignores the tag filter', async () => {
      // Prepare
      await fake.stop();
      fake = await new FakeOpenStack({ ignoreTagsFilter: true }).start();
      const ours = driverOnFake(fake);
      const theirs = driverOnFake(fake, { ownershipTag: 'someone-else' });
      const a = await ours.createServer(bootRequest('a', '*', fakeSpec()));
      await theirs.createServer(bootRequest('b', '*', fakeSpec()));
      // Act
      const listed = await ours.listServers();
      const onlyB = await ours.listServers({ amphoraId: 'b' });
      // Assess
      expect(listed.map((s) => s.id)).toEqual([a.id]);
      expect(onlyB).toEqual([]);
    });

    it('asks Nova to filter on the ownership tag and the amphora tag together', async () => {
      await driverOnFake(fake).listServers({ amphoraId: 'a-7' });
      expect(fake.requestsTo('compute', 'GET')[0]!.query.get('tags')).toBe(
        `${FAKE_OWNER},${amphoraTag('a-7')}`,
      );
    });

    it('follows Nova pagination to the last page', async () => {
      await fake.stop();
      fake = await new FakeOpenStack({ maxPage: 2 }).start();
      const driver = driverOnFake(fake);
      const ids = [];
      for (let i = 0; i < 5; i++)
        ids.push((await driver.createServer(bootRequest(`a-${i}`, '*', fakeSpec()))).id);
      const listed = await driver.listServers();
      expect(listed.map((s) => s.id)).toEqual(ids);
      expect(fake.requestsTo('compute', 'GET')).toHaveLength(3);
    });

    it("finds an amphora's snapshots by name, and no one else's", async () => {
      fake.addImage({ name: snapshotName('a-1'), properties: { amphora_id: 'a-1' } });
      fake.addImage({ name: snapshotName('a-2') });
      fake.addImage({ name: `${snapshotName('a-1')}-copy` });
      const images = await driverOnFake(fake).listImages({ amphoraId: 'a-1' });
      expect(images).toEqual([
        { id: expect.any(String), name: snapshotName('a-1'), status: 'active', amphoraId: 'a-1' },
      ]);
    });
  });

  describe('unplug', () => {
    it('deletes every port of a server with several NICs and confirms none remains', async () => {
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(
        bootRequest('a-1', '*', fakeSpec({ networkIds: ['n1', 'n2', 'n3'] })),
      );
      expect(fake.portCount(id)).toBe(3);
      await driver.unplug(id);
      expect(fake.portCount(id)).toBe(0);
      expect(fake.requestsTo('network', 'DELETE')).toHaveLength(3);
      expect(fake.requestsTo('network', 'GET')).toHaveLength(1);
    });

    it('takes a 404 on a port delete as gone, and trusts only the Neutron re-check', async () => {
      // Prepare: Neutron answers 404 once without the port being gone
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      fake.inject({
        service: 'network',
        method: 'DELETE',
        status: 404,
        times: 1,
        body: '{"NeutronError":{"type":"PortNotFound","message":"Port p could not be found.","detail":""}}',
      });
      // Act
      await driver.unplug(id);
      // Assess: the re-check found the port and a second round deleted it
      expect(fake.portCount(id)).toBe(0);
      expect(fake.requestsTo('network', 'DELETE')).toHaveLength(2);
      expect(fake.requestsTo('network', 'GET')).toHaveLength(2);
    });

    it('gives up with AmphoraDriverError when ports keep coming back', async () => {
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      // Neutron says it deleted the port but the port stays: what a racing re-plug looks like.
      fake.inject({ service: 'network', method: 'DELETE', status: 204 });
      const error = await driver.unplug(id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AmphoraDriverError);
      expect((error as Error).message).toContain('1 port(s) still attached after 3 rounds');
    });

    it('raises NotFoundError for a missing server without touching Neutron', async () => {
      await expect(driverOnFake(fake).unplug('missing')).rejects.toBeInstanceOf(NotFoundError);
      expect(fake.requestsTo('network')).toHaveLength(0);
    });
  });

  describe('snapshot and stop', () => {
    it('names the snapshot after the amphora and marks it with the amphora id', async () => {
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      const { imageId } = await driver.snapshot(id, { amphoraId: 'a-1' });
      expect(JSON.parse(fake.requestsTo('compute', 'POST', /action$/)[0]!.body)).toEqual({
        createImage: {
          name: snapshotName('a-1'),
          metadata: { amphora_id: 'a-1', managed_by: FAKE_OWNER },
        },
      });
      const image = await pollUntil(async () => {
        const i = await driver.getImage(imageId);
        return i.status === 'active' ? i : undefined;
      }, 'image active');
      expect(image).toEqual({
        id: imageId,
        name: snapshotName('a-1'),
        status: 'active',
        amphoraId: 'a-1',
      });
    });

    it('counts a 409 from a server that is already stopped as done', async () => {
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      await pollUntil(
        async () => ((await driver.getServer(id)).status === 'ACTIVE' ? true : undefined),
        'ACTIVE',
      );
      await driver.stopServer(id);
      await driver.stopServer(id);
      const conflicts = fake.requestsTo('compute', 'POST', /action$/);
      expect(conflicts).toHaveLength(2);
      expect((await driver.getServer(id)).status).toBe('SHUTOFF');
    });

    it('stops again, once, when the task that made Nova refuse the stop ended before it looked', async () => {
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      await pollUntil(
        async () => ((await driver.getServer(id)).status === 'ACTIVE' ? true : undefined),
        'ACTIVE',
      );
      fake.inject({
        service: 'compute',
        method: 'POST',
        path: /action$/,
        times: 1,
        status: 409,
        body: `{"conflictingRequest":{"code":409,"message":"Cannot 'stop' instance ${id} while it is in task_state image_uploading"}}`,
      });

      await driver.stopServer(id);

      expect(fake.requestsTo('compute', 'POST', /action$/)).toHaveLength(2);
      expect((await driver.getServer(id)).status).toBe('SHUTOFF');
    });

    it('raises ServerBusyError, naming the task, for a 409 from a server busy with a task', async () => {
      fake.bootPlan.push('stuck');
      const driver = driverOnFake(fake);
      const { id } = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      const error = await driver.stopServer(id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ServerBusyError);
      expect((error as AmphoraDriverError).status).toBe(409);
      expect((error as Error).message).toMatch(/busy \(task_state \w+\)/);
    });
  });
});
