/**
 * The typed client of the claims API, for the CLI and for other services: SigV4-signed (for a
 * Lambda function URL with AWS_IAM auth; optional locally), a timeout per attempt, and bounded
 * retries with backoff on 5xx, network errors and timeouts only. Every POST carries one
 * Idempotency-Key per logical call, reused by its retries, so a claim retried after a timeout
 * returns the same amphora instead of claiming a second one.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import type { PoolStatus } from '../app/pool-status.ts';
import { HousekeeperError } from '../domain/errors.ts';
import type { ApiAmphora } from './handler.ts';
import type { ApiErrorCode, ErrorBody, FieldIssue } from './http.ts';

/** How the client signs its requests. */
export interface ApiSigning {
  readonly region: string;
  /** Credentials, or a provider of them (the SDK's default chain, a role's). */
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** The signing name: `lambda` for a function URL (the default), `execute-api` for API Gateway. */
  readonly service?: string;
}

/** Options of {@link HousekeeperApiClient}. */
export interface ApiClientOptions {
  /** Where the API is, e.g. `https://abc.lambda-url.eu-west-1.on.aws` or `http://127.0.0.1:8787`. */
  readonly baseUrl: string;
  /** Sign with SigV4; absent: unsigned (the local API accepts that). */
  readonly signing?: ApiSigning;
  /** Time allowed per attempt, in ms. @default 10000 */
  readonly timeoutMs?: number;
  /** Attempts after the first, on 5xx, network errors and timeouts. @default 3 */
  readonly retries?: number;
  /** The first retry's delay in ms, doubled per retry (with jitter), capped at 5 s. @default 200 */
  readonly backoffMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Makes idempotency keys. @default randomUUID */
  readonly newKey?: () => string;
  /** Aborts every attempt and wait of every call (e.g. Lambda's timeout signal). */
  readonly signal?: AbortSignal;
}

/** Base of the client's errors. */
export class ApiClientError extends HousekeeperError {}

