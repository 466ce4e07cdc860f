/**
 * The amphora driver contract: one suite, run against every driver (noop here; openstack on an
 * HTTP fake and on a real cloud). A driver that passes it can serve the executors.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverName } from '../../lib/domain/amphora.ts';
import { NotFoundError, ServerBusyError, UnavailableError } from '../../lib/domain/errors.ts';
import type { AmphoraDriver, BootSpec, ServerInfo } from '../../lib/ports/amphora-driver.ts';
import { bootRequest } from '../support/boot.ts';

/** What a driver's test setup gives the contract suite. */
export interface DriverHarness {
  driver: AmphoraDriver;
  /** Polls probe until it returns a value (real time for real clouds, simulated for noop). */
  eventually<T>(probe: () => Promise<T | undefined>, what: string): Promise<T>;
  /** Ports attached to a server, read independently of the driver (Neutron ?device_id=). */
  portCount(serverId: string): Promise<number>;
  /** What this cloud's servers boot with (image, flavor, networks). */
  spec: BootSpec;
  /** Publishes a bootable image carrying `tag`, read back by `resolveImage`; returns its id. */
  publishImage(tag: string): Promise<string>;
  /** Servers the cloud has sent the driver so far (listed or shown), counted below the driver. */
  serversSent(): number;
  cleanup(): Promise<void>;
}

/** Whether a call fails with NotFoundError (any other failure is rethrown). */
export async function notFound(call: Promise<unknown>): Promise<boolean> {
  try {
    await call;
    return false;
  } catch (error) {
    if (error instanceof NotFoundError) return true;
    throw error;
  }
}

