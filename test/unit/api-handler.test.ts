/**
 * The claims API's handler, called directly: routing, the validation table (every field, every
 * bad value), the use cases behind each route, idempotency under retries and concurrency, and
 * the planner wake.
 */
import { describe, expect, it } from 'vitest';
import { handleApiRequest } from '../../lib/api/handler.ts';
import type { IdempotencyStore } from '../../lib/ports/idempotency-store.ts';
import { apiHarness, json } from '../support/api-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

const ZONED = {
  pools: [
    { name: 'small', spare_amphora_pool_size: 2, availability_zones: ['az1', 'az2'] },
    { name: 'large', spare_amphora_pool_size: 1 },
  ],
};

describe('routing', () => {
  it.each<[string, string, number, string]>([
    ['GET', '/nope', 404, 'ROUTE_NOT_FOUND'],
    ['GET', '/', 404, 'ROUTE_NOT_FOUND'],
    ['GET', '/amphorae', 404, 'ROUTE_NOT_FOUND'],
    ['POST', '/amphorae//release', 404, 'ROUTE_NOT_FOUND'],
    ['GET', '/pools/', 404, 'ROUTE_NOT_FOUND'],
    ['GET', '/claims', 405, 'METHOD_NOT_ALLOWED'],
    ['DELETE', '/pools', 405, 'METHOD_NOT_ALLOWED'],
    ['PUT', '/amphorae/a1/release', 405, 'METHOD_NOT_ALLOWED'],
    ['POST', '/amphorae/a1', 405, 'METHOD_NOT_ALLOWED'],
  ])('%s %s is %i %s', async (method, path, status, code) => {
    const h = apiHarness();
    const response = await h.send({
      method,
      path,
      headers: { 'idempotency-key': 'k1' },
      body: '{}',
    });
    expect(response.status).toBe(status);
    expect(json(response).error.code).toBe(code);
    if (status === 405) expect(response.headers.allow).toMatch(/GET|POST/);
  });
});

