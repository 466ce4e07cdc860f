import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../lib/adapters/system-clock.ts';
import {
  AmphoraDriverError,
  DeleteFailedError,
  NotFoundError,
  UnavailableError,
} from '../../../lib/domain/errors.ts';
import {
  fetchTransport,
  JsonClient,
  nodeTransport,
  type Transport,
} from '../../../lib/drivers/openstack/http.ts';
import { clearTokenCache } from '../../../lib/drivers/openstack/keystone.ts';
import type { Clock } from '../../../lib/ports/clock.ts';
import { bootRequest } from '../../support/boot.ts';
import { FakeOpenStack } from '../../support/openstack-fake/fake-openstack.ts';
import { capturingLogger, driverOnFake, fakeSpec } from '../../support/openstack-fake/harness.ts';

const SERVER_PATH = /^\/v2\.1\/servers\/[^/]+$/;
const HTML_502 =
  '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>';

describe('transient failures and retries (driver on the fake)', () => {
  let fake: FakeOpenStack;

  beforeEach(async () => {
    clearTokenCache();
    fake = await new FakeOpenStack().start();
  });
  afterEach(async () => {
    await fake.stop();
  });

  async function bootOne(): Promise<string> {
    const server = await driverOnFake(fake).createServer(
      bootRequest(randomUUID(), '*', fakeSpec()),
    );
    fake.requests.length = 0;
    return server.id;
  }

  it.each([429, 502, 503, 504])(
    'retries a GET that met HTTP %i and then succeeds',
    async (status) => {
      // Prepare
      const id = await bootOne();
      fake.inject({ service: 'compute', method: 'GET', path: SERVER_PATH, status, times: 2 });
      // Act
      const server = await driverOnFake(fake).getServer(id);
      // Assess
      expect(server.id).toBe(id);
      expect(fake.requestsTo('compute', 'GET', SERVER_PATH)).toHaveLength(3);
    },
  );

  it('gives UnavailableError after four attempts of a 503 storm on GET', async () => {
    const id = await bootOne();
    fake.inject({
      service: 'compute',
      method: 'GET',
      status: 503,
      body: '{"computeFault":{"code":503,"message":"busy"}}',
    });
    const error = await driverOnFake(fake)
      .getServer(id)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).status).toBe(503);
    expect((error as Error).message).toContain('busy');
    expect(fake.requestsTo('compute', 'GET', SERVER_PATH)).toHaveLength(4);
  });

  it('never resends a boot that met a 503: one POST, no server', async () => {
    // Prepare
    fake.inject({ service: 'compute', method: 'POST', status: 503 });
    // Act
    const error = await driverOnFake(fake)
      .createServer(bootRequest(randomUUID(), '*', fakeSpec()))
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(UnavailableError);
    expect(fake.requestsTo('compute', 'POST')).toHaveLength(1);
    expect(fake.servers.size).toBe(0);
  });

  it('never resends a stop or snapshot action that met a 503', async () => {
    const id = await bootOne();
    fake.inject({ service: 'compute', method: 'POST', status: 503 });
    const driver = driverOnFake(fake);
    await expect(driver.stopServer(id)).rejects.toBeInstanceOf(UnavailableError);
    await expect(driver.snapshot(id, { amphoraId: 'a' })).rejects.toBeInstanceOf(UnavailableError);
    expect(fake.requestsTo('compute', 'POST')).toHaveLength(2);
  });

  it('retries a DELETE that met 503 and deletes the server', async () => {
    const id = await bootOne();
    fake.inject({ service: 'compute', method: 'DELETE', status: 503, times: 3 });
    await driverOnFake(fake).deleteServer(id);
    expect(fake.servers.has(id)).toBe(false);
    expect(fake.requestsTo('compute', 'DELETE')).toHaveLength(4);
  });

  it('logs each retry with the call and status, and nothing secret', async () => {
    const id = await bootOne();
    const logger = capturingLogger();
    fake.inject({ service: 'compute', method: 'GET', path: SERVER_PATH, status: 503, times: 1 });
    await driverOnFake(fake, { logger }).getServer(id);
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'openstack request retried',
        fields: expect.objectContaining({
          service: 'compute',
          method: 'GET',
          status: 503,
          attempt: 1,
        }),
      },
    ]);
  });

  it('retries a GET whose connection was reset, but not a POST', async () => {
    // Prepare
    const id = await bootOne();
    fake.inject({ service: 'compute', method: 'GET', path: SERVER_PATH, reset: true, times: 1 });
    fake.inject({ service: 'compute', method: 'POST', reset: true, times: 1 });
    const driver = driverOnFake(fake);
    // Act
    const got = await driver.getServer(id);
    const boot = await driver
      .createServer(bootRequest(randomUUID(), '*', fakeSpec()))
      .catch((e: unknown) => e);
    // Assess
    expect(got.id).toBe(id);
    expect(boot).toBeInstanceOf(UnavailableError);
    expect((boot as Error).message).toContain('ECONNRESET');
    expect(fake.requestsTo('compute', 'POST')).toHaveLength(1);
  });

  it('answers a slow response with UnavailableError after request_timeout, without resending', async () => {
    // Prepare
    const id = await bootOne();
    fake.inject({ service: 'compute', method: 'GET', path: SERVER_PATH, delayMs: 1_500 });
    const started = Date.now();
    // Act
    const error = await driverOnFake(fake, { config: { request_timeout: 1 } })
      .getServer(id)
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain('timed out after 1000 ms');
    expect(Date.now() - started).toBeLessThan(1_450);
    expect(fake.requestsTo('compute', 'GET', SERVER_PATH)).toHaveLength(1);
  });

  it('stops a call in flight when the caller aborts, with UnavailableError', async () => {
    const id = await bootOne();
    fake.inject({ service: 'compute', method: 'GET', path: SERVER_PATH, delayMs: 3_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('lambda deadline')), 50);
    const started = Date.now();
    const error = await driverOnFake(fake)
      .getServer(id, { signal: controller.signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain('aborted by the caller');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('refuses a call aborted before it starts without sending any request', async () => {
    const controller = new AbortController();
    controller.abort(new Error('lambda deadline'));
    const error = await driverOnFake(fake)
      .createServer(bootRequest('a-1', '*', fakeSpec()), { signal: controller.signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(fake.requests).toEqual([]);
  });

  it('reuses kept-alive connections for GETs but opens a fresh one for every POST', async () => {
    // Prepare: warm a pooled connection
    const driver = driverOnFake(fake);
    await driver.listServers();
    fake.requests.length = 0;
    // Act
    await driver.listServers();
    await driver.listServers();
    await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
    await driver.createServer(bootRequest('a-2', '*', fakeSpec()));
    // Assess
    const [get1, get2, post1, post2] = fake.requests.map((r) => r.connection);
    expect(get2).toBe(get1);
    expect(new Set([get1, post1, post2]).size).toBe(3);
  });

  it('reports malformed JSON in a success response as AmphoraDriverError without echoing it', async () => {
    const id = await bootOne();
    fake.inject({
      service: 'compute',
      method: 'GET',
      path: SERVER_PATH,
      status: 200,
      body: '{"server": {"id": "x", "na',
    });
    const error = await driverOnFake(fake)
      .getServer(id)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AmphoraDriverError);
    expect(error).not.toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/malformed body: not valid JSON \(\d+ characters/);
    expect((error as Error).message).not.toContain('"na');
  });

  it('reads the message of a proxy HTML error page and retries it as transient', async () => {
    const id = await bootOne();
    fake.inject({
      service: 'compute',
      method: 'GET',
      status: 502,
      body: HTML_502,
      contentType: 'text/html',
    });
    const error = await driverOnFake(fake)
      .getServer(id)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain('HTTP 502: 502 Bad Gateway');
  });

  it('asks Glance for JSON, so its 404 reads as a sentence and maps to NotFoundError', async () => {
    const error = await driverOnFake(fake)
      .getImage('no-such-image')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain('HTTP 404: No image found with ID no-such-image');
    expect(fake.requestsTo('image')[0]!.headers.accept).toBe('application/json');
  });

  it('parses a Glance HTML 404 page too', async () => {
    fake.inject({
      service: 'image',
      status: 404,
      contentType: 'text/html; charset=UTF-8',
      body: '<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  No image found with ID i-1<br /><br />\n\n\n\n </body>\n</html>',
    });
    const error = await driverOnFake(fake)
      .getImage('i-1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain('404 Not Found: No image found with ID i-1');
  });

  it.each([
    [
      'deleteServer',
      'compute',
      500,
      '{"computeFault":{"code":500,"message":"Unexpected API Error."}}',
    ],
    [
      'deleteImage',
      'image',
      409,
      '{"message":"Image i is in use","code":"409 Conflict","title":"Conflict"}',
    ],
  ] as const)(
    'reports a refused %s as DeleteFailedError with the cloud message',
    async (op, service, status, body) => {
      const id = await bootOne();
      fake.inject({ service, method: 'DELETE', status, body });
      const error = await driverOnFake(fake)
        [op](id)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeleteFailedError);
      expect((error as DeleteFailedError).status).toBe(status);
    },
  );
});

describe('the JSON client on its own', () => {
  /** A clock whose sleeps return at once and are recorded. */
  function recordingClock(): Clock & { sleeps: number[] } {
    const sleeps: number[] = [];
    return { sleeps, now: () => Date.now(), sleep: async (ms) => void sleeps.push(ms) };
  }

  /** A transport that answers every request with the same status and counts them. */
  function constant(
    status: number,
    headers: Record<string, string> = {},
  ): Transport & { calls: number } {
    const t = Object.assign(
      async () => {
        t.calls += 1;
        return { status, headers, body: '' };
      },
      { calls: 0 },
    );
    return t;
  }

  const request = { service: 'compute', method: 'GET', path: '/servers', url: 'http://x/servers' };

  it('backs off exponentially with full jitter, capped', async () => {
    const clock = recordingClock();
    const client = new JsonClient({
      transport: constant(503),
      clock,
      timeoutMs: 1_000,
      retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 300 },
      random: () => 0.5,
    });
    await expect(client.send(request)).rejects.toBeInstanceOf(UnavailableError);
    expect(clock.sleeps).toEqual([50, 100, 150, 150]);
  });

  it('waits at least a Retry-After the cloud asks for, within the cap', async () => {
    const clock = recordingClock();
    const client = new JsonClient({
      transport: constant(503, { 'retry-after': '2' }),
      clock,
      timeoutMs: 1_000,
      retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 5_000 },
      random: () => 0,
    });
    await expect(client.send(request)).rejects.toBeInstanceOf(UnavailableError);
    expect(clock.sleeps).toEqual([2_000, 2_000]);
  });

  it('gives up a backoff wait as soon as the caller aborts', async () => {
    const client = new JsonClient({
      transport: constant(503),
      clock: systemClock,
      timeoutMs: 1_000,
      retry: { maxAttempts: 4, baseDelayMs: 10_000, maxDelayMs: 10_000 },
      random: () => 0.99,
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const started = Date.now();
    await expect(client.send({ ...request, signal: controller.signal })).rejects.toBeInstanceOf(
      UnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('resends even a POST when the connection was refused, since it never reached the cloud', async () => {
    // Prepare: a port that nothing listens on
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    let calls = 0;
    const inner = nodeTransport();
    const counting: Transport = (r) => {
      calls += 1;
      return inner(r);
    };
    const client = new JsonClient({
      transport: counting,
      clock: recordingClock(),
      timeoutMs: 1_000,
    });
    // Act
    const error = await client
      .send({
        service: 'compute',
        method: 'POST',
        path: '/servers',
        url: `http://127.0.0.1:${port}/servers`,
        body: {},
      })
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(calls).toBe(4);
  });

  it.each([
    ['node:http', nodeTransport()],
    ['fetch', fetchTransport()],
  ])('works the same over the %s transport', async (_name, transport) => {
    clearTokenCache();
    const fake = await new FakeOpenStack().start();
    try {
      const driver = driverOnFake(fake, { transport });
      const created = await driver.createServer(bootRequest('a-1', '*', fakeSpec()));
      expect((await driver.getServer(created.id)).amphoraId).toBe('a-1');
      await expect(driver.getImage('missing')).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await fake.stop();
    }
  });
});
