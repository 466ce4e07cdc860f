/**
 * The claims API (issue 10): one handler for every route, whatever carries the request (a Lambda
 * function URL in AWS, `node:http` locally). It validates, applies the idempotency key of every
 * POST, calls the operator use cases (no second implementation of a claim or a transition), and
 * wakes the planner after a change that may need a replacement. It never throws: user errors are
 * 4xx naming the field, the value and the rule; anything unexpected is logged and answered 500.
 */
import { createHash } from 'node:crypto';
import {
  claimSpare,
  deactivate,
  flagFailed,
  type OperatorDeps,
  requestPreservation,
} from '../app/operator-actions.ts';
import { poolStatus } from '../app/pool-status.ts';
import { METRICS } from '../config/deployment.ts';
import type { AmphoraRecord } from '../domain/amphora.ts';
import {
  AmphoraNotFoundError,
  IllegalTransitionError,
  VersionConflictError,
} from '../domain/errors.ts';
import { poolOf, type Settings } from '../domain/settings.ts';
import type { IdempotencyStore } from '../ports/idempotency-store.ts';
import type { PlannerWake } from '../ports/planner-wake.ts';
import type { LeaseStore, PoolStateStore, RecordStore } from '../ports/pool-store.ts';
import type { Logger, Metrics } from '../ports/telemetry.ts';
import {
  type ApiRequest,
  type ApiResponse,
  errorResponse,
  type FieldIssue,
  IDEMPOTENCY_KEY_HEADER,
  jsonResponse,
  REPLAYED_HEADER,
} from './http.ts';
import {
  AmphoraId,
  ClaimBody,
  describeIssues,
  EmptyBody,
  FailureBody,
  IDEMPOTENCY_KEY_PATTERN,
  parseWith,
} from './schemas.ts';

/** What the API needs: the operator use cases' ports, the status's, idempotency and the wake. */
export interface ApiDeps extends OperatorDeps {
  readonly store: RecordStore &
    Pick<PoolStateStore, 'getPoolState'> &
    Pick<LeaseStore, 'lastCycle'>;
  readonly config: Settings;
  readonly idempotency: IdempotencyStore;
  /** Called after a claim, a release, a failure report or a preservation request. */
  readonly wake: PlannerWake;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** Idempotency timings; {@link IDEMPOTENCY_DEFAULTS} when absent. */
  readonly idempotencyOptions?: Partial<IdempotencyOptions>;
}

/** How long idempotency records live and hold their key. */
export interface IdempotencyOptions {
  /** How long a completed response is replayed to a retry with its key. */
  readonly ttlMs: number;
  /**
   * How long a request in progress holds its key: a retry sooner gets 409 REQUEST_IN_PROGRESS;
   * later, the first run is presumed dead (its Lambda timed out) and the retry runs again.
   */
  readonly staleAfterMs: number;
}

/** A day of replays, and a hold well beyond the API function's timeout. */
export const IDEMPOTENCY_DEFAULTS: IdempotencyOptions = { ttlMs: 86_400_000, staleAfterMs: 60_000 };

/** An amphora as the API returns it. */
export interface ApiAmphora {
  readonly id: string;
  /** The Nova server id, once booted. */
  readonly serverId?: string;
  readonly pool: string;
  /** Octavia's availability zone, or `*` for a pool without zones. */
  readonly zone: string;
  /** The Nova availability zone it was booted in, when one was requested. */
  readonly computeZone?: string;
  readonly imageId?: string;
  readonly flavorId?: string;
  readonly state: string;
  /** When it entered its state (ISO 8601). */
  readonly since: string;
  readonly failure?: { readonly code: string; readonly message: string };
}

/** The API's view of a record. */
export function apiAmphora(r: AmphoraRecord): ApiAmphora {
  return {
    id: r.id,
    ...(r.computeId !== undefined ? { serverId: r.computeId } : {}),
    pool: r.pool,
    zone: r.zone,
    ...(r.computeZone !== undefined ? { computeZone: r.computeZone } : {}),
    ...(r.launch?.imageId !== undefined ? { imageId: r.launch.imageId } : {}),
    ...(r.launch?.flavorId !== undefined ? { flavorId: r.launch.flavorId } : {}),
    state: r.state,
    since: new Date(r.stateSince).toISOString(),
    ...(r.failure ? { failure: { code: r.failure.code, message: r.failure.message } } : {}),
  };
}

