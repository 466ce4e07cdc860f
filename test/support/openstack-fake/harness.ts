/** Builds openstack drivers wired to a {@link FakeOpenStack}, and the contract-suite harness. */
import { systemClock } from '../../../lib/adapters/system-clock.ts';
import type { OpenStackCredentials } from '../../../lib/drivers/openstack/credentials.ts';
import {
  nodeTransport,
  type RetryPolicy,
  type Transport,
} from '../../../lib/drivers/openstack/http.ts';
import {
  type OpenStackConfig,
  OpenStackDriver,
  type OpenStackDriverOptions,
} from '../../../lib/drivers/openstack/openstack-driver.ts';
import type { BootSpec } from '../../../lib/ports/amphora-driver.ts';
import type { Clock } from '../../../lib/ports/clock.ts';
import type { LogFields, Logger } from '../../../lib/ports/telemetry.ts';
import type { DriverHarness } from '../../contract/driver-contract.ts';
import { countServersOverHttp } from '../servers-sent.ts';
import type { FakeOpenStack } from './fake-openstack.ts';

/** Retries that keep their shape but take milliseconds, so fault tests stay fast. */
export const FAST_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 2, maxDelayMs: 10 };

/** The ownership tag drivers on the fake use. */
export const FAKE_OWNER = 'hk-test';

/** Application-credential credentials the fake accepts. */
export function appCredentials(fake: FakeOpenStack): OpenStackCredentials {
  const ac = fake.appCredentials[0]!;
  return {
    auth: {
      type: 'application_credential',
      authUrl: fake.authUrl,
      applicationCredentialId: ac.id,
      applicationCredentialSecret: ac.secret,
    },
  };
}

/** Password credentials the fake accepts. */
export function passwordCredentials(fake: FakeOpenStack): OpenStackCredentials {
  const u = fake.users[0]!;
  return {
    auth: {
      type: 'password',
      authUrl: fake.authUrl,
      username: u.name,
      userDomainName: u.domain,
      password: u.password,
      projectName: 'amphora',
      projectDomainName: 'Default',
    },
  };
}

/** A valid connection to the fake. */
export function fakeConfig(patch: Partial<OpenStackConfig> = {}): OpenStackConfig {
  return { interface: 'public', request_timeout: 5, ...patch };
}

/** What the fake's servers boot with. */
export function fakeSpec(patch: Partial<BootSpec> = {}): BootSpec {
  return {
    imageId: 'img-base',
    flavorId: 'flavor-1',
    networkIds: ['net-1'],
    securityGroupIds: [],
    configDrive: false,
    ...patch,
  };
}

/** A logger that keeps every line, fields included, for assertions. */
export interface CapturingLogger extends Logger {
  readonly lines: Array<{ level: string; message: string; fields?: LogFields }>;
  /** Every line as one string, for "contains" checks. */
  text(): string;
}

/** Builds a {@link CapturingLogger}. */
export function capturingLogger(): CapturingLogger {
  const lines: CapturingLogger['lines'] = [];
  const at =
    (level: string) =>
    (message: string, fields?: LogFields): void => {
      lines.push({ level, message, ...(fields ? { fields } : {}) });
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    text: () =>
      lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields ?? {})}`).join('\n'),
  };
}

/** Overrides for {@link driverOnFake}. */
export interface FakeDriverOverrides {
  readonly credentials?: OpenStackCredentials;
  readonly config?: Partial<OpenStackConfig>;
  readonly logger?: Logger;
  readonly transport?: Transport;
  readonly retry?: RetryPolicy;
  readonly clock?: Clock;
  readonly ownershipTag?: string;
}

/** An openstack driver pointed at the fake, with fast retries. */
export function driverOnFake(fake: FakeOpenStack, o: FakeDriverOverrides = {}): OpenStackDriver {
  const options: OpenStackDriverOptions = {
    credentials: o.credentials ?? appCredentials(fake),
    config: fakeConfig(o.config),
    ownershipTag: o.ownershipTag ?? FAKE_OWNER,
    clock: o.clock ?? systemClock,
    retry: o.retry ?? FAST_RETRY,
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.transport ? { transport: o.transport } : {}),
  };
  return new OpenStackDriver(options);
}

/** Polls in real time every 10 ms, for at most `timeoutMs`. */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let publishedAt = 0;

/** The contract-suite harness for the openstack driver on a fake cloud. */
export function fakeHarness(fake: FakeOpenStack): DriverHarness {
  const counted = countServersOverHttp(nodeTransport());
  return {
    driver: driverOnFake(fake, { transport: counted.transport }),
    serversSent: counted.sent,
    eventually: (probe, what) => pollUntil(probe, what),
    portCount: async (serverId) => fake.portCount(serverId),
    spec: fakeSpec(),
    publishImage: async (tag) => {
      publishedAt = Math.max(Date.now(), publishedAt + 1);
      return fake.addImage({ name: `image-${publishedAt}`, tags: [tag], created: publishedAt });
    },
    cleanup: () => fake.stop(),
  };
}
