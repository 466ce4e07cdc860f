/**
 * Keystone v3: issues project-scoped tokens from password or application credentials, caches
 * them per auth identity until shortly before they expire (a warm Lambda reuses them), and
 * picks service endpoints from the token's catalog by type, interface and region.
 */
import { createHash } from 'node:crypto';
import { AmphoraDriverError } from '../../domain/errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { OpenStackAuth } from './credentials.ts';
import { malformedResponseError, transportError } from './errors.ts';
import type { JsonClient } from './http.ts';

/** One endpoint of a catalog entry. */
export interface CatalogEndpoint {
  readonly url: string;
  readonly interface: string;
  readonly region?: string;
}

/** One service of the catalog. */
export interface CatalogService {
  readonly type: string;
  readonly name?: string;
  readonly endpoints: readonly CatalogEndpoint[];
}

/** A token with what came with it. */
export interface Token {
  readonly value: string;
  /** Local epoch ms after which the token is renewed before use. */
  readonly refreshAt: number;
  readonly catalog: readonly CatalogService[];
  readonly projectId?: string;
}

/** Renew this long before expiry, at most; a quarter of the lifetime for short-lived tokens. */
const REFRESH_MARGIN_MS = 5 * 60_000;

/** The Keystone v3 base URL of an auth URL given with or without `/v3`. */
export function identityUrl(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

function domain(name: string | undefined, id: string | undefined): object | undefined {
  if (id !== undefined) return { id };
  if (name !== undefined) return { name };
  return undefined;
}

function userRef(a: {
  username?: string;
  userId?: string;
  userDomainName?: string;
  userDomainId?: string;
}): Record<string, unknown> {
  if (a.userId !== undefined) return { id: a.userId };
  const d = domain(a.userDomainName, a.userDomainId);
  return { name: a.username, ...(d ? { domain: d } : {}) };
}

/** The body of `POST /v3/auth/tokens` for a credential. */
export function authRequestBody(auth: OpenStackAuth): unknown {
  if (auth.type === 'application_credential') {
    const credential =
      auth.applicationCredentialId !== undefined
        ? { id: auth.applicationCredentialId, secret: auth.applicationCredentialSecret }
        : {
            name: auth.applicationCredentialName,
            secret: auth.applicationCredentialSecret,
            user: userRef(auth),
          };
    // An application credential carries its own project scope; adding one is an error.
    return {
      auth: {
        identity: { methods: ['application_credential'], application_credential: credential },
      },
    };
  }
  const projectDomain = domain(auth.projectDomainName, auth.projectDomainId);
  const project =
    auth.projectId !== undefined
      ? { id: auth.projectId }
      : { name: auth.projectName, ...(projectDomain ? { domain: projectDomain } : {}) };
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { ...userRef(auth), password: auth.password } },
      },
      scope: { project },
    },
  };
}

/** A cache key for an auth identity; hashed so that no secret sits in a readable key. */
export function authCacheKey(auth: OpenStackAuth): string {
  const entries = Object.entries(auth).sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}

function parseCatalog(value: unknown): CatalogService[] {
  if (!Array.isArray(value)) return [];
  const services: CatalogService[] = [];
  for (const entry of value) {
    if (!entry || typeof entry !== 'object') continue;
    const e = entry as Record<string, unknown>;
    if (typeof e.type !== 'string' || !Array.isArray(e.endpoints)) continue;
    const endpoints: CatalogEndpoint[] = [];
    for (const ep of e.endpoints) {
      if (!ep || typeof ep !== 'object') continue;
      const p = ep as Record<string, unknown>;
      if (typeof p.url !== 'string' || typeof p.interface !== 'string') continue;
      const region =
        typeof p.region_id === 'string'
          ? p.region_id
          : typeof p.region === 'string'
            ? p.region
            : undefined;
      endpoints.push({ url: p.url, interface: p.interface, ...(region ? { region } : {}) });
    }
    services.push({
      type: e.type,
      ...(typeof e.name === 'string' ? { name: e.name } : {}),
      endpoints,
    });
  }
  return services;
}

/**
 * The URL of a service from the catalog, by type, interface and region.
 * @throws AmphoraDriverError when none matches, or several regions match and none was chosen.
 */