/** The operations, by OpenAPI operationId. */
export type OperationId =
  | 'claim'
  | 'releaseAmphora'
  | 'reportFailure'
  | 'preserveAmphora'
  | 'getAmphora'
  | 'getPools';

/** One route: method, path template (OpenAPI style) and operation. */
export interface Route {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly operationId: OperationId;
}

/** Every route the API serves; docs/api/openapi.yaml lists the same (a test holds them equal). */
export const ROUTES: readonly Route[] = [
  { method: 'POST', path: '/claims', operationId: 'claim' },
  { method: 'POST', path: '/amphorae/{id}/release', operationId: 'releaseAmphora' },
  { method: 'POST', path: '/amphorae/{id}/failure', operationId: 'reportFailure' },
  { method: 'POST', path: '/amphorae/{id}/preserve', operationId: 'preserveAmphora' },
  { method: 'GET', path: '/amphorae/{id}', operationId: 'getAmphora' },
  { method: 'GET', path: '/pools', operationId: 'getPools' },
];

/** The path parameters of `path` under a template, or `undefined` when it does not match. */
function matchPath(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    const param = /^\{(\w+)\}$/.exec(w);
    if (param) {
      if (g === '') return undefined;
      try {
        params[param[1]!] = decodeURIComponent(g);
      } catch {
        params[param[1]!] = g;
      }
    } else if (w !== g) {
      return undefined;
    }
  }
  return params;
}

/** Handles one request. Never throws. */
export async function handleApiRequest(deps: ApiDeps, request: ApiRequest): Promise<ApiResponse> {
  try {
    return await route(deps, request);
  } catch (error) {
    deps.logger.error('API request failed', {
      method: request.method,
      path: request.path,
      error: String(error),
      ...(error instanceof Error && error.stack ? { stack: error.stack } : {}),
    });
    deps.metrics?.count(METRICS.ApiInternalError.name);
    return errorResponse(
      'INTERNAL',
      'internal error (logged); the request may be retried with the same Idempotency-Key',
    );
  }
}

async function route(deps: ApiDeps, request: ApiRequest): Promise<ApiResponse> {
  const matches = ROUTES.map((r) => ({ route: r, params: matchPath(r.path, request.path) })).filter(
    (m) => m.params !== undefined,
  );
  if (matches.length === 0) {
    return errorResponse(
      'ROUTE_NOT_FOUND',
      `no route ${request.path}: the API serves ${[...new Set(ROUTES.map((r) => r.path))].join(', ')}`,
    );
  }
  const method = request.method.toUpperCase();
  const match = matches.find((m) => m.route.method === method);
  if (!match) {
    const allowed = matches.map((m) => m.route.method).join(', ');
    return errorResponse(
      'METHOD_NOT_ALLOWED',
      `${request.path} does not take ${method}: allowed ${allowed}`,
      { headers: { allow: allowed } },
    );
  }
  const params = match.params!;
  const issues: FieldIssue[] = [];
  let id = '';
  if ('id' in params) {
    const parsed = parseWith(AmphoraId, 'path.id', params.id);
    if (parsed.ok) id = parsed.value;
    else issues.push(...parsed.issues);
  }
  if (match.route.method === 'GET') {
    if (issues.length > 0) return invalid(issues);
    return match.route.operationId === 'getPools'
      ? jsonResponse(200, await poolStatus(deps.store, deps.config))
      : getAmphora(deps, id);
  }

  const key = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (key === undefined) {
    issues.push({
      field: `header.${IDEMPOTENCY_KEY_HEADER}`,
      rule: 'is required on every POST (a new UUID per logical request, reused by its retries)',
    });
  } else if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    issues.push({
      field: `header.${IDEMPOTENCY_KEY_HEADER}`,
      rule: 'must be 1 to 128 visible ASCII characters',
      value: key,
    });
  }
  const body = parseBody(match.route.operationId, request.body);
  if (!body.ok) issues.push(...body.issues);
  if (issues.length > 0 || !body.ok || key === undefined) return invalid(issues);

  const hash = createHash('sha256')
    .update(`${method}\n${match.route.path}\n${id}\n${JSON.stringify(body.value)}`)
    .digest('base64url');
  return idempotent(deps, request.caller, key, hash, () =>
    runPost(deps, match.route.operationId, id, body.value),
  );
}

