/**
 * An authenticated OpenStack session: adds the token to each request, resolves the service
 * endpoint from the catalog, and on a 401 from any service re-authenticates once and resends
 * the request once (a 401 means the token was refused before the request was acted on).
 */
import { UnauthorizedError } from '../../domain/errors.ts';
import type { Logger } from '../../ports/telemetry.ts';
import type { JsonClient, JsonResponse } from './http.ts';
import { selectEndpoint, type TokenProvider } from './keystone.ts';

/** The services the driver talks to, by catalog type. */
export type ServiceType = 'compute' | 'network' | 'image';

/** A request relative to a service's versioned endpoint. */
export interface ServiceRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below the versioned endpoint, e.g. `/servers/ID`; may carry a query string. */
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
  readonly isDelete?: boolean;
}

/** Builds `?a=1&b=2` from the defined values, or an empty string. */
export function query(params: Readonly<Record<string, string | number | undefined>>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) search.append(key, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** Appends the API version a catalog URL may leave out (Neutron and Glance list unversioned roots). */
export function versionedEndpoint(service: ServiceType, url: string): string {
  const base = url.replace(/\/+$/, '');
  if (service === 'network') return /\/v2\.0$/.test(base) ? base : `${base}/v2.0`;
  if (service === 'image') return /\/v2(\.\d+)?$/.test(base) ? base : `${base}/v2`;
  return base;
}

/** What a session needs. */
export interface SessionOptions {
  readonly client: JsonClient;
  readonly tokens: TokenProvider;
  readonly interface: string;
  readonly region?: string | undefined;
  readonly logger: Logger;
  /** Tokens seen, so that they can be redacted even after they were replaced. */
  readonly seenTokens: Set<string>;
}

/** Sends authenticated requests to Nova, Neutron and Glance. */
export class OpenStackSession {
  private readonly options: SessionOptions;

  constructor(options: SessionOptions) {
    this.options = options;
  }

  /** Sends a request; one transparent re-authentication on 401. */
  async request(service: ServiceType, request: ServiceRequest): Promise<JsonResponse> {
    const { tokens, logger } = this.options;
    const first = await tokens.token(request.signal);
    try {
      return await this.send(service, request, first.value, first.catalog);
    } catch (error) {
      if (!(error instanceof UnauthorizedError) || error.status !== 401) throw error;
      logger.info('openstack token refused; re-authenticating once', {
        service,
        method: request.method,
        path: request.path,
      });
      tokens.invalidate(first.value);
      const second = await tokens.token(request.signal);
      return await this.send(service, request, second.value, second.catalog);
    }
  }

  private async send(
    service: ServiceType,
    request: ServiceRequest,
    token: string,
    catalog: Parameters<typeof selectEndpoint>[0],
  ): Promise<JsonResponse> {
    const seen = this.options.seenTokens;
    if (!seen.has(token)) {
      seen.add(token);
      // A long-lived process renews hourly: keep the last few, which is all an echo could carry.
      if (seen.size > 8) seen.delete(seen.values().next().value as string);
    }
    const base = versionedEndpoint(
      service,
      selectEndpoint(catalog, service, this.options.interface, this.options.region),
    );
    return this.options.client.send({
      service,
      method: request.method,
      path: request.path,
      url: `${base}${request.path}`,
      headers: { ...request.headers, 'x-auth-token': token },
      ...(request.body !== undefined ? { body: request.body } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
      ...(request.isDelete ? { isDelete: true } : {}),
    });
  }
}
