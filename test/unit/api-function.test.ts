/**
 * The API Lambda's handler: a function URL event (payload 2.0, as Lambda delivers it after
 * checking the SigV4 signature) in, a function URL result out, over in-memory adapters.
 */
import type { Context, LambdaFunctionURLEventWithIAMAuthorizer } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { apiHandler, requestOfEvent } from '../../functions/api-handler.ts';
import { apiHarness } from '../support/api-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

function event(
  method: string,
  path: string,
  options: {
    body?: string;
    base64?: boolean;
    headers?: Record<string, string>;
    caller?: string;
  } = {},
): LambdaFunctionURLEventWithIAMAuthorizer {
  const body = options.base64 ? Buffer.from(options.body ?? '').toString('base64') : options.body;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abc.lambda-url.eu-west-1.on.aws', ...(options.headers ?? {}) },
    isBase64Encoded: options.base64 === true,
    ...(body !== undefined ? { body } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc',
      domainName: 'abc.lambda-url.eu-west-1.on.aws',
      domainPrefix: 'abc',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: '$default',
      stage: '$default',
      time: '03/Dec/2026:22:00:00 +0000',
      timeEpoch: 0,
      authorizer: {
        iam: {
          accessKey: 'AKIA',
          accountId: '123456789012',
          callerId: 'AROA:lb',
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: options.caller ?? 'arn:aws:sts::123456789012:assumed-role/octavia/lb',
          userId: 'AROA:lb',
        },
      },
    },
  } as unknown as LambdaFunctionURLEventWithIAMAuthorizer;
}

const context = { awsRequestId: 'req-1', functionName: 'api' } as unknown as Context;

describe('the API function', () => {
  it('reads method, path, lower-cased headers, a base64 body and the IAM caller from the event', () => {
    const r = requestOfEvent(
      event('POST', '/claims', {
        body: '{"pool":"default"}',
        base64: true,
        headers: { 'Idempotency-Key': 'k-1' },
        caller: 'arn:aws:iam::123456789012:role/octavia',
      }),
    );
    expect(r).toStrictEqual({
      method: 'POST',
      path: '/claims',
      headers: { host: 'abc.lambda-url.eu-west-1.on.aws', 'idempotency-key': 'k-1' },
      body: '{"pool":"default"}',
      caller: 'arn:aws:iam::123456789012:role/octavia',
    });
  });

  it('answers a claim with the amphora, and a retry with the same key with the same one', async () => {
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    await h.store.create(rec('READY', { id: 'amp-2' }));
    const handler = apiHandler({ ...h.deps });
    const claim = () =>
      handler(
        event('POST', '/claims', { body: '{}', headers: { 'idempotency-key': 'k-1' } }),
        context,
      );
    const first = await claim();
    const again = await claim();
    expect(first.statusCode).toBe(200);
    expect(JSON.parse(first.body).id).toMatch(/^amp-/);
    expect(again.body).toBe(first.body);
    expect(h.wake.calls).toBe(1);
  });

  it('scopes idempotency keys to the caller: two callers with one key get two spares', async () => {
    const h = apiHarness();
    await h.store.create(rec('READY', { id: 'amp-1' }));
    await h.store.create(rec('READY', { id: 'amp-2' }));
    const handler = apiHandler({ ...h.deps });
    const claimAs = (caller: string) =>
      handler(
        event('POST', '/claims', { body: '{}', headers: { 'idempotency-key': 'same' }, caller }),
        context,
      );
    const a = JSON.parse((await claimAs('arn:aws:iam::1:role/a')).body);
    const b = JSON.parse((await claimAs('arn:aws:iam::1:role/b')).body);
    expect(new Set([a.id, b.id]).size).toBe(2);
  });

  it('answers a bad body with 400 naming the field, never a 500', async () => {
    const h = apiHarness();
    const handler = apiHandler({ ...h.deps });
    const r = await handler(
      event('POST', '/claims', { body: '{"zone":7}', headers: { 'idempotency-key': 'k' } }),
      context,
    );
    expect(r.statusCode).toBe(400);
    expect(JSON.parse(r.body).error.issues[0].field).toBe('body.zone');
  });
});
