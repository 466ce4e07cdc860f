/**
 * The typed client over real HTTP (Node's fetch against `node:http` servers on loopback): every
 * method against the API's handler, retries on 5xx and network errors only under one
 * idempotency key, timeouts, a claim retried after a timeout getting the same amphora, SigV4
 * signatures a server can verify, and the local run's API waking the planner.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryIdempotencyStore } from '../../lib/adapters/memory/memory-idempotency-store.ts';
import {
  type ApiClientOptions,
  ApiError,
  ApiUnreachableError,
  HousekeeperApiClient,
} from '../../lib/api/client.ts';
import { handleApiRequest } from '../../lib/api/handler.ts';
import type { ApiRequest } from '../../lib/api/http.ts';
import { serveApi } from '../../lib/api/node-server.ts';
import { startLocalApi } from '../../lib/local/local-api.ts';
import { apiHarness } from '../support/api-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** The API's handler on a loopback port, with `before` run first on every raw request. */
async function serve(
  h: ReturnType<typeof apiHarness>,
  before?: (req: IncomingMessage, res: ServerResponse, n: number) => boolean | Promise<boolean>,
) {
  const seen: Array<{
    headers: IncomingMessage['headers'];
    method: string;
    url: string;
    body: string;
  }> = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    seen.push({ headers: req.headers, method: req.method!, url: req.url!, body });
    if (before && (await before(req, res, seen.length))) return;
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers))
      headers[k] = Array.isArray(v) ? v.join(',') : v;
    const request: ApiRequest = {
      method: req.method!,
      path: new URL(req.url!, 'http://x').pathname,
      headers,
      ...(body ? { body } : {}),
    };
    const response = await handleApiRequest(h.deps, request);
    res.writeHead(response.status, response.headers).end(response.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen };
}

/** The parts of a local stack the local API uses, over the harness's adapters. */
function localStackOf(h: ReturnType<typeof apiHarness>) {
  return {
    config: h.config,
    store: h.store,
    queue: h.queue,
    clock: h.clock,
    newId: h.deps.newId,
    logger: h.logger,
    metrics: h.metrics,
  };
}

function client(url: string, options: Partial<ApiClientOptions> = {}) {
  return new HousekeeperApiClient({ baseUrl: url, backoffMs: 1, timeoutMs: 2_000, ...options });
}

describe('the client against the API on real HTTP', () => {
  it('claims, reads, flags, preserves and releases, and reads the pools', async () => {
    // Prepare
    const h = apiHarness();
    for (const id of ['amp-1', 'amp-2', 'amp-3']) await h.store.create(rec('READY', { id }));
    const api = await serveApi((r) => handleApiRequest(h.deps, r), { port: 0 });
    closers.push(() => api.close());
    const c = client(api.url);

    // Act / Assess
    const claimed = await c.claim({ pool: 'default' });
    expect(claimed).toMatchObject({ id: 'amp-1', state: 'ALLOCATED', serverId: 'srv-amp-1' });
    expect(await c.get('amp-1')).toEqual(claimed);
    const second = await c.claim();
    expect((await c.fail(second.id, 'listener down')).state).toBe('ERROR');
    const third = await c.claim();
    expect((await c.preserve(third.id)).state).toBe('PRESERVE');
    expect((await c.release(claimed.id)).state).toBe('PENDING_DELETE');
    const pools = await c.pools();
    expect(pools.states).toMatchObject({ READY: 0, PENDING_DELETE: 1, ERROR: 1, PRESERVE: 1 });
  });

  it.each<[string, (c: HousekeeperApiClient) => Promise<unknown>, number, string]>([
    ['no spare', (c) => c.claim(), 409, 'NO_SPARE'],
    ['an unknown pool', (c) => c.claim({ pool: 'nope' }), 400, 'INVALID_REQUEST'],
    ['an unknown id', (c) => c.get('amp-none'), 404, 'NOT_FOUND'],
    ['an illegal move', (c) => c.release('amp-gone'), 409, 'ILLEGAL_TRANSITION'],
    ['an empty reason', (c) => c.fail('amp-gone', ''), 400, 'INVALID_REQUEST'],
  ])('throws ApiError for %s, without retrying', async (_, call, status, code) => {
    const h = apiHarness();
    await h.store.create(rec('DELETED', { id: 'amp-gone' }));
    const { url, seen } = await serve(h);
    const error = await call(client(url)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status, code });
    expect((error as ApiError).message).toContain(`API ${status} ${code}: `);
    expect(seen).toHaveLength(1);
  });

  it('names the bad fields of a 400 in the error', async () => {
    const h = apiHarness();
    const { url } = await serve(h);
    const error = (await client(url)
      .claim({ pool: '' })
      .catch((e: unknown) => e)) as ApiError;
    expect(error.issues).toEqual([
      { field: 'body.pool', rule: 'must be a non-empty pool name', value: '' },
    ]);
  });
});