/** The API answered with an error status: its status, code and message. */
export class ApiError extends ApiClientError {
  readonly status: number;
  /** The API's error code, when the body carried one. */
  readonly code: ApiErrorCode | undefined;
  /** The bad fields of a 400. */
  readonly issues: readonly FieldIssue[];
  constructor(
    status: number,
    code: ApiErrorCode | undefined,
    message: string,
    issues: readonly FieldIssue[] = [],
  ) {
    super(`API ${status}${code ? ` ${code}` : ''}: ${message}`);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

/** The API could not be reached, or did not answer in time, on every attempt. */
export class ApiUnreachableError extends ApiClientError {
  readonly attempts: number;
  constructor(message: string, attempts: number, options?: ErrorOptions) {
    super(message, options);
    this.attempts = attempts;
  }
}

const MAX_BACKOFF_MS = 5_000;

/** One request as the client sends it. */
interface Call {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
}

/** A client of the claims API. */
export class HousekeeperApiClient {
  private readonly base: URL;
  private readonly signer: SignatureV4 | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly newKey: () => string;
  private readonly signal: AbortSignal | undefined;

  constructor(options: ApiClientOptions) {
    this.base = new URL(options.baseUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new RangeError(`baseUrl must be http(s), got ${options.baseUrl}`);
    }
    this.signer = options.signing
      ? new SignatureV4({
          service: options.signing.service ?? 'lambda',
          region: options.signing.region,
          credentials: options.signing.credentials,
          sha256: Sha256,
        })
      : undefined;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 200;
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.newKey = options.newKey ?? randomUUID;
    this.signal = options.signal;
  }

  /** Claims a READY spare (of `pool`, in `zone`). @throws ApiError 409 NO_SPARE when none is. */
  claim(options: { readonly pool?: string; readonly zone?: string } = {}): Promise<ApiAmphora> {
    return this.send({ method: 'POST', path: '/claims', body: options });
  }

  /** Hands an amphora back for removal. */
  release(id: string): Promise<ApiAmphora> {
    return this.send({ method: 'POST', path: `/amphorae/${encodeURIComponent(id)}/release` });
  }

  /** Reports an amphora as failed. */
  fail(id: string, reason: string): Promise<ApiAmphora> {
    return this.send({
      method: 'POST',
      path: `/amphorae/${encodeURIComponent(id)}/failure`,
      body: { reason },
    });
  }

  /** Asks for an amphora to be preserved for diagnosis. */
  preserve(id: string): Promise<ApiAmphora> {
    return this.send({ method: 'POST', path: `/amphorae/${encodeURIComponent(id)}/preserve` });
  }

  /** One amphora. @throws ApiError 404 when there is none with this (whole) id. */
  get(id: string): Promise<ApiAmphora> {
    return this.send({ method: 'GET', path: `/amphorae/${encodeURIComponent(id)}` });
  }

  /** The pool status. */
  pools(): Promise<PoolStatus> {
    return this.send({ method: 'GET', path: '/pools' });
  }

  /** Sends one logical call, retrying as documented; one idempotency key for all its attempts. */
  private async send<T>(call: Call): Promise<T> {
    const key = call.method === 'POST' ? this.newKey() : undefined;
    const body = call.body === undefined ? undefined : JSON.stringify(call.body);
    let lastFailure: unknown;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await this.backoff(attempt);
      let response: Response;
      let text: string;
      try {
        ({ response, text } = await this.attempt(call, key, body));
      } catch (error) {
        if (this.signal?.aborted) throw error;
        lastFailure = error;
        continue;
      }
      // 409 REQUEST_IN_PROGRESS: the server still runs this very call (a timed-out attempt).
      if (response.ok) return JSON.parse(text) as T;
      const failure = apiErrorOf(response.status, text);
      if (response.status >= 500 || failure.code === 'REQUEST_IN_PROGRESS') {
        lastFailure = failure;
        continue;
      }
      throw failure;
    }
    if (lastFailure instanceof ApiError) throw lastFailure;
    throw new ApiUnreachableError(
      `${call.method} ${call.path} failed after ${this.retries + 1} attempt(s): ${String(lastFailure)}`,
      this.retries + 1,
      { cause: lastFailure },
    );
  }

  private async attempt(
    call: Call,
    key: string | undefined,
    body: string | undefined,
  ): Promise<{ response: Response; text: string }> {
    const url = new URL(joinPath(this.base.pathname, call.path), this.base);
    const headers: Record<string, string> = {
      host: url.host,
      accept: 'application/json',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(key !== undefined ? { 'idempotency-key': key } : {}),
    };
    const signed = this.signer
      ? (
          await this.signer.sign({
            method: call.method,
            protocol: url.protocol,
            hostname: url.hostname,
            ...(url.port ? { port: Number(url.port) } : {}),
            path: url.pathname,
            query: {},
            headers,
            ...(body !== undefined ? { body } : {}),
          })
        ).headers
      : headers;
    // fetch sets Host itself (from the URL, the same value that was signed).
    const { host: _host, ...sent } = signed;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = this.signal ? AbortSignal.any([timeout, this.signal]) : timeout;
    const response = await this.fetchFn(url, {
      method: call.method,
      headers: sent,
      ...(body !== undefined ? { body } : {}),
      signal,
    });
    // The body is read under the same signal: a server that stalls mid-body times out too.
    const text = await response.text();
    return { response, text };
  }

  private async backoff(attempt: number): Promise<void> {
    const base = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2 ** (attempt - 1));
    const ms = base / 2 + Math.random() * (base / 2);
    await delay(ms, undefined, this.signal ? { signal: this.signal } : undefined);
  }
}

function joinPath(basePath: string, path: string): string {
  return `${basePath.replace(/\/+$/, '')}${path}`;
}

function apiErrorOf(status: number, text: string): ApiError {
  try {
    const parsed = JSON.parse(text) as Partial<ErrorBody>;
    if (parsed?.error && typeof parsed.error.message === 'string') {
      return new ApiError(status, parsed.error.code, parsed.error.message, parsed.error.issues);
    }
  } catch {
    // Not our JSON (a proxy's page, a function URL's own 403): the text is the message.
  }
  return new ApiError(status, undefined, text.slice(0, 500) || `HTTP ${status}`);
}
