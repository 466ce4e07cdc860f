/**
 * The one JSON-over-HTTP helper of the OpenStack driver: a per-attempt timeout combined with
 * the caller's AbortSignal, retries with capped exponential backoff and full jitter for
 * idempotent requests on transient failures, and every failure turned into a driver error by
 * `errors.ts`. A request that is not idempotent (POST) is resent only when the connection was
 * refused, because then the cloud provably never saw it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { cappedExponential } from '../../domain/backoff.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/telemetry.ts';
import {
  type CallDescription,
  httpError,
  isRetryableStatus,
  isTransientNetworkError,
  malformedResponseError,
  networkErrorCode,
  neverSent,
  type TransportFailure,
  transportError,
} from './errors.ts';

/** One HTTP exchange as a transport sees it. */
export interface TransportRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
}

/** A complete HTTP response; header names are lower case. */
export interface TransportResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Sends one request and reads the whole response; rejects on network failure or abort. */
export type Transport = (request: TransportRequest) => Promise<TransportResponse>;

/** A transport over `node:http`/`node:https`, with keep-alive and an optional CA bundle (PEM). */
export function nodeTransport(options: { ca?: string | Buffer } = {}): Transport {
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({
    keepAlive: true,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
  });
  return (request) =>
    new Promise<TransportResponse>((resolve, reject) => {
      const url = new URL(request.url);
      const secure = url.protocol === 'https:';
      const send = secure ? https.request : http.request;
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        reject(error);
      };
      const req = send(
        url,
        {
          method: request.method,
          headers: {
            ...request.headers,
            ...(request.body !== undefined
              ? { 'content-length': String(Buffer.byteLength(request.body)) }
              : {}),
          },
          // A POST may not be resent, so it never rides a pooled socket that the server may
          // be closing at this very moment; a fresh connection rules that race out.
          agent: request.method === 'POST' ? false : secure ? httpsAgent : httpAgent,
          ...(secure && options.ca !== undefined ? { ca: options.ca } : {}),
          signal: request.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', fail);
          res.on('close', () => {
            if (!res.complete)
              fail(Object.assign(new Error('response ended early'), { code: 'ECONNRESET' }));
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined)
                headers[name] = Array.isArray(value) ? value.join(', ') : value;
            }
            resolve({
              status: res.statusCode ?? 0,
              headers,
              body: Buffer.concat(chunks).toString('utf8'),
            });
          });
        },
      );
      req.on('error', fail);
      if (request.body !== undefined) req.write(request.body);
      req.end();
    });
}

/** A transport over a WHATWG `fetch` (the global one by default). */
export function fetchTransport(fetchImpl: typeof fetch = fetch): Transport {
  return async (request) => {
    const res = await fetchImpl(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      signal: request.signal,
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    return { status: res.status, headers, body: await res.text() };
  };
}

/** How often and how patiently transient failures are retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  /** Cap of one backoff delay, also of a server's `Retry-After`. */
  readonly maxDelayMs: number;
}

/** Four attempts within about 7 s at worst: short enough for one executor invocation. */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 250, maxDelayMs: 4_000 };

/** A request to an OpenStack service. */
export interface JsonRequest extends CallDescription {
  /** Absolute URL. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as JSON when present. */
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /**
   * Whether resending after a transient failure is safe. Defaults to true for GET, HEAD and
   * DELETE and false otherwise; set true only for a POST known to be harmless twice.
   */
  readonly idempotent?: boolean;
}

/** A successful (2xx) response with its JSON body parsed. */
export interface JsonResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON, or undefined for an empty body. */
  readonly body: unknown;
}

/** What the JSON client needs. */
export interface JsonClientOptions {
  readonly transport: Transport;
  readonly clock: Clock;
  /** Budget of one attempt, in ms. */
  readonly timeoutMs: number;
  readonly retry?: RetryPolicy;
  /** Source of jitter in [0, 1). */
  readonly random?: () => number;
  readonly logger?: Logger;
  /** Values that must never appear in an error message (tokens, passwords, secrets). */
  readonly secrets?: () => Iterable<string>;
  /** Sent as `User-Agent`. */
  readonly userAgent?: string;
}

type Outcome =
  | { readonly kind: 'response'; readonly response: TransportResponse }
  | { readonly kind: 'failure'; readonly failure: TransportFailure };

/** Sends JSON requests with timeouts, retries and error mapping. */
export class JsonClient {
  private readonly options: Required<JsonClientOptions>;