describe('retries', () => {
  it.each([0, 1, 3])(
    'retries %i 5xx answers under one idempotency key, then succeeds',
    async (failures) => {
      // Prepare: a server that answers 503 to the first `failures` requests
      const h = apiHarness();
      await h.store.create(rec('READY', { id: 'amp-1' }));
      const { url, seen } = await serve(h, (_req, res, n) => {
        if (n > failures) return false;
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { code: 'INTERNAL', message: 'try again' } }));
        return true;
      });

      // Act
      const claimed = await client(url, { retries: 3 }).claim();

      // Assess
      expect(claimed.id).toBe('amp-1');
      expect(seen).toHaveLength(failures + 1);
      const keys = new Set(seen.map((s) => s.headers['idempotency-key']));
      expect(keys.size).toBe(1);
      expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/);
    },
  );

  it('gives up after the bounded retries with the last ApiError', async () => {
    const h = apiHarness();
    const { url, seen } = await serve(h, (_req, res) => {
      res.writeHead(502).end('bad gateway');
      return true;
    });
    const error = await client(url, { retries: 2 })
      .pools()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 502, code: undefined, message: 'API 502: bad gateway' });
    expect(seen).toHaveLength(3);
  });

  it.each([400, 403, 404, 409, 422])('never retries a %i', async (status) => {
    const h = apiHarness();
    const { url, seen } = await serve(h, (_req, res) => {
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'CONFLICT', message: 'no' } }));
      return true;
    });
    await expect(client(url, { retries: 3 }).release('amp-1')).rejects.toMatchObject({ status });
    expect(seen).toHaveLength(1);
  });

  it('retries a dropped connection, and uses a new key for the next logical call', async () => {
    const h = apiHarness();
    for (const id of ['amp-1', 'amp-2']) await h.store.create(rec('READY', { id }));
    const { url, seen } = await serve(h, (req, _res, n) => {
      if (n !== 1) return false;
      req.socket.destroy();
      return true;
    });
    const c = client(url);
    const first = await c.claim();
    const second = await c.claim();
    expect([first.id, second.id]).toEqual(['amp-1', 'amp-2']);
    expect(seen).toHaveLength(3);
    const [a, b, other] = seen.map((s) => s.headers['idempotency-key']);
    expect(a).toBe(b);
    expect(other).not.toBe(a);
  });

  it('reports an unreachable API after its attempts, with the cause', async () => {
    const h = apiHarness();
    const api = await serveApi((r) => handleApiRequest(h.deps, r), { port: 0 });
    await api.close();
    const error = await client(api.url, { retries: 1 })
      .pools()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect(error).toMatchObject({ attempts: 2 });
    expect((error as Error).message).toContain('GET /pools failed after 2 attempt(s)');
  });
});