describe('request validation', () => {
  const long = (n: number) => 'x'.repeat(n);
  it.each<{
    name: string;
    path: string;
    body?: string | unknown;
    key?: string | null;
    field: string;
    value?: string;
    config?: Record<string, unknown>;
  }>([
    { name: 'claim body is an array', path: '/claims', body: [], field: 'body', value: '[]' },
    { name: 'claim body is null', path: '/claims', body: 'null', field: 'body', value: 'null' },
    { name: 'claim body is a string', path: '/claims', body: '"x"', field: 'body', value: '"x"' },
    { name: 'claim body is a number', path: '/claims', body: '5', field: 'body', value: '5' },
    { name: 'claim body is not JSON', path: '/claims', body: '{pool:', field: 'body' },
    {
      name: 'pool is a number',
      path: '/claims',
      body: { pool: 5 },
      field: 'body.pool',
      value: '5',
    },
    {
      name: 'pool is null',
      path: '/claims',
      body: { pool: null },
      field: 'body.pool',
      value: 'null',
    },
    { name: 'pool is empty', path: '/claims', body: { pool: '' }, field: 'body.pool', value: '""' },
    { name: 'pool is too long', path: '/claims', body: { pool: long(129) }, field: 'body.pool' },
    { name: 'pool is a list', path: '/claims', body: { pool: ['a'] }, field: 'body.pool' },
    {
      name: 'pool is not configured',
      path: '/claims',
      body: { pool: 'medium' },
      field: 'body.pool',
      value: '"medium"',
      config: ZONED,
    },
    {
      name: 'pool is left out among several',
      path: '/claims',
      body: {},
      field: 'body.pool',
      config: ZONED,
    },
    {
      name: 'zone is a number',
      path: '/claims',
      body: { zone: 1 },
      field: 'body.zone',
      value: '1',
    },
    { name: 'zone is empty', path: '/claims', body: { zone: '' }, field: 'body.zone' },
    { name: 'zone is too long', path: '/claims', body: { zone: long(200) }, field: 'body.zone' },
    {
      name: 'zone is not one of the pool',
      path: '/claims',
      body: { pool: 'small', zone: 'az9' },
      field: 'body.zone',
      value: '"az9"',
      config: ZONED,
    },
    {
      name: 'zone named for a pool without zones',
      path: '/claims',
      body: { zone: 'az1' },
      field: 'body.zone',
      value: '"az1"',
    },
    {
      name: 'claim has an unknown field',
      path: '/claims',
      body: { pool: 'default', count: 2 },
      field: 'body.count',
      value: '2',
    },
    {
      name: 'claim field in the wrong case',
      path: '/claims',
      body: { Pool: 'default' },
      field: 'body.Pool',
    },
    {
      name: 'key is missing',
      path: '/claims',
      body: {},
      key: null,
      field: 'header.idempotency-key',
    },
    { name: 'key is empty', path: '/claims', body: {}, key: '', field: 'header.idempotency-key' },
    {
      name: 'key has a space',
      path: '/claims',
      body: {},
      key: 'a b',
      field: 'header.idempotency-key',
      value: '"a b"',
    },
    {
      name: 'key is too long',
      path: '/claims',
      body: {},
      key: long(129),
      field: 'header.idempotency-key',
    },
    { name: 'reason is missing', path: '/amphorae/amp-x/failure', body: {}, field: 'body.reason' },
    {
      name: 'reason is a number',
      path: '/amphorae/amp-x/failure',
      body: { reason: 42 },
      field: 'body.reason',
      value: '42',
    },
    {
      name: 'reason is empty',
      path: '/amphorae/amp-x/failure',
      body: { reason: '' },
      field: 'body.reason',
    },
    {
      name: 'reason is too long',
      path: '/amphorae/amp-x/failure',
      body: { reason: long(1001) },
      field: 'body.reason',
    },
    {
      name: 'failure has an unknown field',
      path: '/amphorae/amp-x/failure',
      body: { reason: 'x', code: 'E' },
      field: 'body.code',
    },
    {
      name: 'release has a body field',
      path: '/amphorae/amp-x/release',
      body: { force: true },
      field: 'body.force',
      value: 'true',
    },
    { name: 'release body is a list', path: '/amphorae/amp-x/release', body: [], field: 'body' },
    {
      name: 'preserve has a body field',
      path: '/amphorae/amp-x/preserve',
      body: { why: 'x' },
      field: 'body.why',
    },
    {
      name: 'id has a space',
      path: '/amphorae/amp%20x/release',
      body: {},
      field: 'path.id',
      value: '"amp x"',
    },
    {
      name: 'id has a slash (encoded)',
      path: '/amphorae/a%2Fb/preserve',
      body: {},
      field: 'path.id',
      value: '"a/b"',
    },
    { name: 'id is too long', path: `/amphorae/${long(129)}/release`, body: {}, field: 'path.id' },
  ])('$name: 400 naming $field', async ({ path, body, key, field, value, config }) => {
    // Prepare
    const h = apiHarness(config ?? {});
    await h.store.create(
      rec('READY', { id: 'amp-x', pool: config ? 'small' : 'default', zone: config ? 'az1' : '*' }),
    );

    // Act
    const response = await h.post(path, body, key);

    // Assess: a 400 whose message names the field, the value sent and a rule; nothing changed
    expect(response.status).toBe(400);
    const error = json(response).error;
    expect(error.code).toBe('INVALID_REQUEST');
    expect(error.message).toContain(`${field}: `);
    expect(error.issues.map((i: { field: string }) => i.field)).toContain(field);
    const issue = error.issues.find((i: { field: string }) => i.field === field);
    expect(issue.rule.length).toBeGreaterThan(8);
    if (value !== undefined) expect(error.message).toContain(`got ${value}`);
    expect((await h.store.get('amp-x'))!.state).toBe('READY');
    expect(h.wake.calls).toBe(0);
    expect(h.logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('lists every bad field of one request at once', async () => {
    const h = apiHarness();
    const response = await h.post('/amphorae/a%20b/failure', { reason: 5, x: 1 }, null);
    expect(response.status).toBe(400);
    expect(
      json(response)
        .error.issues.map((i: { field: string }) => i.field)
        .sort(),
    ).toEqual(['body.reason', 'body.x', 'header.idempotency-key', 'path.id']);
  });

  it.each([
    ['GET', '/amphorae/a%20b'],
    ['GET', `/amphorae/${'y'.repeat(129)}`],
  ])('%s %s: 400 naming path.id', async (method, path) => {
    const response = await apiHarness().send({ method, path, headers: {} });
    expect(response.status).toBe(400);
    expect(json(response).error.message).toContain('path.id: ');
  });

  it.each(['', '   ', '{}'])('takes an empty claim body %j as {}', async (body) => {
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    const response = await h.post('/claims', body);
    expect(response.status).toBe(200);
    expect(json(response).id).toBe('amp-1');
  });
});

describe('the routes', () => {
  it('claims the oldest READY spare of the pool and zone asked for', async () => {
    // Prepare
    const h = apiHarness(ZONED);
    await h.store.create(rec('READY', { id: 'young', pool: 'small', zone: 'az1', ageSeconds: 5 }));
    await h.store.create(rec('READY', { id: 'old', pool: 'small', zone: 'az1', ageSeconds: 500 }));
    await h.store.create(
      rec('READY', { id: 'other', pool: 'small', zone: 'az2', ageSeconds: 900 }),
    );

    // Act
    const response = await h.post('/claims', { pool: 'small', zone: 'az1' });

    // Assess
    expect(response.status).toBe(200);
    expect(json(response)).toMatchObject({
      id: 'old',
      serverId: 'srv-old',
      pool: 'small',
      zone: 'az1',
      state: 'ALLOCATED',
    });
    expect((await h.store.get('old'))!.state).toBe('ALLOCATED');
  });

  it('answers 409 NO_SPARE when no spare is READY, and stores nothing for the key', async () => {
    const h = apiHarness();
    const first = await h.post('/claims', {}, 'same');
    expect(first.status).toBe(409);
    expect(json(first).error).toMatchObject({ code: 'NO_SPARE' });
    expect(json(first).error.message).toContain('no READY spare in pool default');
    // A spare appears; the retry with the same key claims it (a 4xx is not replayed).
    await h.store.create(rec('READY', { id: 'amp-late' }));
    const retry = await h.post('/claims', {}, 'same');
    expect(retry.status).toBe(200);
    expect(json(retry).id).toBe('amp-late');
  });

  it.each<[string, string, object | undefined, string]>([
    ['release', '/amphorae/amp-1/release', undefined, 'PENDING_DELETE'],
    ['failure', '/amphorae/amp-1/failure', { reason: 'health check failed' }, 'ERROR'],
    ['preserve', '/amphorae/amp-1/preserve', {}, 'PRESERVE'],
  ])('%s moves the amphora and returns it', async (_, path, body, state) => {
    const h = apiHarness();
    await h.store.create(rec('ALLOCATED', { id: 'amp-1' }));
    const response = await h.post(path, body);
    expect(response.status).toBe(200);
    expect(json(response)).toMatchObject({ id: 'amp-1', state });
    expect((await h.store.get('amp-1'))!.state).toBe(state);
    if (body && 'reason' in body) {
      expect(json(response).failure).toEqual({ code: 'REPORTED', message: 'health check failed' });
    }
  });

  it('schedules the REMOVE task of a released amphora', async () => {
    const h = apiHarness();
    await h.store.create(rec('ALLOCATED', { id: 'amp-1' }));
    await h.post('/amphorae/amp-1/release');
    expect(h.sent().map((t) => [t.type, 'amphoraId' in t ? t.amphoraId : undefined])).toEqual([
      ['REMOVE', 'amp-1'],
    ]);
  });

  it.each<[string, string]>([
    ['/amphorae/amp-gone/release', 'DELETED'],
    ['/amphorae/amp-gone/preserve', 'DELETED'],
  ])('%s of a %s amphora is 409 ILLEGAL_TRANSITION', async (path, state) => {
    const h = apiHarness();
    await h.store.create(rec(state as 'DELETED', { id: 'amp-gone' }));
    const response = await h.post(path);
    expect(response.status).toBe(409);
    expect(json(response).error.code).toBe('ILLEGAL_TRANSITION');
    expect(json(response).error.message).toContain(`amphora amp-gone is ${state}`);
  });

  it.each([
    ['POST', '/amphorae/amp-12/release'],
    ['POST', '/amphorae/amp-12/failure'],
    ['GET', '/amphorae/amp-12'],
  ])('%s %s: 404 for an unknown id, even one that prefixes a stored id', async (method, path) => {
    const h = apiHarness();
    await h.store.create(rec('ALLOCATED', { id: 'amp-123' }));
    const response = await h.send({
      method,
      path,
      headers: { 'idempotency-key': 'k' },
      body: JSON.stringify(path.endsWith('failure') ? { reason: 'x' } : {}),
    });
    expect(response.status).toBe(404);
    expect(json(response).error).toMatchObject({ code: 'NOT_FOUND' });
    expect(json(response).error.message).toContain('amp-12 does not exist');
    expect((await h.store.get('amp-123'))!.state).toBe('ALLOCATED');
  });

  it('GET /amphorae/{id} returns the amphora', async () => {
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1', launch: { imageId: 'img-1', digest: 'd' } }));
    const response = await h.get('/amphorae/amp-1');
    expect(response.status).toBe(200);
    expect(json(response)).toMatchObject({ id: 'amp-1', state: 'READY', imageId: 'img-1' });
  });

  it('GET /pools returns the pool status', async () => {
    const h = apiHarness(ZONED);
    await h.store.create(rec('READY', { pool: 'small', zone: 'az1' }));
    const response = await h.get('/pools');
    expect(response.status).toBe(200);
    const status = json(response);
    expect(status.spares).toEqual({ ready: 1, target: 5 });
    expect(status.pools.map((p: { pool: string }) => p.pool)).toEqual(['small', 'large']);
  });
});

describe('idempotency', () => {
  it('replays a claim retried with the same key: same amphora, no second claim', async () => {
    // Prepare
    const h = apiHarness();
    for (let i = 0; i < 3; i++) await h.store.create(rec('READY', { id: `amp-${i}` }));

    // Act
    const first = await h.post('/claims', {}, 'retry-me');
    const retries = await Promise.all([1, 2, 3].map(() => h.post('/claims', {}, 'retry-me')));

    // Assess
    expect(first.status).toBe(200);
    for (const r of retries) {
      expect(r.status).toBe(200);
      expect(r.body).toBe(first.body);
      expect(r.headers['idempotent-replayed']).toBe('true');
    }
    expect(await h.store.listByState('default', 'ALLOCATED')).toHaveLength(1);
    expect(await h.store.listByState('default', 'READY')).toHaveLength(2);
    expect(h.wake.calls).toBe(1);
  });

  it.each<[string, string, unknown, string, unknown]>([
    ['another body', '/claims', {}, '/claims', { pool: 'default' }],
    ['another path', '/amphorae/amp-0/release', undefined, '/amphorae/amp-1/release', undefined],
    [
      'another operation',
      '/amphorae/amp-0/release',
      undefined,
      '/amphorae/amp-0/preserve',
      undefined,
    ],
  ])('refuses a key reused for %s with 422', async (_, path1, body1, path2, body2) => {
    const h = apiHarness();
    for (let i = 0; i < 3; i++) await h.store.create(rec('READY', { id: `amp-${i}` }));
    expect((await h.post(path1, body1, 'k')).status).toBe(200);
    const reused = await h.post(path2, body2, 'k');
    expect(reused.status).toBe(422);
    expect(json(reused).error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('answers 409 REQUEST_IN_PROGRESS to a retry while the first request runs', async () => {
    // Prepare: a claim whose store read is held until released
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const original = h.store.listByState.bind(h.store);
    h.store.listByState = async (...args) => {
      await gate;
      return original(...args);
    };

    // Act
    const first = h.post('/claims', {}, 'slow');
    await new Promise((r) => setTimeout(r, 5));
    const retry = await h.post('/claims', {}, 'slow');
    release();

    // Assess
    expect(retry.status).toBe(409);
    expect(json(retry).error.code).toBe('REQUEST_IN_PROGRESS');
    expect(retry.headers['retry-after']).toBe('1');
    expect((await first).status).toBe(200);
    expect((await h.post('/claims', {}, 'slow')).body).toBe((await first).body);
  });

  it('lets a retry run again after the first request failed with a 500', async () => {
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    const original = h.store.update.bind(h.store);
    let failNext = true;
    h.store.update = async (...args) => {
      if (failNext) {
        failNext = false;
        throw new Error('store unavailable (test)');
      }
      return original(...args);
    };
    const first = await h.post('/claims', {}, 'k500');
    expect(first.status).toBe(500);
    expect(json(first).error.code).toBe('INTERNAL');
    expect(
      h.logger.lines.some((l) => l.level === 'error' && l.message === 'API request failed'),
    ).toBe(true);
    const retry = await h.post('/claims', {}, 'k500');
    expect(retry.status).toBe(200);
    expect(json(retry).id).toBe('amp-1');
  });

  it('takes over a key whose request stayed in progress past the stale bound', async () => {
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    const token = 'dead-run';
    await h.idempotency.begin({
      key: 'k',
      requestHash: 'whatever',
      token,
      now: h.clock.now(),
      staleAfterMs: 60_000,
      ttlMs: 86_400_000,
    });
    // The dead run's hash differs, so before the bound the key is refused as reused ...
    expect((await h.post('/claims', {}, 'k')).status).toBe(422);
    // ... and after it, the key is free again.
    h.clock.advance(60_001);
    const response = await h.post('/claims', {}, 'k');
    expect(response.status).toBe(200);
  });

  it('20 concurrent claims with distinct keys on 10 READY spares: 10 distinct amphorae, 10 NO_SPARE', async () => {
    const h = apiHarness();
    for (let i = 0; i < 10; i++) await h.store.create(rec('READY', { id: `amp-${i}` }));
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.post('/claims', {}, `k-${i}`)),
    );
    const ok = responses.filter((r) => r.status === 200).map((r) => json(r).id);
    const refused = responses.filter((r) => r.status === 409).map((r) => json(r).error.code);
    expect(ok).toHaveLength(10);
    expect(new Set(ok).size).toBe(10);
    expect(refused).toEqual(Array(10).fill('NO_SPARE'));
    expect(await h.store.listByState('default', 'READY')).toHaveLength(0);
  });

  it('scopes keys to the caller when the carrier names one', async () => {
    const h = apiHarness();
    for (let i = 0; i < 2; i++) await h.store.create(rec('READY', { id: `amp-${i}` }));
    const as = (caller: string) =>
      handleApiRequest(h.deps, {
        method: 'POST',
        path: '/claims',
        headers: { 'idempotency-key': 'shared' },
        caller,
      });
    const a = json(await as('arn:aws:iam::1:role/a')).id;
    const b = json(await as('arn:aws:iam::1:role/b')).id;
    expect(new Set([a, b]).size).toBe(2);
  });
});

describe('the planner wake', () => {
  it.each<[string, string, unknown]>([
    ['a claim', '/claims', {}],
    ['a release', '/amphorae/amp-a/release', undefined],
    ['a failure report', '/amphorae/amp-a/failure', { reason: 'x' }],
    ['a preservation request', '/amphorae/amp-a/preserve', undefined],
  ])('is called after %s', async (_, path, body) => {
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-r' }));
    await h.store.create(rec('ALLOCATED', { id: 'amp-a' }));
    expect((await h.post(path, body)).status).toBe(200);
    expect(h.wake.calls).toBe(1);
  });

  it.each<[string, string, unknown]>([
    ['a claim', '/claims', {}],
    ['a release', '/amphorae/amp-a/release', undefined],
    ['a failure report', '/amphorae/amp-a/failure', { reason: 'x' }],
  ])('that fails still lets %s answer 200, with a warning', async (_, path, body) => {
    const h = apiHarness();
    h.wake.failing = true;
    await h.store.create(rec('READY', { id: 'amp-r' }));
    await h.store.create(rec('ALLOCATED', { id: 'amp-a' }));
    const response = await h.post(path, body);
    expect(response.status).toBe(200);
    expect(h.wake.calls).toBe(1);
    expect(h.logger.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      'planner wake failed; the scheduled cycle will refill instead',
    ]);
  });

  it.each<[string, string, unknown]>([
    ['NO_SPARE', '/claims', {}],
    ['a 400', '/amphorae/amp-a/failure', {}],
    ['a 404', '/amphorae/nope/release', undefined],
  ])('is not called after %s', async (_, path, body) => {
    const h = apiHarness();
    await h.store.create(rec('ALLOCATED', { id: 'amp-a' }));
    expect((await h.post(path, body)).status).toBeGreaterThanOrEqual(400);
    expect(h.wake.calls).toBe(0);
  });
});

describe('metrics', () => {
  it('counts claims and NO_SPARE refusals per pool, and 500s', async () => {
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    await h.post('/claims', {});
    await h.post('/claims', {});
    h.store.getPoolState = () => Promise.reject(new Error('down'));
    await h.get('/pools');
    expect(h.metrics.counts).toEqual([
      { name: 'ApiClaim', value: 1, dimensions: { Pool: 'default' } },
      { name: 'ApiNoSpare', value: 1, dimensions: { Pool: 'default' } },
      { name: 'ApiInternalError', value: 1 },
    ]);
  });
});

describe('the handler never throws', () => {
  it('answers 500 with a JSON error when the idempotency store fails', async () => {
    const h = apiHarness(
      {},
      {
        idempotency: {
          begin: () => Promise.reject(new Error('table gone')),
          complete: () => Promise.reject(new Error('table gone')),
          abandon: () => Promise.reject(new Error('table gone')),
        } satisfies IdempotencyStore,
      },
    );
    const response = await h.post('/claims', {});
    expect(response.status).toBe(500);
    expect(response.headers['content-type']).toBe('application/json');
    expect(json(response).error.code).toBe('INTERNAL');
    expect(h.logger.lines.find((l) => l.level === 'error')?.fields?.error).toContain('table gone');
  });
});