export function selectEndpoint(
  catalog: readonly CatalogService[],
  type: string,
  iface: string,
  region?: string,
): string {
  const candidates = catalog
    .filter((s) => s.type === type)
    .flatMap((s) => s.endpoints)
    .filter((e) => e.interface === iface)
    .filter((e) => region === undefined || e.region === region);
  const regions = [...new Set(candidates.map((e) => e.region ?? '(none)'))];
  if (candidates.length === 0) {
    const offered = catalog
      .filter((s) => s.type === type)
      .flatMap((s) => s.endpoints.map((e) => `${e.interface}@${e.region ?? '(none)'}`));
    throw new AmphoraDriverError(
      `no ${type} endpoint with interface ${iface}${region ? ` in region ${region}` : ''} in the service catalog (offered: ${
        offered.length > 0 ? offered.join(', ') : 'none'
      })`,
    );
  }
  if (regions.length > 1) {
    throw new AmphoraDriverError(
      `the service catalog offers ${type} in several regions (${regions.join(', ')}): set openstack.region_name`,
    );
  }
  return candidates[0]!.url.replace(/\/+$/, '');
}

function abortedAuth(signal: AbortSignal): AmphoraDriverError {
  return transportError(
    { service: 'identity', method: 'POST', path: '/v3/auth/tokens' },
    { kind: 'aborted', reason: signal.reason },
  );
}

const cache = new Map<string, Token>();
const inflight = new Map<string, Promise<Token>>();

/** Forgets every cached token (tests; a credential rotation in a warm process). */
export function clearTokenCache(): void {
  cache.clear();
  inflight.clear();
}

/** Issues and caches tokens for one credential. */
export class TokenProvider {
  private readonly auth: OpenStackAuth;
  private readonly client: JsonClient;
  private readonly clock: Clock;
  private readonly key: string;

  constructor(auth: OpenStackAuth, client: JsonClient, clock: Clock) {
    this.auth = auth;
    this.client = client;
    this.clock = clock;
    this.key = authCacheKey(auth);
  }

  /**
   * A valid token: the cached one, or a new one. Concurrent callers share one request, which
   * is therefore not tied to any one caller's signal; each caller still stops waiting on its own.
   */
  async token(signal?: AbortSignal): Promise<Token> {
    const cached = cache.get(this.key);
    if (cached && this.clock.now() < cached.refreshAt) return cached;
    if (signal?.aborted) throw abortedAuth(signal);
    let pending = inflight.get(this.key);
    if (!pending) {
      pending = this.issue().finally(() => inflight.delete(this.key));
      inflight.set(this.key, pending);
    }
    if (!signal) return pending;
    return new Promise<Token>((resolve, reject) => {
      const onAbort = () => reject(abortedAuth(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Drops the cached token if it is still `value` (a 401 said the cloud no longer takes it). */
  invalidate(value: string): void {
    if (cache.get(this.key)?.value === value) cache.delete(this.key);
  }

  /** The token currently cached, if any: to redact it from messages. */
  cachedValue(): string | undefined {
    return cache.get(this.key)?.value;
  }

  private async issue(): Promise<Token> {
    const url = `${identityUrl(this.auth.authUrl)}/auth/tokens`;
    const call = { service: 'identity', method: 'POST', path: '/v3/auth/tokens' };
    const started = this.clock.now();
    const response = await this.client.send({
      ...call,
      url,
      body: authRequestBody(this.auth),
      // Issuing a token twice is harmless, so a transient failure may be retried.
      idempotent: true,
    });
    const value = response.headers['x-subject-token'];
    const body = response.body as { token?: Record<string, unknown> } | undefined;
    const t = body?.token;
    if (!value || !t || typeof t.expires_at !== 'string') {
      throw malformedResponseError(
        call,
        response.status,
        'no X-Subject-Token header or token body',
      );
    }
    const expires = Date.parse(t.expires_at);
    const issued = typeof t.issued_at === 'string' ? Date.parse(t.issued_at) : Number.NaN;
    // Lifetime by the server's own clock, so that skew with ours does not matter.
    const lifetime =
      Number.isFinite(issued) && Number.isFinite(expires) ? expires - issued : 3_600_000;
    const margin = Math.min(REFRESH_MARGIN_MS, lifetime / 4);
    const project = t.project as { id?: unknown } | undefined;
    const token: Token = {
      value,
      refreshAt: started + lifetime - margin,
      catalog: parseCatalog(t.catalog),
      ...(typeof project?.id === 'string' ? { projectId: project.id } : {}),
    };
    cache.set(this.key, token);
    return token;
  }
}
