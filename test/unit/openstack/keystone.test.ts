import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../lib/adapters/memory/manual-clock.ts';
import { AmphoraDriverError, UnauthorizedError } from '../../../lib/domain/errors.ts';
import type { OpenStackAuth } from '../../../lib/drivers/openstack/credentials.ts';
import {
  authRequestBody,
  clearTokenCache,
  identityUrl,
  selectEndpoint,
} from '../../../lib/drivers/openstack/keystone.ts';
import { versionedEndpoint } from '../../../lib/drivers/openstack/session.ts';
import { bootRequest } from '../../support/boot.ts';
import { FakeOpenStack } from '../../support/openstack-fake/fake-openstack.ts';
import {
  appCredentials,
  capturingLogger,
  driverOnFake,
  fakeSpec,
  passwordCredentials,
} from '../../support/openstack-fake/harness.ts';

describe('Keystone request shapes', () => {
  it.each([
    ['http://k:5000', 'http://k:5000/v3'],
    ['http://k:5000/', 'http://k:5000/v3'],
    ['http://k:5000/v3', 'http://k:5000/v3'],
    ['https://k/identity/v3/', 'https://k/identity/v3'],
  ])('normalises auth URL %s to %s', (given, expected) => {
    expect(identityUrl(given)).toBe(expected);
  });

  it.each<[string, OpenStackAuth, unknown]>([
    [
      'password by names',
      {
        type: 'password',
        authUrl: 'x',
        username: 'u',
        userDomainName: 'Default',
        password: 'p',
        projectName: 'proj',
        projectDomainName: 'Default',
      },
      {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'u', domain: { name: 'Default' }, password: 'p' } },
          },
          scope: { project: { name: 'proj', domain: { name: 'Default' } } },
        },
      },
    ],
    [
      'password by ids',
      { type: 'password', authUrl: 'x', userId: 'uid', password: 'p', projectId: 'pid' },
      {
        auth: {
          identity: { methods: ['password'], password: { user: { id: 'uid', password: 'p' } } },
          scope: { project: { id: 'pid' } },
        },
      },
    ],
    [
      'application credential by id, without a scope',
      {
        type: 'application_credential',
        authUrl: 'x',
        applicationCredentialId: 'ac',
        applicationCredentialSecret: 's',
      },
      {
        auth: {
          identity: {
            methods: ['application_credential'],
            application_credential: { id: 'ac', secret: 's' },
          },
        },
      },
    ],
    [
      'application credential by name and user',
      {
        type: 'application_credential',
        authUrl: 'x',
        applicationCredentialName: 'hk',
        applicationCredentialSecret: 's',
        username: 'u',
        userDomainId: 'default',
      },
      {
        auth: {
          identity: {
            methods: ['application_credential'],
            application_credential: {
              name: 'hk',
              secret: 's',
              user: { name: 'u', domain: { id: 'default' } },
            },
          },
        },
      },
    ],
  ])('builds the token request for %s', (_name, auth, expected) => {
    expect(authRequestBody(auth)).toEqual(expected);
  });
});

describe('endpoint selection from the catalog', () => {
  const ep = (iface: string, region: string, url: string) => ({ interface: iface, region, url });
  const catalog = [
    {
      type: 'compute',
      endpoints: [
        ep('public', 'RegionOne', 'https://nova.one/v2.1/'),
        ep('internal', 'RegionOne', 'http://nova.one.internal/v2.1'),
        ep('public', 'RegionTwo', 'https://nova.two/v2.1'),
      ],
    },
    { type: 'network', endpoints: [ep('public', 'RegionOne', 'https://neutron.one')] },
  ];

  it.each([
    ['compute', 'public', 'RegionOne', 'https://nova.one/v2.1'],
    ['compute', 'internal', 'RegionOne', 'http://nova.one.internal/v2.1'],
    ['compute', 'public', 'RegionTwo', 'https://nova.two/v2.1'],
    ['network', 'public', undefined, 'https://neutron.one'],
  ])('picks %s %s in %s', (type, iface, region, url) => {
    expect(selectEndpoint(catalog, type, iface, region)).toBe(url);
  });

  it('refuses to guess between regions when none is configured', () => {
    expect(() => selectEndpoint(catalog, 'compute', 'public')).toThrow(
      /several regions.*region_name/,
    );
  });

  it('names what the catalog offers when nothing matches', () => {
    expect(() => selectEndpoint(catalog, 'compute', 'admin', 'RegionOne')).toThrow(
      /no compute endpoint with interface admin in region RegionOne.*public@RegionOne/,
    );
    expect(() => selectEndpoint(catalog, 'image', 'public')).toThrow(AmphoraDriverError);
  });

  it.each([
    ['network', 'https://n:9696', 'https://n:9696/v2.0'],
    ['network', 'https://n:9696/v2.0/', 'https://n:9696/v2.0'],
    ['image', 'https://g:9292', 'https://g:9292/v2'],
    ['image', 'https://g:9292/v2', 'https://g:9292/v2'],
    ['compute', 'https://c/v2.1/', 'https://c/v2.1'],
  ] as const)('versions the %s endpoint %s', (service, url, expected) => {
    expect(versionedEndpoint(service, url)).toBe(expected);
  });
});

