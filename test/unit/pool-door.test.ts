/**
 * The CLI's two doors to the pool actions: the claims API (the typed client, its fetch bound to
 * the API handler over in-memory adapters) and the use cases in-process. The same scenario
 * through either door leaves the same records and gives the same answers, so that the CLI's
 * output does not depend on which door a target uses.
 */
import { describe, expect, it } from 'vitest';
import { HousekeeperApiClient } from '../../lib/api/client.ts';
import { apiDoor, inProcessDoor, type PoolDoor } from '../../lib/api/pool-door.ts';
import { apiHarness } from '../support/api-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

type Harness = ReturnType<typeof apiHarness>;

/** A client whose requests the handler answers in this process. */
function clientOf(h: Harness, requests: string[]): HousekeeperApiClient {
  const fetchInProcess = async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const headers: Record<string, string> = {};
    for (const [k, v] of new Headers(init?.headers).entries()) headers[k.toLowerCase()] = v;
    const body = typeof init?.body === 'string' ? init.body : undefined;
    requests.push(`${init?.method ?? 'GET'} ${url.pathname}`);
    const r = await h.send({
      method: init?.method ?? 'GET',
      path: url.pathname,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    return new Response(r.body, { status: r.status, headers: r.headers });
  };
  return new HousekeeperApiClient({
    baseUrl: 'http://127.0.0.1:1',
    fetch: fetchInProcess as typeof fetch,
    retries: 0,
  });
}

const DOORS: ReadonlyArray<[string, (h: Harness, requests: string[]) => PoolDoor]> = [
  ['in-process', (h) => inProcessDoor(h.deps)],
  ['the claims API', (h, requests) => apiDoor(clientOf(h, requests), h.deps)],
];

async function seeded(): Promise<Harness> {
  const h = apiHarness({ spare_amphora_pool_size: 2 });
  await h.store.create(rec('READY', { id: 'amp-ready-1', ageSeconds: 120 }));
  await h.store.create(rec('READY', { id: 'amp-ready-2', ageSeconds: 60 }));
  await h.store.create(rec('PENDING_DELETE', { id: 'amp-going' }));
  await h.store.create(rec('DELETED', { id: 'amp-gone' }));
  return h;
}

describe.each(DOORS)('the pool door %s', (_name, doorOf) => {
  it('claims the oldest READY spare, then none when none is READY', async () => {
    const h = await seeded();
    const door = doorOf(h, []);

    const first = await door.claim({});
    const second = await door.claim({});
    const third = await door.claim({});

    expect(first).toMatchObject({ id: 'amp-ready-1', state: 'ALLOCATED' });
    expect(second).toMatchObject({ id: 'amp-ready-2', state: 'ALLOCATED' });
    expect(third).toBeUndefined();
  });

  it('hands amphorae back with one result per id, refusals included', async () => {
    const h = await seeded();
    const door = doorOf(h, []);
    await door.claim({});

    const results = await door.release(['amp-ready-1', 'amp-going', 'amp-gone', 'no-such']);

    expect(results.map((r) => [r.amphoraId, r.result])).toStrictEqual([
      ['amp-ready-1', 'scheduled'],
      ['amp-going', 'already-removing'],
      ['amp-gone', 'already-deleted'],
      ['no-such', expect.stringContaining('no-such')],
    ]);
    expect((await h.store.get('amp-ready-1'))?.state).toBe('PENDING_DELETE');
  });

  it('flags and preserves by a unique id prefix, and shows the record as it now is', async () => {
    const h = await seeded();
    const door = doorOf(h, []);
    await door.claim({});

    const flagged = await door.flag('amp-ready-1', 'health check failed');
    const preserved = await door.preserve('amp-ready-2');

    expect(flagged).toMatchObject({
      id: 'amp-ready-1',
      state: 'ERROR',
      failure: { code: 'REPORTED', message: 'health check failed' },
    });
    expect(preserved).toMatchObject({ id: 'amp-ready-2', state: 'PRESERVE' });
    expect(await h.store.get('amp-ready-2')).toStrictEqual(preserved);
  });

  it('refuses a move the lifecycle does not allow, naming the state', async () => {
    const h = await seeded();
    const door = doorOf(h, []);

    await expect(door.flag('amp-gone', 'x')).rejects.toThrow(/DELETED/);
  });

  it('reads the same status as the use case does', async () => {
    const h = await seeded();
    const inProcess = await inProcessDoor(h.deps).status();

    const status = await doorOf(h, []).status();

    expect(JSON.parse(JSON.stringify(status))).toStrictEqual(JSON.parse(JSON.stringify(inProcess)));
  });
});

describe('the claims API door', () => {
  it('resolves a prefix against the records, and sends the API the whole id', async () => {
    const h = await seeded();
    await h.store.create(rec('ALLOCATED', { id: 'xyz-allocated-1' }));
    const requests: string[] = [];
    const door = apiDoor(clientOf(h, requests), h.deps);

    const flagged = await door.flag('xyz-alloc', 'failed');

    expect(flagged).toMatchObject({ id: 'xyz-allocated-1', state: 'ERROR' });
    expect(requests).toStrictEqual(['POST /amphorae/xyz-allocated-1/failure']);
  });
});
