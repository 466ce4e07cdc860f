/**
 * The one place where an OpenStack HTTP outcome becomes a driver error of the seed's exception
 * model. Messages carry the service, method, path, status, the cloud's own message and request
 * id, and never a request header or body: that is where tokens and secrets travel.
 */
import {
  AmphoraDriverError,
  DeleteFailedError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
} from '../../domain/errors.ts';

/** What failed: enough to name the call in a message, nothing secret. */
export interface CallDescription {
  /** `identity`, `compute`, `network` or `image`. */
  readonly service: string;
  readonly method: string;
  /** Path (and query) relative to the service endpoint. */
  readonly path: string;
  /** A delete: a refusal that is not NotFound/Unauthorized/Unavailable is DeleteFailed. */
  readonly isDelete?: boolean;
}

/** The driver error classes an HTTP status maps to, as one table. */
type ErrorClass = new (
  message: string,
  options?: ErrorOptions & { status?: number },
) => AmphoraDriverError;

const STATUS_TABLE: ReadonlyArray<{ statuses: readonly number[]; error: ErrorClass }> = [
  { statuses: [404], error: NotFoundError },
  { statuses: [401, 403], error: UnauthorizedError },
  // 429: the cloud's rate limiter says "later", which is what Unavailable means.
  { statuses: [429, 502, 503, 504], error: UnavailableError },
];

/**
 * Nova refuses a boot over quota with 403 (413 before microversion 2.0 clouds): the credentials
 * are fine, so it is not Unauthorized (no DLQ storm of a healthy account) but an ordinary
 * failure; the executor's bounded retries then the planner's creation back-off take over.
 */
const QUOTA = /quota exceeded|exceeds? (the )?quota|over ?limit/i;

/** The error class for a failed HTTP status (before the delete rule is applied). */
export function errorClassForStatus(
  status: number,
  isDelete = false,
  cloudMessage = '',
): ErrorClass {
  if ((status === 403 || status === 413) && QUOTA.test(cloudMessage)) {
    return isDelete ? DeleteFailedError : AmphoraDriverError;
  }
  for (const row of STATUS_TABLE) {
    if (row.statuses.includes(status)) return row.error;
  }
  return isDelete ? DeleteFailedError : AmphoraDriverError;
}

/** Whether a status is transient, i.e. an idempotent request may be sent again. */
export function isRetryableStatus(status: number): boolean {
  return errorClassForStatus(status) === UnavailableError;
}

const MAX_MESSAGE = 300;

function clip(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_MESSAGE ? `${flat.slice(0, MAX_MESSAGE - 3)}...` : flat;
}

function stripHtml(text: string): string {
  return text
    .replace(/<(script|style|head)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<br\s*\/?>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function messageOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v.message === 'string') return v.message;
    if (typeof v.detail === 'string' && v.detail !== '') return v.detail;
  }
  return undefined;
}

/**
 * The cloud's own error message from a response body: Nova (`{"itemNotFound":{"message"}}`),
 * Neutron (`{"NeutronError":{"message"}}`), Keystone (`{"error":{"message"}}`), Glance JSON
 * (`{"message", "code", "title"}`) and Glance's default HTML page. Undefined when there is none.
 */
export function parseErrorMessage(body: string, contentType = ''): string | undefined {
  const text = body.trim();
  if (text === '') return undefined;
  if (text.startsWith('{') || contentType.includes('json')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const top = parsed as Record<string, unknown>;
        const direct = messageOf(top);
        if (direct !== undefined) return clip(stripHtml(direct)) || undefined;
        // Nova and Neutron wrap the message in one key named after the fault.
        for (const value of Object.values(top)) {
          const inner = messageOf(value);
          if (inner !== undefined) return clip(stripHtml(inner)) || undefined;
        }
      }
      return undefined;
    } catch {
      // Not JSON after all: fall through to the HTML/plain-text reading.
    }
  }
  if (text.startsWith('<') || contentType.includes('html')) {
    // Glance's page repeats the title in <h1>; the body text after it is the message.
    const h1 = /<h1>([\s\S]*?)<\/h1>([\s\S]*?)(<\/body>|$)/i.exec(text);
    const chosen = h1 ? `${stripHtml(h1[1] ?? '')}: ${stripHtml(h1[2] ?? '')}` : stripHtml(text);
    return clip(chosen).replace(/:\s*$/, '') || undefined;
  }
  return clip(text) || undefined;
}

