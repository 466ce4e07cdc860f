/**
 * The API's HTTP shapes, independent of what carries them (a Lambda function URL, `node:http`
 * locally): a request in, a response out, and the JSON error body every 4xx and 5xx carries.
 */

/** One HTTP request, as the handler sees it. */
export interface ApiRequest {
  readonly method: string;
  /** The path without its query string, e.g. `/amphorae/abc/release`. */
  readonly path: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw body, when there is one. */
  readonly body?: string;
  /**
   * Who calls (the IAM principal ARN behind a signed request), when the carrier knows it.
   * Idempotency keys are scoped to it, so that two callers' keys never collide.
   */
  readonly caller?: string;
}

/** One HTTP response. */
export interface ApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** The error codes the API answers with, each with its HTTP status. */
export const API_ERRORS = {
  INVALID_REQUEST: 400,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NO_SPARE: 409,
  ILLEGAL_TRANSITION: 409,
  CONFLICT: 409,
  REQUEST_IN_PROGRESS: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  INTERNAL: 500,
} as const;

/** An error code of the API. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** One invalid field of a request: where, what was wrong with it, and the value sent. */
export interface FieldIssue {
  /** `body.pool`, `path.id`, `header.idempotency-key`, or `body` for the whole body. */
  readonly field: string;
  /** The rule it broke, in words. */
  readonly rule: string;
  /** The value sent, when there was one (JSON-encoded in messages). */
  readonly value?: unknown;
}

/** The body of every error response. */
export interface ErrorBody {
  readonly error: {
    readonly code: ApiErrorCode;
    readonly message: string;
    readonly issues?: readonly FieldIssue[];
  };
}

/** The header a POST names its idempotency key in (lower case, as in {@link ApiRequest}). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** The response header set on a replayed response. */
export const REPLAYED_HEADER = 'idempotent-replayed';

/** A JSON response. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): ApiResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** An error response with its code's status. */
export function errorResponse(
  code: ApiErrorCode,
  message: string,
  options: {
    readonly issues?: readonly FieldIssue[];
    readonly headers?: Record<string, string>;
  } = {},
): ApiResponse {
  const body: ErrorBody = {
    error: { code, message, ...(options.issues ? { issues: options.issues } : {}) },
  };
  return jsonResponse(API_ERRORS[code], body, options.headers);
}