/** Registers the contract suite for one driver. */
export function describeDriverContract(name: string, setup: () => Promise<DriverHarness>): void {
  describe(`driver contract: ${name}`, () => {
    let h: DriverHarness;
    const made: string[] = [];

    const bootActive = async (amphoraId = randomUUID()): Promise<ServerInfo> => {
      const server = await h.driver.createServer(bootRequest(amphoraId, '*', h.spec));
      made.push(server.id);
      return h.eventually(async () => {
        const s = await h.driver.getServer(server.id);
        if (s.status === 'ERROR') throw new Error(`server ${s.id} went to ERROR: ${s.fault}`);
        return s.status === 'ACTIVE' ? s : undefined;
      }, `server ${server.id} ACTIVE`);
    };

    beforeAll(async () => {
      h = await setup();
    });

    afterAll(async () => {
      for (const id of made) {
        await h.driver.deleteServer(id).catch(() => {});
      }
      await h.cleanup();
    });

    it('boots a server named and tagged with the amphora id that becomes ACTIVE', async () => {
      const amphoraId = randomUUID();
      const server = await bootActive(amphoraId);
      expect(server.name).toBe(serverName(amphoraId));
      expect(server.amphoraId).toBe(amphoraId);
      expect(server.status).toBe('ACTIVE');
    });

    it('tags a server with its pool, and boots in a pool of the request’s choosing', async () => {
      const amphoraId = randomUUID();
      const server = await h.driver.createServer(bootRequest(amphoraId, '*', h.spec, 'large'));
      made.push(server.id);
      const [listed] = await h.driver.listServers({ amphoraId });
      expect(listed?.pool).toBe('large');
    });

    it('resolves a tag to the newest active image carrying it, and refuses a tag none carries', async () => {
      const tag = `contract-${randomUUID().slice(0, 8)}`;
      const older = await h.publishImage(tag);
      const newer = await h.publishImage(tag);
      expect(older).not.toBe(newer);
      expect((await h.driver.resolveImage({ tag })).id).toBe(newer);
      expect(await notFound(h.driver.resolveImage({ tag: `${tag}-none` }))).toBe(true);
    });

    it('lists the servers it made, or one amphora’s only', async () => {
      const a = randomUUID();
      const b = randomUUID();
      const sa = await bootActive(a);
      const sb = await bootActive(b);
      const all = (await h.driver.listServers()).map((s) => s.id);
      expect(all).toEqual(expect.arrayContaining([sa.id, sb.id]));
      const onlyA = await h.driver.listServers({ amphoraId: a });
      expect(onlyA.map((s) => s.id)).toEqual([sa.id]);
      expect(onlyA[0]!.amphoraId).toBe(a);
    });

    it('looks up one amphora’s server alone: the cloud sends that server, never the pool', async () => {
      const a = randomUUID();
      const sa = await h.driver.createServer(bootRequest(a, '*', h.spec));
      made.push(sa.id);
      for (let i = 0; i < 2; i++) {
        made.push((await h.driver.createServer(bootRequest(randomUUID(), '*', h.spec))).id);
      }
      const before = h.serversSent();
      const found = await h.driver.listServers({ amphoraId: a });
      const sentForHit = h.serversSent() - before;
      const missing = await h.driver.listServers({ amphoraId: randomUUID() });
      expect(found.map((s) => s.id)).toEqual([sa.id]);
      expect(sentForHit).toBe(1);
      expect(missing).toEqual([]);
      expect(h.serversSent() - before).toBe(1);
    });

    it('raises NotFoundError for a server that does not exist', async () => {
      expect(await notFound(h.driver.getServer(randomUUID()))).toBe(true);
    });

    it('deletes a server, and a second delete raises NotFoundError', async () => {
      const server = await bootActive();
      await h.driver.deleteServer(server.id);
      await h.eventually(
        async () => ((await notFound(h.driver.getServer(server.id))) ? true : undefined),
        `server ${server.id} gone`,
      );
      expect((await h.driver.listServers()).map((s) => s.id)).not.toContain(server.id);
      expect(await notFound(h.driver.deleteServer(server.id))).toBe(true);
    });

    it('unplugs every port of a server, and unplugging again is harmless', async () => {
      const server = await bootActive();
      expect(await h.portCount(server.id)).toBeGreaterThan(0);
      await h.driver.unplug(server.id);
      expect(await h.portCount(server.id)).toBe(0);
      await h.driver.unplug(server.id);
      expect(await h.portCount(server.id)).toBe(0);
    });

    it('snapshots a server to an image that becomes active, then stops the server', async () => {
      const amphoraId = randomUUID();
      const server = await bootActive(amphoraId);
      const { imageId } = await h.driver.snapshot(server.id, { amphoraId });
      const image = await h.eventually(async () => {
        const i = await h.driver.getImage(imageId);
        return i.status === 'active' ? i : undefined;
      }, `image ${imageId} active`);
      expect(image.id).toBe(imageId);
      expect((await h.driver.listImages({ amphoraId })).map((i) => i.id)).toContain(imageId);

      // Nova may still be finishing the upload after Glance calls the image active: until then
      // the stop is refused as ServerBusyError, which the executor answers with another poll.
      await h.eventually(async () => {
        try {
          await h.driver.stopServer(server.id);
          return true;
        } catch (error) {
          if (error instanceof ServerBusyError) return undefined;
          throw error;
        }
      }, `server ${server.id} accepts the stop`);
      await h.eventually(async () => {
        const s = await h.driver.getServer(server.id);
        return s.status === 'SHUTOFF' ? s : undefined;
      }, `server ${server.id} SHUTOFF`);
      await h.driver.stopServer(server.id);

      await h.driver.deleteImage(imageId);
      await h.eventually(
        async () => ((await notFound(h.driver.getImage(imageId))) ? true : undefined),
        `image ${imageId} gone`,
      );
      expect(await notFound(h.driver.deleteImage(imageId))).toBe(true);
    });

    it('finds no snapshot for an amphora that has none', async () => {
      expect(await h.driver.listImages({ amphoraId: randomUUID() })).toEqual([]);
    });

    it('raises NotFoundError when asked to unplug, snapshot or stop a missing server', async () => {
      const missing = randomUUID();
      expect(await notFound(h.driver.unplug(missing))).toBe(true);
      expect(await notFound(h.driver.snapshot(missing, { amphoraId: randomUUID() }))).toBe(true);
      expect(await notFound(h.driver.stopServer(missing))).toBe(true);
    });

    it('refuses an aborted call with UnavailableError and boots nothing', async () => {
      const amphoraId = randomUUID();
      const controller = new AbortController();
      controller.abort(new Error('lambda about to time out'));
      await expect(
        h.driver.createServer(bootRequest(amphoraId, '*', h.spec), { signal: controller.signal }),
      ).rejects.toBeInstanceOf(UnavailableError);
      expect(await h.driver.listServers({ amphoraId })).toEqual([]);
    });
  });
}
