/**
 * The handler against docs/api/openapi.yaml, both ways: the document's operations are exactly
 * the routes served; every response a scenario provokes has its status documented for its
 * operation and validates against the documented schema; every documented status is provoked
 * by some scenario; and the handler accepts exactly the bodies, ids and keys the document does.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ROUTES } from '../../lib/api/handler.ts';
import { API_ERRORS, type ApiResponse } from '../../lib/api/http.ts';
import type { IdempotencyStore } from '../../lib/ports/idempotency-store.ts';
import { apiHarness, json } from '../support/api-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

type Doc = {
  paths: Record<string, Record<string, Operation>>;
  components: {
    responses: Record<string, ResponseObject>;
    parameters: Record<string, { schema: object }>;
    schemas: Record<string, object>;
  };
};
type Operation = {
  operationId: string;
  responses: Record<string, ResponseObject | { $ref: string }>;
  requestBody?: {
    required?: boolean;
    content: { 'application/json': { schema: { $ref: string } } };
  };
};
type ResponseObject = { content?: { 'application/json': { schema: { $ref: string } } } };

const DOC_FILE = new URL('../../docs/api/openapi.yaml', import.meta.url);
const doc = YAML.parse(readFileSync(DOC_FILE, 'utf8')) as Doc;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(doc, 'openapi');

/** A validator of `#/components/...` (or any pointer into the document). */
function validatorOf(ref: string) {
  expect(ref.startsWith('#/'), `expected a $ref into the document, got ${ref}`).toBe(true);
  const validate = ajv.getSchema(`openapi${ref}`);
  if (!validate) throw new Error(`the document has no schema at ${ref}`);
  return validate;
}

function resolveResponse(r: ResponseObject | { $ref: string }): ResponseObject {
  if ('$ref' in r) {
    const name = r.$ref.replace('#/components/responses/', '');
    const found = doc.components.responses[name];
    if (!found) throw new Error(`no response ${r.$ref}`);
    return found;
  }
  return r;
}

const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
);

function operationOf(operationId: string) {
  const found = operations.find((o) => o.op.operationId === operationId);
  if (!found) throw new Error(`the document has no operation ${operationId}`);
  return found;
}

/** Checks one response against the document; returns the `operationId status` it covers. */
function conformance(operationId: string, response: ApiResponse): string {
  const { op } = operationOf(operationId);
  const documented = op.responses[String(response.status)];
  expect(
    documented,
    `${operationId} answered ${response.status} (${response.body}), which the document does not list`,
  ).toBeDefined();
  const schema = resolveResponse(documented!).content?.['application/json'].schema;
  expect(schema, `${operationId} ${response.status} has no JSON schema`).toBeDefined();
  const validate = validatorOf(schema!.$ref);
  const body = json(response);
  expect(
    validate(body),
    `${operationId} ${response.status}: ${ajv.errorsText(validate.errors)}\n${response.body}`,
  ).toBe(true);
  return `${operationId} ${response.status}`;
}

describe('the routes', () => {
  it('are exactly the operations of the document', () => {
    const documented = operations.map((o) => `${o.method} ${o.path} ${o.op.operationId}`).sort();
    const served = ROUTES.map((r) => `${r.method} ${r.path} ${r.operationId}`).sort();
    expect(served).toEqual(documented);
    expect(served).toHaveLength(6);
  });

  it('documents every error code the handler has, and no other', () => {
    const error = doc.components.schemas.Error as {
      properties: { error: { properties: { code: { enum: string[] } } } };
    };
    expect([...error.properties.error.properties.code.enum].sort()).toEqual(
      Object.keys(API_ERRORS).sort(),
    );
  });

  it.each(operations.map((o) => [o.method, o.path] as const))(
    '%s %s is served (not a 404 route or a 405)',
    async (method, path) => {
      const h = apiHarness();
      const response = await h.send({
        method,
        path: path.replace('{id}', 'amp-1'),
        headers: { 'idempotency-key': 'k' },
      });
      expect(['ROUTE_NOT_FOUND', 'METHOD_NOT_ALLOWED']).not.toContain(
        response.status >= 400 ? json(response).error.code : undefined,
      );
    },
  );

  it('answers an unknown route with the documented Error shape', async () => {
    const response = await apiHarness().get('/nowhere');
    expect(response.status).toBe(404);
    expect(validatorOf('#/components/schemas/Error')(json(response))).toBe(true);
  });
});

type Harness = ReturnType<typeof apiHarness>;
const failingIdempotency: IdempotencyStore = {
  begin: () => Promise.reject(new Error('down')),
  complete: () => Promise.reject(new Error('down')),
  abandon: () => Promise.reject(new Error('down')),
};