describe('tokens against the fake Keystone', () => {
  let fake: FakeOpenStack;
  const authPosts = () => fake.requestsTo('identity', 'POST').length;

  beforeEach(async () => {
    clearTokenCache();
    fake = await new FakeOpenStack().start();
  });
  afterEach(async () => {
    await fake.stop();
  });

  it.each([
    ['an application credential', appCredentials],
    ['a password', passwordCredentials],
  ])(
    'authenticates with %s and reuses the token across calls and driver instances',
    async (_kind, creds) => {
      // Prepare
      const a = driverOnFake(fake, { credentials: creds(fake) });
      const b = driverOnFake(fake, { credentials: creds(fake) });
      // Act
      await a.listServers();
      await a.listServers();
      await b.listServers();
      // Assess
      expect(authPosts()).toBe(1);
      expect(fake.requestsTo('compute', 'GET')).toHaveLength(3);
    },
  );

  it('shares one token request between concurrent first calls', async () => {
    const driver = driverOnFake(fake);
    await Promise.all(Array.from({ length: 10 }, () => driver.listServers()));
    expect(authPosts()).toBe(1);
  });

  it.each([
    [60, 54, 1],
    [60, 56, 2],
    [8, 5, 1],
    [8, 7, 2],
  ])(
    'with a %i-minute token, a call at minute %i makes %i token request(s) in all',
    async (ttlMin, atMin, expected) => {
      // Prepare: the refresh margin is 5 minutes, or a quarter of a short lifetime
      await fake.stop();
      fake = await new FakeOpenStack({ tokenTtlMs: ttlMin * 60_000 }).start();
      const clock = new ManualClock(Date.now());
      const driver = driverOnFake(fake, { clock });
      await driver.listServers();
      // Act
      clock.advance(atMin * 60_000);
      await driver.listServers();
      // Assess
      expect(authPosts()).toBe(expected);
    },
  );

  it('re-authenticates once and resends the call when the token is revoked mid-run', async () => {
    // Prepare
    const logger = capturingLogger();
    const driver = driverOnFake(fake, { logger });
    await driver.listServers();
    fake.revokeAllTokens();
    // Act
    const servers = await driver.listServers();
    // Assess
    expect(servers).toEqual([]);
    expect(authPosts()).toBe(2);
    expect(fake.requestsTo('compute', 'GET')).toHaveLength(3);
    expect(logger.lines.map((l) => l.message)).toContain(
      'openstack token refused; re-authenticating once',
    );
  });

  it('resends a boot refused with 401 once, booting exactly one server', async () => {
    const driver = driverOnFake(fake);
    await driver.listServers();
    fake.revokeAllTokens();
    await driver.createServer(bootRequest(randomUUID(), '*', fakeSpec()));
    expect(fake.servers.size).toBe(1);
    expect(fake.requestsTo('compute', 'POST')).toHaveLength(2);
  });

  it('gives UnauthorizedError without a retry storm when every call is refused with 401', async () => {
    // Prepare
    fake.inject({
      service: 'compute',
      status: 401,
      body: '{"error":{"code":401,"message":"nope"}}',
    });
    const driver = driverOnFake(fake);
    // Act
    const error = await driver.listServers().catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).status).toBe(401);
    expect(authPosts()).toBe(2);
    expect(fake.requestsTo('compute')).toHaveLength(2);
  });

  it('gives UnauthorizedError for 403 without re-authenticating', async () => {
    fake.inject({
      service: 'compute',
      status: 403,
      body: '{"forbidden":{"code":403,"message":"Policy doesn\'t allow os_compute_api:servers:index"}}',
    });
    const error = await driverOnFake(fake)
      .listServers()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as Error).message).toContain("Policy doesn't allow");
    expect(authPosts()).toBe(1);
  });

  it.each([
    [
      'a wrong application credential secret',
      (f: FakeOpenStack) => ({
        ...appCredentials(f),
        auth: { ...appCredentials(f).auth, applicationCredentialSecret: 'wrong-secret-xyz' },
      }),
    ],
    [
      'a wrong password',
      (f: FakeOpenStack) => ({
        ...passwordCredentials(f),
        auth: { ...passwordCredentials(f).auth, password: 'wrong-password-xyz' },
      }),
    ],
  ])('refuses %s with UnauthorizedError after one token request', async (_kind, creds) => {
    const error = await driverOnFake(fake, { credentials: creds(fake) })
      .listServers()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as Error).message).toMatch(
      /^identity POST \/v3\/auth\/tokens failed with HTTP 401/,
    );
    expect(authPosts()).toBe(1);
  });

  it('retries a token request that met a 503, since issuing a token twice is harmless', async () => {
    fake.inject({ service: 'identity', method: 'POST', status: 503, times: 2 });
    await driverOnFake(fake).listServers();
    expect(authPosts()).toBe(3);
  });

  it('refuses to guess the region when the catalog offers compute in two regions', async () => {
    // Prepare
    await fake.stop();
    fake = new FakeOpenStack({
      extraCatalog: [
        {
          type: 'compute',
          endpoints: [
            { interface: 'public', region_id: 'RegionTwo', url: 'http://127.0.0.1:9/v2.1' },
          ],
        },
      ],
    });
    await fake.start();
    // Act
    const unset = await driverOnFake(fake)
      .listServers()
      .catch((e: unknown) => e);
    const chosen = await driverOnFake(fake, { config: { region_name: 'RegionOne' } }).listServers();
    // Assess
    expect((unset as Error).message).toContain('several regions');
    expect(chosen).toEqual([]);
  });

  it('takes the region from the credentials when the configuration names none', async () => {
    await fake.stop();
    fake = new FakeOpenStack({
      extraCatalog: [
        {
          type: 'compute',
          endpoints: [
            { interface: 'public', region_id: 'RegionTwo', url: 'http://127.0.0.1:9/v2.1' },
          ],
        },
      ],
    });
    await fake.start();
    const creds = { ...appCredentials(fake), regionName: 'RegionOne' };
    expect(await driverOnFake(fake, { credentials: creds }).listServers()).toEqual([]);
  });
});