describe('timeouts', () => {
  it('abandons an attempt that does not answer in time, and retries it', async () => {
    const h = apiHarness();
    const { url, seen } = await serve(h, (_req, _res, n) => n === 1); // the first never answers
    const started = Date.now();
    const status = await client(url, { timeoutMs: 150 }).pools();
    expect(status.spares.ready).toBe(0);
    expect(seen).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('gives up when every attempt times out', async () => {
    const h = apiHarness();
    const { url, seen } = await serve(h, () => true);
    const error = await client(url, { timeoutMs: 100, retries: 2 })
      .pools()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiUnreachableError);
    expect((error as ApiUnreachableError).attempts).toBe(3);
    expect(String((error as Error).cause)).toMatch(/TimeoutError|aborted due to timeout/);
    expect(seen).toHaveLength(3);
  });

  it('a claim whose answer came too late is retried and gets the same amphora, claimed once', async () => {
    // Prepare: the first attempt runs the claim, but its answer arrives after the timeout
    const h = apiHarness();
    for (const id of ['amp-1', 'amp-2']) await h.store.create(rec('READY', { id }));
    const { url, seen } = await serve(h, async (req, res, n) => {
      if (n !== 1) return false;
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = String(v);
      const response = await handleApiRequest(h.deps, { method: 'POST', path: '/claims', headers });
      setTimeout(() => res.writeHead(response.status).end(response.body), 400);
      return true;
    });

    // Act
    const claimed = await client(url, { timeoutMs: 150 }).claim();

    // Assess
    expect(claimed.id).toBe('amp-1');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(new Set(seen.map((s) => s.headers['idempotency-key'])).size).toBe(1);
    expect((await h.store.listByState('default', 'ALLOCATED')).map((r) => r.id)).toEqual(['amp-1']);
    expect((await h.store.listByState('default', 'READY')).map((r) => r.id)).toEqual(['amp-2']);
  });
});

describe('SigV4 signing', () => {
  it('signs for the lambda service with the provider’s credentials, verifiably', async () => {
    // Prepare
    const credentials = {
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'tok',
    };
    let provided = 0;
    const provider = async () => {
      provided += 1;
      return credentials;
    };
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    const { url, seen } = await serve(h);
    const c = client(url, { signing: { region: 'eu-west-1', credentials: provider } });

    // Act
    await c.claim({ pool: 'default' });

    // Assess: the header names the scope, and re-signing what arrived gives the same signature
    const got = seen[0]!;
    const auth = String(got.headers.authorization);
    expect(auth).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=[^,]*idempotency-key[^,]*, Signature=[0-9a-f]{64}$/,
    );
    expect(got.headers['x-amz-security-token']).toBe('tok');
    expect(provided).toBeGreaterThanOrEqual(1);
    const signedNames = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(';');
    const headers: Record<string, string> = {};
    for (const name of signedNames) headers[name] = String(got.headers[name]);
    const amzDate = String(got.headers['x-amz-date']);
    const date = new Date(
      `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
    );
    const verifier = new SignatureV4({
      service: 'lambda',
      region: 'eu-west-1',
      credentials,
      sha256: Sha256,
    });
    const host = new URL(url);
    const again = await verifier.sign(
      {
        method: got.method,
        protocol: 'http:',
        hostname: host.hostname,
        port: Number(host.port),
        path: got.url,
        query: {},
        headers,
        body: got.body,
      },
      { signingDate: date },
    );
    expect(again.headers.authorization).toBe(auth);
  });

  it('sends no signature when none is configured', async () => {
    const h = apiHarness();
    const { url, seen } = await serve(h);
    await client(url).pools();
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });
});

describe('the local run’s API', () => {
  it('serves the handler, and a claim over it wakes the planner to send the replacement’s CREATE', async () => {
    // Prepare: a pool of 2 with both READY
    const h = apiHarness({ spare_amphora_pool_size: 2 });
    for (const id of ['amp-1', 'amp-2']) await h.store.create(rec('READY', { id }));
    const cycles: number[] = [];
    const api = await startLocalApi(localStackOf(h), {
      port: 0,
      idempotency: new MemoryIdempotencyStore(),
      onCycles: (reports) => cycles.push(reports.length),
    });
    closers.push(() => api.close());

    // Act
    const claimed = await client(api.url).claim();
    await api.close();

    // Assess
    expect(claimed.state).toBe('ALLOCATED');
    expect(cycles).toEqual([1]);
    expect(h.sent().filter((t) => t.type === 'CREATE')).toHaveLength(1);
  });

  it('coalesces the wakes of a burst of 50 claims into a few planner runs, within the cap', async () => {
    // Prepare: 50 READY spares of a pool of 50, a deploying cap of 5
    const h = apiHarness({ spare_amphora_pool_size: 50, maximum_deploying_amphora_count: 5 });
    for (let i = 0; i < 50; i++) {
      await h.store.create(rec('READY', { id: `amp-${String(i).padStart(2, '0')}` }));
    }
    let runs = 0;
    const api = await startLocalApi(localStackOf(h), {
      port: 0,
      idempotency: new MemoryIdempotencyStore(),
      onCycles: (reports) => {
        runs += reports.length;
      },
    });
    closers.push(() => api.close());
    const c = client(api.url);

    // Act
    const claimed = await Promise.all(Array.from({ length: 50 }, () => c.claim()));
    await api.close();

    // Assess: every claim got its own spare; a few cycles ran, each within the cap
    expect(new Set(claimed.map((a) => a.id)).size).toBe(50);
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(runs).toBeLessThanOrEqual(10);
    const creates = h.sent().filter((t) => t.type === 'CREATE');
    expect(creates.length).toBeGreaterThanOrEqual(1);
    expect(creates.length).toBeLessThanOrEqual(5);
    console.log(`50 claims: ${runs} planner run(s), ${creates.length} CREATE(s) sent`);
  });

  it('refuses a port in use, naming the option', async () => {
    const h = apiHarness();
    const first = await serveApi((r) => handleApiRequest(h.deps, r), { port: 0 });
    closers.push(() => first.close());
    await expect(
      startLocalApi(localStackOf(h), {
        port: first.port,
        idempotency: new MemoryIdempotencyStore(),
      }),
    ).rejects.toThrow(
      `API port ${first.port} on 127.0.0.1 is already in use: choose another with --api-port`,
    );
  });
});