function invalid(issues: readonly FieldIssue[]): ApiResponse {
  return errorResponse('INVALID_REQUEST', describeIssues(issues), { issues });
}

type Parsed = { ok: true; value: Record<string, unknown> } | { ok: false; issues: FieldIssue[] };

/** The JSON body of a POST, validated by its operation's schema; an empty body reads as `{}`. */
function parseBody(operation: OperationId, raw: string | undefined): Parsed {
  let value: unknown = {};
  if (raw !== undefined && raw.trim() !== '') {
    try {
      value = JSON.parse(raw);
    } catch (error) {
      return {
        ok: false,
        issues: [
          {
            field: 'body',
            rule: `must be JSON (${error instanceof Error ? error.message : String(error)})`,
            value: raw.length > 80 ? `${raw.slice(0, 80)}…` : raw,
          },
        ],
      };
    }
  }
  const schema =
    operation === 'claim' ? ClaimBody : operation === 'reportFailure' ? FailureBody : EmptyBody;
  const parsed = parseWith<Record<string, unknown>>(schema, 'body', value);
  return parsed.ok ? { ok: true, value: parsed.value } : parsed;
}

async function getAmphora(deps: ApiDeps, id: string): Promise<ApiResponse> {
  const record = await deps.store.get(id);
  return record ? jsonResponse(200, apiAmphora(record)) : notFound(id);
}

function notFound(id: string): ApiResponse {
  return errorResponse('NOT_FOUND', `amphora ${id} does not exist (path.id must be a whole id)`);
}

/** Runs a POST's operation; user errors of the use cases become 4xx here. */
async function runPost(
  deps: ApiDeps,
  operation: OperationId,
  id: string,
  body: Record<string, unknown>,
): Promise<ApiResponse> {
  if (operation === 'claim') return claim(deps, body as ClaimBody);
  // A machine API takes whole ids only: the use cases would also resolve a unique prefix, so
  // the id is looked up exactly first.
  if (!(await deps.store.get(id))) return notFound(id);
  const verb = {
    releaseAmphora: 'released',
    reportFailure: 'flagged failed',
    preserveAmphora: 'preserved',
  }[operation as 'releaseAmphora' | 'reportFailure' | 'preserveAmphora'];
  try {
    const record =
      operation === 'releaseAmphora'
        ? await deactivate(deps, id)
        : operation === 'reportFailure'
          ? await flagFailed(deps, id, (body as FailureBody).reason)
          : await requestPreservation(deps, id);
    await wake(deps, operation);
    return jsonResponse(200, apiAmphora(record));
  } catch (error) {
    if (error instanceof AmphoraNotFoundError) return notFound(id);
    if (error instanceof IllegalTransitionError) {
      return errorResponse(
        'ILLEGAL_TRANSITION',
        `amphora ${id} is ${error.from}: it cannot be ${verb} (${error.from} -> ${error.to} is not a legal move)`,
      );
    }
    if (error instanceof VersionConflictError) {
      return errorResponse(
        'CONFLICT',
        `amphora ${id} changed while it was being ${verb}; retry with a new Idempotency-Key`,
      );
    }
    throw error;
  }
}