/** Scenarios that provoke each documented response. */
const SCENARIOS: Array<{
  name: string;
  operationId: string;
  status: number;
  idempotency?: IdempotencyStore;
  act: (h: Harness) => Promise<ApiResponse>;
}> = [
  {
    name: 'claim',
    operationId: 'claim',
    status: 200,
    act: (h) => h.post('/claims', { pool: 'default' }),
  },
  {
    name: 'claim replayed',
    operationId: 'claim',
    status: 200,
    act: async (h) => {
      await h.post('/claims', {}, 'same');
      return h.post('/claims', {}, 'same');
    },
  },
  {
    name: 'claim, bad body',
    operationId: 'claim',
    status: 400,
    act: (h) => h.post('/claims', { pool: 1, x: 2 }),
  },
  {
    name: 'claim, no key',
    operationId: 'claim',
    status: 400,
    act: (h) => h.post('/claims', {}, null),
  },
  {
    name: 'claim, no spare',
    operationId: 'claim',
    status: 409,
    act: async (h) => {
      await h.post('/claims', {});
      return h.post('/claims', {});
    },
  },
  {
    name: 'claim in progress',
    operationId: 'claim',
    status: 409,
    act: async (h) => {
      // The first request's read of the spares is held until the retry has been answered.
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const list = h.store.listByState.bind(h.store);
      h.store.listByState = async (...args) => {
        await gate;
        return list(...args);
      };
      const first = h.post('/claims', {}, 'busy');
      await new Promise((r) => setTimeout(r, 5));
      const retry = await h.post('/claims', {}, 'busy');
      release();
      await first;
      return retry;
    },
  },
  {
    name: 'claim, key reused',
    operationId: 'claim',
    status: 422,
    act: async (h) => {
      await h.post('/claims', {}, 'k');
      return h.post('/claims', { pool: 'default' }, 'k');
    },
  },
  {
    name: 'claim, store down',
    operationId: 'claim',
    status: 500,
    idempotency: failingIdempotency,
    act: (h) => h.post('/claims', {}),
  },
  ...(['releaseAmphora', 'reportFailure', 'preserveAmphora'] as const).flatMap((operationId) => {
    const path = operationOf(operationId).path;
    const at = (id: string) => path.replace('{id}', id);
    const body = operationId === 'reportFailure' ? { reason: 'broken' } : undefined;
    return [
      {
        name: `${operationId}`,
        operationId,
        status: 200,
        act: (h: Harness) => h.post(at('amp-a'), body),
      },
      {
        name: `${operationId}, bad id`,
        operationId,
        status: 400,
        act: (h: Harness) => h.post(at('a%20b'), body),
      },
      {
        name: `${operationId}, unknown id`,
        operationId,
        status: 404,
        act: (h: Harness) => h.post(at('amp-none'), body),
      },
      {
        name: `${operationId}, illegal`,
        operationId,
        status: 409,
        act: (h: Harness) => h.post(at('amp-del'), body),
      },
      {
        name: `${operationId}, key reused`,
        operationId,
        status: 422,
        act: async (h: Harness) => {
          await h.post(at('amp-a'), body, 'k');
          return h.post(at('amp-r'), body, 'k');
        },
      },
      {
        name: `${operationId}, store down`,
        operationId,
        status: 500,
        idempotency: failingIdempotency,
        act: (h: Harness) => h.post(at('amp-a'), body),
      },
    ];
  }),
  { name: 'get', operationId: 'getAmphora', status: 200, act: (h) => h.get('/amphorae/amp-f') },
  {
    name: 'get, bad id',
    operationId: 'getAmphora',
    status: 400,
    act: (h) => h.get('/amphorae/a%20b'),
  },
  {
    name: 'get, unknown',
    operationId: 'getAmphora',
    status: 404,
    act: (h) => h.get('/amphorae/nope'),
  },
  {
    name: 'get, store down',
    operationId: 'getAmphora',
    status: 500,
    act: (h) => {
      h.store.get = () => Promise.reject(new Error('down'));
      return h.get('/amphorae/amp-a');
    },
  },
  { name: 'pools', operationId: 'getPools', status: 200, act: (h) => h.get('/pools') },
  {
    name: 'pools after a cycle, cloud refusing',
    operationId: 'getPools',
    status: 200,
    act: async (h) => {
      await h.store.putCloudHealth({
        state: 'refusing',
        kind: 'Unavailable',
        since: h.clock.now(),
        probeAt: h.clock.now() + 1000,
        lastError: 'x',
      } as never);
      const lease = (await h.store.acquireLease('p', h.clock.now(), 1000))!;
      await h.store.releaseLease(lease, true, {
        at: h.clock.now(),
        token: lease.token,
        outcome: 'failed',
        decisions: 0,
        tasksSent: 0,
        error: 'e',
      });
      return h.get('/pools');
    },
  },
  {
    name: 'pools, store down',
    operationId: 'getPools',
    status: 500,
    act: (h) => {
      h.store.getPoolState = () => Promise.reject(new Error('down'));
      return h.get('/pools');
    },
  },
];

