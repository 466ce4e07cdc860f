/**
 * Proves that no credential or token reaches an error message, an error's cause chain or a log
 * line, on every error path, even when the cloud (or a proxy) echoes the request back.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AmphoraDriverError } from '../../../lib/domain/errors.ts';
import type { OpenStackCredentials } from '../../../lib/drivers/openstack/credentials.ts';
import { clearTokenCache } from '../../../lib/drivers/openstack/keystone.ts';
import type { OpenStackDriver } from '../../../lib/drivers/openstack/openstack-driver.ts';
import { bootRequest } from '../../support/boot.ts';
import {
  type FakeOpenStack as Fake,
  FakeOpenStack,
  type LoggedRequest,
} from '../../support/openstack-fake/fake-openstack.ts';
import {
  appCredentials,
  type CapturingLogger,
  capturingLogger,
  driverOnFake,
  fakeSpec,
  passwordCredentials,
} from '../../support/openstack-fake/harness.ts';

const PASSWORD = 'PW-CANARY-7f3a91c2';
const APP_SECRET = 'AC-CANARY-5b2e04d9';
const WRONG_SECRET = 'WRONG-CANARY-c0ffee77';

/** Everything an operator could ever see of an error: message, stack, causes, own fields. */
function everything(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current !== undefined && current !== null; depth++) {
    parts.push(String(current));
    if (current instanceof Error) parts.push(current.message, current.stack ?? '');
    try {
      parts.push(JSON.stringify(current, Object.getOwnPropertyNames(current)));
    } catch {
      parts.push('(unserialisable)');
    }
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}

/** A body that quotes the request's token and body back, as a debugging proxy might. */
const echo = (r: LoggedRequest) =>
  JSON.stringify({
    computeFault: {
      code: 500,
      message: `token=${String(r.headers['x-auth-token'])} body=${r.body}`,
    },
  });
const echoHtml = (r: LoggedRequest) =>
  `<html><body><h1>Error</h1>token ${String(r.headers['x-auth-token'])} body ${r.body}</body></html>`;

interface Scenario {
  readonly name: string;
  /** Sets faults up. */
  readonly arrange?: (fake: Fake) => void;
  /** Credentials to use instead of the good ones. */
  readonly credentials?: (good: OpenStackCredentials) => OpenStackCredentials;
  readonly act: (driver: OpenStackDriver, fake: Fake) => Promise<unknown>;
  /** The cloud echoed a secret, so the message must show a redaction. */
  readonly echoes?: boolean;
  readonly timeout?: boolean;
}

const boot = (d: OpenStackDriver) => d.createServer(bootRequest(randomUUID(), '*', fakeSpec()));