async function claim(deps: ApiDeps, body: ClaimBody): Promise<ApiResponse> {
  const names = deps.config.pools.map((p) => p.name);
  let pool = body.pool;
  if (pool === undefined) {
    if (names.length !== 1) {
      return invalid([
        {
          field: 'body.pool',
          rule: `is required: this deployment has ${names.length} pools (${names.join(', ')})`,
        },
      ]);
    }
    pool = names[0]!;
  }
  const spec = poolOf(deps.config, pool);
  if (!spec) {
    return invalid([
      { field: 'body.pool', rule: `must be a configured pool (${names.join(', ')})`, value: pool },
    ]);
  }
  const zones = spec.zones.map((z) => z.name);
  if (body.zone !== undefined && !zones.includes(body.zone)) {
    return invalid([
      {
        field: 'body.zone',
        rule: `must be a zone of pool ${pool} (${zones.join(', ')})`,
        value: body.zone,
      },
    ]);
  }
  const record = await claimSpare(deps, {
    pool,
    ...(body.zone !== undefined ? { zone: body.zone } : {}),
  });
  if (!record) {
    deps.metrics?.count(METRICS.ApiNoSpare.name, 1, { Pool: pool });
    return errorResponse(
      'NO_SPARE',
      `no READY spare in pool ${pool}${body.zone !== undefined ? ` zone ${body.zone}` : ''}; the planner is refilling, retry later with a new Idempotency-Key`,
    );
  }
  deps.metrics?.count(METRICS.ApiClaim.name, 1, { Pool: pool });
  await wake(deps, 'claim');
  return jsonResponse(200, apiAmphora(record));
}

/** Wakes the planner; a failure only warns: the schedule still refills, just later. */
async function wake(deps: ApiDeps, after: OperationId): Promise<void> {
  try {
    await deps.wake.wake();
  } catch (error) {
    deps.logger.warn('planner wake failed; the scheduled cycle will refill instead', {
      after,
      error: String(error),
    });
  }
}

/**
 * Runs `run` at most once per idempotency key: a retry with the same key and request gets the
 * stored response; the same key with another request is refused (422); a retry while the first
 * still runs gets 409. Only 2xx responses are stored: a 4xx (such as NO_SPARE) or a failure
 * frees the key, so that a retry tries again.
 */
async function idempotent(
  deps: ApiDeps,
  caller: string | undefined,
  key: string,
  requestHash: string,
  run: () => Promise<ApiResponse>,
): Promise<ApiResponse> {
  const options = { ...IDEMPOTENCY_DEFAULTS, ...deps.idempotencyOptions };
  const scoped = caller !== undefined ? `${caller} ${key}` : key;
  const token = deps.newId();
  const begun = await deps.idempotency.begin({
    key: scoped,
    requestHash,
    token,
    now: deps.clock.now(),
    staleAfterMs: options.staleAfterMs,
    ttlMs: options.ttlMs,
  });
  if (!begun.started) {
    const existing = begun.existing;
    if (existing.requestHash !== requestHash) {
      return errorResponse(
        'IDEMPOTENCY_KEY_REUSED',
        `Idempotency-Key ${key} was used for another request (method, path or body differ): use a new key for a new request`,
      );
    }
    if (existing.status === 'COMPLETED' && existing.response) {
      return {
        status: existing.response.status,
        headers: { 'content-type': 'application/json', [REPLAYED_HEADER]: 'true' },
        body: existing.response.body,
      };
    }
    return errorResponse(
      'REQUEST_IN_PROGRESS',
      `a request with Idempotency-Key ${key} is still running: retry it in a second`,
      { headers: { 'retry-after': '1' } },
    );
  }
  let response: ApiResponse;
  try {
    response = await run();
  } catch (error) {
    await abandon(deps, scoped, token);
    throw error;
  }
  if (response.status >= 200 && response.status < 300) {
    try {
      const stored = await deps.idempotency.complete(
        scoped,
        token,
        { status: response.status, body: response.body },
        deps.clock.now(),
        options.ttlMs,
      );
      if (!stored) {
        deps.logger.warn('idempotency record was taken over before it completed', { key });
      }
    } catch (error) {
      // The change is made: answer it. A retry sees IN_PROGRESS until the record goes stale.
      deps.logger.error('could not store an idempotent response', { key, error: String(error) });
    }
  } else {
    await abandon(deps, scoped, token);
  }
  return response;
}

async function abandon(deps: ApiDeps, key: string, token: string): Promise<void> {
  try {
    await deps.idempotency.abandon(key, token);
  } catch (error) {
    deps.logger.warn('could not free an idempotency key; it frees itself when stale', {
      error: String(error),
    });
  }
}
