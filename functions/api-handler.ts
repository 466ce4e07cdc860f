/**
 * The API Lambda behind a function URL with AWS_IAM auth: Lambda has checked the caller's SigV4
 * signature and IAM permission before the event arrives, and names the caller in
 * `requestContext.authorizer.iam`. This handler only translates the function URL's event
 * (payload format 2.0) to the carrier-independent request of lib/api/handler.ts and back.
 */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, LambdaFunctionURLEventWithIAMAuthorizer } from 'aws-lambda';
import { powertoolsLogger, powertoolsMetrics } from '../lib/adapters/powertools-telemetry.ts';
import { type ApiDeps, handleApiRequest } from '../lib/api/handler.ts';
import type { ApiRequest } from '../lib/api/http.ts';
import { powertools } from './telemetry.ts';

/** The request a function URL event carries. */
export function requestOfEvent(event: LambdaFunctionURLEventWithIAMAuthorizer): ApiRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  const body =
    event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  const caller = event.requestContext.authorizer?.iam?.userArn;
  return {
    method: event.requestContext.http.method,
    path: event.rawPath,
    headers,
    ...(body !== undefined ? { body } : {}),
    ...(caller ? { caller } : {}),
  };
}

/** What the handler answers: a function URL's structured response. */
export interface FunctionUrlResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Builds the API handler over a runtime (tests pass their own). */
export function apiHandler(
  runtime: Omit<ApiDeps, 'logger' | 'metrics'>,
  tools = powertools('api'),
) {
  const logger = powertoolsLogger(tools.logger);
  const metrics = powertoolsMetrics(tools.metrics);
  return middy(
    async (
      event: LambdaFunctionURLEventWithIAMAuthorizer,
      _context: Context,
    ): Promise<FunctionUrlResult> => {
      const response = await handleApiRequest(
        { ...runtime, logger, metrics },
        requestOfEvent(event),
      );
      return { statusCode: response.status, headers: response.headers, body: response.body };
    },
  )
    .use(injectLambdaContext(tools.logger))
    .use(logMetrics(tools.metrics, { captureColdStartMetric: true }));
}
