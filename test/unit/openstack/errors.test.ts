import { describe, expect, it } from 'vitest';
import {
  AmphoraDriverError,
  DeleteFailedError,
  NotFoundError,
  UnauthorizedError,
  UnavailableError,
} from '../../../lib/domain/errors.ts';
import {
  httpError,
  parseErrorMessage,
  redact,
  transportError,
} from '../../../lib/drivers/openstack/errors.ts';

const GET = { service: 'compute', method: 'GET', path: '/servers/s-1' };
const DELETE = { service: 'compute', method: 'DELETE', path: '/servers/s-1', isDelete: true };

describe('HTTP status to driver error', () => {
  it.each([
    [404, GET, NotFoundError],
    [401, GET, UnauthorizedError],
    [403, GET, UnauthorizedError],
    [429, GET, UnavailableError],
    [502, GET, UnavailableError],
    [503, GET, UnavailableError],
    [504, GET, UnavailableError],
    [400, GET, AmphoraDriverError],
    [409, GET, AmphoraDriverError],
    [500, GET, AmphoraDriverError],
    [404, DELETE, NotFoundError],
    [401, DELETE, UnauthorizedError],
    [503, DELETE, UnavailableError],
    [409, DELETE, DeleteFailedError],
    [500, DELETE, DeleteFailedError],
    [400, DELETE, DeleteFailedError],
  ])('maps HTTP %i on %o to %o', (status, call, expected) => {
    // Prepare / Act
    const error = httpError(call, { status, body: '' });
    // Assess
    expect(error.constructor).toBe(expected);
    expect(error.status).toBe(status);
    expect(error.message).toContain(`HTTP ${status}`);
  });

  it.each([
    [
      403,
      '{"forbidden":{"code":403,"message":"Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"}}',
    ],
    [413, '{"overLimit":{"code":413,"message":"Quota exceeded for cores"}}'],
  ])(
    'maps a Nova quota refusal (HTTP %i) to an ordinary AmphoraDriverError, not Unauthorized',
    (status, body) => {
      // Prepare / Act
      const error = httpError(
        { service: 'compute', method: 'POST', path: '/servers' },
        { status, body },
      );
      // Assess
      expect(error.constructor).toBe(AmphoraDriverError);
      expect(error.message).toContain('Quota exceeded');
    },
  );

  it('names the call, the cloud message and the request id in the message', () => {
    const error = httpError(GET, {
      status: 404,
      body: '{"itemNotFound":{"code":404,"message":"Instance s-1 could not be found."}}',
      requestId: 'req-42',
    });
    expect(error.message).toBe(
      'compute GET /servers/s-1 failed with HTTP 404: Instance s-1 could not be found. [request req-42]',
    );
  });
});

describe('cloud error bodies', () => {
  it.each([
    [
      'Nova',
      '{"itemNotFound":{"code":404,"message":"Instance x could not be found."}}',
      '',
      'Instance x could not be found.',
    ],
    [
      'Nova conflict',
      '{"conflictingRequest":{"code":409,"message":"Cannot \'stop\' instance x while it is in vm_state stopped"}}',
      '',
      "Cannot 'stop' instance x while it is in vm_state stopped",
    ],
    [
      'Neutron',
      '{"NeutronError":{"type":"PortNotFound","message":"Port p could not be found.","detail":""}}',
      '',
      'Port p could not be found.',
    ],
    [
      'Keystone',
      '{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}',
      '',
      'The request you have made requires authentication.',
    ],
    [
      'Glance JSON',
      '{"message":"No image found with ID i<br /><br />\\n\\n\\n","code":"404 Not Found","title":"Not Found"}',
      'application/json',
      'No image found with ID i',
    ],
    [
      'Glance HTML',
      '<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  No image found with ID i<br /><br />\n\n\n\n </body>\n</html>',
      'text/html; charset=UTF-8',
      '404 Not Found: No image found with ID i',
    ],
    ['plain text', 'Service Unavailable', 'text/plain', 'Service Unavailable'],
    ['malformed JSON', '{"itemNotFound": {"mess', 'application/json', '{"itemNotFound": {"mess'],
    ['JSON without a message', '{"foo": 1}', 'application/json', undefined],
    ['empty', '', '', undefined],
  ])('reads the message of a %s body', (_kind, body, contentType, expected) => {
    expect(parseErrorMessage(body, contentType)).toBe(expected);
  });

  it('clips a long body to a bounded message', () => {
    const message = parseErrorMessage('x'.repeat(5_000), 'text/plain');
    expect(message!.length).toBeLessThanOrEqual(300);
  });
});

describe('failures without a response', () => {
  it.each([
    ['ECONNREFUSED', UnavailableError],
    ['ECONNRESET', UnavailableError],
    ['ENOTFOUND', UnavailableError],
    ['UND_ERR_SOCKET', UnavailableError],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', AmphoraDriverError],
  ])('maps a network error %s to %o', (code, expected) => {
    const cause = Object.assign(new Error(`connect ${code}`), { code });
    const error = transportError(GET, {
      kind: 'network',
      error: new TypeError('fetch failed', { cause }),
    });
    expect(error.constructor).toBe(expected);
    expect(error.message).toContain(code);
  });

  it('maps a timeout and an abort to UnavailableError', () => {
    expect(transportError(GET, { kind: 'timeout', timeoutMs: 5_000 })).toBeInstanceOf(
      UnavailableError,
    );
    expect(transportError(GET, { kind: 'aborted', reason: new Error('stop') })).toBeInstanceOf(
      UnavailableError,
    );
  });

  it('keeps a delete that timed out retryable rather than failed', () => {
    expect(transportError(DELETE, { kind: 'timeout', timeoutMs: 1 })).toBeInstanceOf(
      UnavailableError,
    );
  });
});

describe('redaction', () => {
  it('replaces every occurrence of every secret', () => {
    expect(redact('a SECRET-1 b SECRET-1 c TOKEN-22', ['SECRET-1', 'TOKEN-22'])).toBe(
      'a *** b *** c ***',
    );
  });

  it('leaves values too short to be secrets alone', () => {
    expect(redact('the cat sat', ['cat'])).toBe('the cat sat');
  });
});