  constructor(options: JsonClientOptions) {
    this.options = {
      retry: DEFAULT_RETRY,
      random: Math.random,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      secrets: () => [],
      userAgent: 'amphora-housekeeper',
      ...options,
    };
  }

  /**
   * Sends the request; resolves with a 2xx response.
   * @throws AmphoraDriverError (or a subclass) for every other outcome, per `errors.ts`.
   */
  async send(request: JsonRequest): Promise<JsonResponse> {
    const { retry, logger, secrets } = this.options;
    const idempotent =
      request.idempotent ?? ['GET', 'HEAD', 'DELETE'].includes(request.method.toUpperCase());
    for (let attempt = 1; ; attempt++) {
      if (request.signal?.aborted) {
        throw transportError(
          request,
          { kind: 'aborted', reason: request.signal.reason },
          secrets(),
        );
      }
      const outcome = await this.attempt(request);
      const last = attempt >= retry.maxAttempts;
      if (outcome.kind === 'response') {
        const { response } = outcome;
        if (response.status >= 200 && response.status < 300) return parse(request, response);
        if (!idempotent || last || !isRetryableStatus(response.status)) {
          throw httpError(
            request,
            {
              status: response.status,
              body: response.body,
              contentType: response.headers['content-type'] ?? '',
              ...requestIdOf(response.headers),
            },
            secrets(),
          );
        }
        const delayMs = this.delay(attempt, response.headers['retry-after']);
        logger.warn('openstack request retried', {
          service: request.service,
          method: request.method,
          path: request.path,
          status: response.status,
          attempt,
          delayMs,
        });
        await this.sleep(request, delayMs);
        continue;
      }
      const { failure } = outcome;
      // A timeout has already spent this call's budget; an abort is the caller's decision.
      const retryable =
        failure.kind === 'network' &&
        isTransientNetworkError(failure.error) &&
        (idempotent || neverSent(failure.error));
      if (!retryable || last) throw transportError(request, failure, secrets());
      const delayMs = this.delay(attempt, undefined);
      logger.warn('openstack request retried', {
        service: request.service,
        method: request.method,
        path: request.path,
        error: networkErrorCode(failure.error) ?? 'network error',
        attempt,
        delayMs,
      });
      await this.sleep(request, delayMs);
    }
  }

  private async attempt(request: JsonRequest): Promise<Outcome> {
    const { transport, timeoutMs, userAgent } = this.options;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': userAgent,
      ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...request.headers,
    };
    try {
      const response = await transport({
        method: request.method,
        url: request.url,
        headers,
        ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
        signal,
      });
      return { kind: 'response', response };
    } catch (error) {
      if (request.signal?.aborted) {
        return { kind: 'failure', failure: { kind: 'aborted', reason: request.signal.reason } };
      }
      if (timeout.aborted) return { kind: 'failure', failure: { kind: 'timeout', timeoutMs } };
      return { kind: 'failure', failure: { kind: 'network', error } };
    }
  }

  /** Full jitter over a capped exponential; a server's Retry-After (seconds) is a floor. */
  private delay(attempt: number, retryAfter: string | undefined): number {
    const { baseDelayMs, maxDelayMs } = this.options.retry;
    const ceiling = cappedExponential(baseDelayMs, attempt - 1, maxDelayMs);
    const jittered = Math.floor(this.options.random() * ceiling);
    const hinted = retryAfter !== undefined ? Number(retryAfter) * 1000 : Number.NaN;
    return Number.isFinite(hinted) && hinted > 0
      ? Math.min(maxDelayMs, Math.max(jittered, hinted))
      : jittered;
  }

  private async sleep(request: JsonRequest, ms: number): Promise<void> {
    try {
      await this.options.clock.sleep(ms, request.signal);
    } catch {
      throw transportError(
        request,
        { kind: 'aborted', reason: request.signal?.reason },
        this.options.secrets(),
      );
    }
  }
}

function requestIdOf(headers: Readonly<Record<string, string>>): { requestId?: string } {
  const id = headers['x-openstack-request-id'] ?? headers['x-compute-request-id'];
  return id ? { requestId: id } : {};
}

function parse(request: JsonRequest, response: TransportResponse): JsonResponse {
  const text = response.body.trim();
  if (text === '') return { status: response.status, headers: response.headers, body: undefined };
  try {
    return { status: response.status, headers: response.headers, body: JSON.parse(text) };
  } catch {
    // JSON.parse quotes the text it choked on; a body is not ours to echo, so only describe it.
    throw malformedResponseError(
      request,
      response.status,
      `not valid JSON (${text.length} characters, content-type ${response.headers['content-type'] ?? 'none'})`,
    );
  }
}