/** Replaces each known secret in `text` by `***`; the last defence against an echoing cloud. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    // Short values would redact ordinary words; real secrets and tokens are long.
    if (secret.length >= 6) out = out.split(secret).join('***');
  }
  return out;
}

/** Builds the driver error for an HTTP response that was not a success. */
export function httpError(
  call: CallDescription,
  response: { status: number; body: string; contentType?: string; requestId?: string },
  secrets: Iterable<string> = [],
): AmphoraDriverError {
  const cloudMessage = parseErrorMessage(response.body, response.contentType);
  const ErrorClass = errorClassForStatus(response.status, call.isDelete, cloudMessage);
  const requestId = response.requestId ? ` [request ${response.requestId}]` : '';
  const text = `${call.service} ${call.method} ${call.path} failed with HTTP ${response.status}${
    cloudMessage ? `: ${cloudMessage}` : ''
  }${requestId}`;
  return new ErrorClass(redact(text, secrets), { status: response.status });
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** The `code` of a network error, looking through `cause` chains (fetch wraps them). */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Whether a network failure is transient (refused, reset, unreachable, DNS, socket timeouts). */
export function isTransientNetworkError(error: unknown): boolean {
  const code = networkErrorCode(error);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/** Whether a transport failure means the request never reached the server (safe to resend). */
export function neverSent(error: unknown): boolean {
  return networkErrorCode(error) === 'ECONNREFUSED';
}

/** How a request ended without a response. */
export type TransportFailure =
  | { readonly kind: 'aborted'; readonly reason?: unknown }
  | { readonly kind: 'timeout'; readonly timeoutMs: number }
  | { readonly kind: 'network'; readonly error: unknown };

/** A cause that keeps the code and message of the original error but nothing else from it. */
function safeCause(error: unknown, secrets: Iterable<string>): Error {
  const code = networkErrorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const inner =
    error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  const cause = new Error(redact(`${code ? `${code} ` : ''}${message}${inner}`, secrets));
  if (code) (cause as Error & { code?: string }).code = code;
  return cause;
}

/** Builds the driver error for a request that got no response. */
export function transportError(
  call: CallDescription,
  failure: TransportFailure,
  secrets: Iterable<string> = [],
): AmphoraDriverError {
  const what = `${call.service} ${call.method} ${call.path}`;
  switch (failure.kind) {
    case 'aborted':
      return new UnavailableError(`${what} was aborted by the caller`, {
        cause: safeCause(failure.reason ?? 'aborted', secrets),
      });
    case 'timeout':
      return new UnavailableError(`${what} timed out after ${failure.timeoutMs} ms`);
    case 'network': {
      const cause = safeCause(failure.error, secrets);
      if (isTransientNetworkError(failure.error)) {
        return new UnavailableError(redact(`${what} failed: ${cause.message}`, secrets), { cause });
      }
      // TLS and protocol failures are not transient: a wrong CA will not fix itself.
      return new AmphoraDriverError(redact(`${what} failed: ${cause.message}`, secrets), {
        cause,
      });
    }
  }
}

/** Builds the driver error for a success response whose body is not the JSON it should be. */
export function malformedResponseError(
  call: CallDescription,
  status: number,
  detail: string,
): AmphoraDriverError {
  return new AmphoraDriverError(
    `${call.service} ${call.method} ${call.path} returned HTTP ${status} with a malformed body: ${detail}`,
    { status },
  );
}