const SCENARIOS: Scenario[] = [
  {
    name: 'Keystone refuses a wrong secret',
    credentials: (good) =>
      good.auth.type === 'password'
        ? { ...good, auth: { ...good.auth, password: WRONG_SECRET } }
        : { ...good, auth: { ...good.auth, applicationCredentialSecret: WRONG_SECRET } },
    act: (d) => d.listServers(),
  },
  {
    name: 'Keystone answers 400 quoting the auth request body',
    arrange: (f) => f.inject({ service: 'identity', status: 400, body: echo }),
    act: (d) => d.listServers(),
    echoes: true,
  },
  {
    name: 'Keystone answers an HTML 500 quoting the auth request body',
    arrange: (f) =>
      f.inject({ service: 'identity', status: 500, body: echoHtml, contentType: 'text/html' }),
    act: (d) => d.listServers(),
    echoes: true,
  },
  {
    name: 'Keystone issues no X-Subject-Token',
    arrange: (f) =>
      f.inject({
        service: 'identity',
        status: 201,
        body: '{"token":{"expires_at":"2099-01-01T00:00:00Z"}}',
      }),
    act: (d) => d.listServers(),
  },
  {
    name: 'Nova answers 500 quoting the token and boot body',
    arrange: (f) => f.inject({ service: 'compute', method: 'POST', status: 500, body: echo }),
    act: boot,
    echoes: true,
  },
  {
    name: 'a proxy answers 502 HTML quoting the token, all retries long',
    arrange: (f) =>
      f.inject({ service: 'compute', status: 502, body: echoHtml, contentType: 'text/html' }),
    act: (d) => d.getServer('s-1'),
    echoes: true,
  },
  {
    name: 'Nova keeps refusing the token with 401, quoting it',
    arrange: (f) => f.inject({ service: 'compute', status: 401, body: echo }),
    act: (d) => d.listServers(),
    echoes: true,
  },
  {
    name: 'Nova answers 200 with malformed JSON containing the token',
    arrange: (f) =>
      f.inject({
        service: 'compute',
        status: 200,
        body: (r) => `{"server": "${String(r.headers['x-auth-token'])}`,
      }),
    act: (d) => d.getServer('s-1'),
  },
  {
    name: 'Nova reports a fault quoting the token',
    arrange: (f) => {
      f.bootPlan.push({ error: 'placeholder' });
      f.inject({
        service: 'compute',
        method: 'GET',
        status: 200,
        body: (r) =>
          JSON.stringify({
            server: {
              id: 's-1',
              name: 'x',
              status: 'ERROR',
              tags: [],
              fault: { message: `bad ${String(r.headers['x-auth-token'])}` },
            },
          }),
      });
    },
    act: async (d) => {
      const s = await d.getServer('s-1');
      throw new AmphoraDriverError(`server went to ERROR: ${s.fault}`);
    },
    echoes: true,
  },
  {
    name: 'Nova times out',
    arrange: (f) => f.inject({ service: 'compute', delayMs: 1_500 }),
    act: (d) => d.getServer('s-1'),
    timeout: true,
  },
  {
    name: 'the connection is reset',
    arrange: (f) => f.inject({ service: 'compute', reset: true }),
    act: (d) => d.getServer('s-1'),
  },
  {
    name: 'Glance answers an HTML 404 quoting the token',
    arrange: (f) =>
      f.inject({ service: 'image', status: 404, body: echoHtml, contentType: 'text/html' }),
    act: (d) => d.getImage('i-1'),
    echoes: true,
  },
  {
    name: 'Neutron refuses a port delete quoting the token',
    arrange: (f) => f.inject({ service: 'network', method: 'DELETE', status: 409, body: echo }),
    act: async (d) => {
      const s = await boot(d);
      await d.unplug(s.id);
    },
    echoes: true,
  },
  {
    name: 'Nova refuses a delete quoting the token',
    arrange: (f) => f.inject({ service: 'compute', method: 'DELETE', status: 500, body: echo }),
    act: (d) => d.deleteServer('s-1'),
    echoes: true,
  },
  {
    name: 'the CA bundle file is missing',
    act: (d) => d.listServers(),
  },
  {
    name: 'Keystone is not listening',
    credentials: (good) => ({ ...good, auth: { ...good.auth, authUrl: 'http://127.0.0.1:9/v3' } }),
    act: (d) => d.listServers(),
  },
];

describe.each([
  ['password', passwordCredentials],
  ['application credential', appCredentials],
])('no secret leaks with %s credentials', (_kind, credentialsOf) => {
  let fake: FakeOpenStack;
  let logger: CapturingLogger;

  beforeEach(async () => {
    clearTokenCache();
    fake = new FakeOpenStack();
    fake.users[0] = { ...fake.users[0]!, password: PASSWORD };
    fake.appCredentials[0] = { ...fake.appCredentials[0]!, secret: APP_SECRET };
    await fake.start();
    logger = capturingLogger();
  });
  afterEach(async () => {
    await fake.stop();
  });

  it.each(SCENARIOS)('when $name', async (scenario) => {
    // Prepare: a token is issued and used first, so that there is one to leak
    const good = credentialsOf(fake);
    await driverOnFake(fake, { credentials: good, logger }).listServers();
    // The driver under test authenticates afresh, so that Keystone's error paths are reached.
    clearTokenCache();
    scenario.arrange?.(fake);
    const credentials = scenario.credentials?.(good) ?? good;
    const driver = driverOnFake(fake, {
      credentials,
      logger,
      ...(scenario.timeout ? { config: { request_timeout: 1 } } : {}),
      ...(scenario.name.includes('CA bundle')
        ? { config: { ca_bundle_file: '/nonexistent/ca.pem' } }
        : {}),
    });
    // Act
    const error = await scenario.act(driver, fake).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess
    expect(error).toBeInstanceOf(AmphoraDriverError);
    const seen = `${everything(error)}\n${logger.text()}`;
    const tokens = [...fake.tokens.keys()];
    expect(tokens.length).toBeGreaterThan(0);
    for (const secret of [PASSWORD, APP_SECRET, WRONG_SECRET, ...tokens]) {
      expect(seen).not.toContain(secret);
    }
    if (scenario.echoes) expect(seen).toContain('***');
  });
});