describe('every response conforms to the document', () => {
  const covered = new Set<string>();

  it.each(SCENARIOS)('$name: $status', async ({ operationId, status, idempotency, act }) => {
    // Prepare: one READY spare, amphorae to move, one that is gone, one failed with a reason
    const h = apiHarness({}, idempotency ? { idempotency } : {});
    await h.store.create(
      rec('READY', { id: 'amp-r', launch: { imageId: 'img', flavorId: 'fl', digest: 'd' } }),
    );
    await h.store.create(rec('ALLOCATED', { id: 'amp-a', computeZone: 'nova-1' }));
    await h.store.create(rec('DELETED', { id: 'amp-del' }));
    await h.store.create(
      rec('ERROR', { id: 'amp-f', failure: { code: 'REPORTED', message: 'm', at: 0 } }),
    );

    // Act
    const response = await act(h);

    // Assess
    expect(response.status, response.body).toBe(status);
    covered.add(conformance(operationId, response));
  });

  it('every documented status of every operation is provoked by a scenario', () => {
    const documented = operations.flatMap((o) =>
      Object.keys(o.op.responses).map((s) => `${o.op.operationId} ${s}`),
    );
    expect([...covered].sort()).toEqual([...new Set(documented)].sort());
  });
});

describe('the handler accepts exactly what the document accepts', () => {
  const long = (n: number) => 'x'.repeat(n);
  const bodies: Record<string, unknown[]> = {
    claim: [
      {},
      { pool: 'default' },
      { zone: '*' },
      { pool: 'default', zone: '*' },
      { pool: 5 },
      { pool: '' },
      { pool: long(129) },
      { zone: null },
      { x: 1 },
      [],
      null,
      'claim',
      5,
      true,
    ],
    reportFailure: [
      { reason: 'x' },
      { reason: long(1000) },
      {},
      { reason: '' },
      { reason: long(1001) },
      { reason: 5 },
      { reason: 'x', y: 1 },
      [],
      null,
    ],
    releaseAmphora: [{}, { a: 1 }, [], 'x', null, 0],
    preserveAmphora: [{}, { force: true }, [], null],
  };
  const cases = Object.entries(bodies).flatMap(([operationId, list]) =>
    list.map((body) => {
      const text = JSON.stringify(body);
      return [
        operationId,
        text.length > 40 ? `${text.slice(0, 40)}… (${text.length})` : text,
        body,
      ] as const;
    }),
  );

  it.each(cases)('%s with body %s', async (operationId, _, body) => {
    const { op, path } = operationOf(operationId);
    const schemaRef = op.requestBody!.content['application/json'].schema.$ref;
    const docAccepts = validatorOf(schemaRef)(body) as boolean;
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    const response = await h.post(path.replace('{id}', 'amp-1'), JSON.stringify(body));
    const bodyRefused =
      response.status === 400 &&
      json(response).error.issues.some((i: { field: string }) => i.field.startsWith('body'));
    expect(bodyRefused, response.body).toBe(!docAccepts);
  });

  const idSchema = ajv.compile(doc.components.parameters.AmphoraId!.schema);
  it.each(['amp-1', 'A.b_c-9', long(128), long(129), 'a b', 'a/b', 'ü', 'a:b'])(
    'id %j',
    async (id) => {
      const h = apiHarness();
      const response = await h.get(`/amphorae/${encodeURIComponent(id)}`);
      const refused = response.status === 400;
      expect(refused, response.body).toBe(!idSchema(id));
    },
  );

  const keySchema = ajv.compile(doc.components.parameters.IdempotencyKey!.schema);
  it.each(['k', crypto.randomUUID(), long(128), long(129), '', 'a b', 'tab\tkey', 'é'])(
    'idempotency key %j',
    async (key) => {
      const h = apiHarness();
      const response = await h.post('/claims', {}, key);
      const refused =
        response.status === 400 &&
        json(response).error.issues.some(
          (i: { field: string }) => i.field === 'header.idempotency-key',
        );
      expect(refused, response.body).toBe(!keySchema(key));
    },
  );
});
