/**
 * Helpers of the real-OpenStack tier: the credentials and resources the setup script wrote to
 * `osci-env.json`, drivers built from them, and a small independent REST client (plain fetch,
 * not the driver) to check what the driver did and to clean up after it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { systemClock } from '../../lib/adapters/system-clock.ts';
import type { OpenStackCredentials } from '../../lib/drivers/openstack/credentials.ts';
import { nodeTransport, type Transport } from '../../lib/drivers/openstack/http.ts';
import {
  type OpenStackConfig,
  OpenStackDriver,
} from '../../lib/drivers/openstack/openstack-driver.ts';
import type { BootSpec } from '../../lib/ports/amphora-driver.ts';
import type { Logger } from '../../lib/ports/telemetry.ts';
import type { DriverHarness } from '../contract/driver-contract.ts';
import { countServersOverHttp } from '../support/servers-sent.ts';

/** The endpoints the setup script brings up; all must answer before the tier runs. */
export const OSCI_ENDPOINTS = [
  'http://127.0.0.1:5000/v3',
  'http://127.0.0.1:8774/',
  'http://127.0.0.1:9696/',
  'http://127.0.0.1:9292/versions',
  'http://127.0.0.1:8778/',
] as const;

/** Where the setup script writes its credentials file. */
export function osciEnvPath(): string {
  return `${process.env.OSCI_STATE ?? '/var/lib/osci'}/osci-env.json`;
}

/** The contents of `osci-env.json`. */
export interface OsciEnv {
  auth_url: string;
  region: string;
  admin: { username: string; password: string; project: string; domain: string };
  user: { username: string; password: string; project: string; domain: string };
  application_credential: { id: string; secret: string };
  project_id: string;
  image_id: string;
  image_tag: string;
  flavor_id: string;
  network_id: string;
  key_name: string;
}

/** Reads `osci-env.json`. */
export function loadOsciEnv(): OsciEnv {
  return JSON.parse(readFileSync(osciEnvPath(), 'utf8')) as OsciEnv;
}

/** The test user's application credential. */
export function appCredentialFrom(
  env: OsciEnv,
  secret = env.application_credential.secret,
): OpenStackCredentials {
  return {
    auth: {
      type: 'application_credential',
      authUrl: env.auth_url,
      applicationCredentialId: env.application_credential.id,
      applicationCredentialSecret: secret,
    },
    regionName: env.region,
  };
}

/** The test user's password credential, scoped to its project. */
export function passwordFrom(env: OsciEnv, password = env.user.password): OpenStackCredentials {
  return {
    auth: {
      type: 'password',
      authUrl: env.auth_url,
      username: env.user.username,
      userDomainName: env.user.domain,
      password,
      projectName: env.user.project,
      projectDomainName: env.user.domain,
    },
    regionName: env.region,
  };
}

/** A tag no other run uses, so that runs and sessions sharing the cloud never touch each other. */
export function runTag(prefix = 'osci-test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** The connection to the loopback cloud. */
export function realConfig(env: OsciEnv, patch: Partial<OpenStackConfig> = {}): OpenStackConfig {
  return { interface: 'public', region_name: env.region, request_timeout: 60, ...patch };
}

/** What the loopback cloud's servers boot with. */
export function realSpec(env: OsciEnv, patch: Partial<BootSpec> = {}): BootSpec {
  return {
    imageId: env.image_id,
    flavorId: env.flavor_id,
    networkIds: [env.network_id],
    securityGroupIds: [],
    configDrive: false,
    ...patch,
  };
}

/** A driver on the loopback cloud. */
export function realDriver(options: {
  env: OsciEnv;
  ownershipTag: string;
  credentials?: OpenStackCredentials;
  config?: Partial<OpenStackConfig>;
  transport?: Transport;
  logger?: Logger;
}): OpenStackDriver {
  return new OpenStackDriver({
    credentials: options.credentials ?? appCredentialFrom(options.env),
    config: realConfig(options.env, options.config),
    ownershipTag: options.ownershipTag,
    clock: systemClock,
    ...(options.transport ? { transport: options.transport } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

/** Polls every 500 ms in real time for at most `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 180_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A parsed JSON body, read loosely: these are assertions on the cloud's own answers. */
// biome-ignore lint/suspicious/noExplicitAny: test-only reads of arbitrary OpenStack JSON
export type Json = any;

const ENDPOINTS = {
  identity: 'http://127.0.0.1:5000/v3',
  compute: 'http://127.0.0.1:8774/v2.1',
  network: 'http://127.0.0.1:9696/v2.0',
  image: 'http://127.0.0.1:9292/v2',
} as const;

/** Plain REST access to the loopback cloud, independent of the driver under test. */
export class RawCloud {
  private token?: string;
  private readonly env: OsciEnv;
  private readonly who: 'user' | 'admin';

  constructor(env: OsciEnv, who: 'user' | 'admin' = 'user') {
    this.env = env;
    this.who = who;
  }

  /** A fresh project-scoped token. */
  async issueToken(): Promise<string> {
    const c = this.env[this.who];
    const res = await fetch(`${this.env.auth_url}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: { name: c.username, domain: { name: c.domain }, password: c.password },
            },
          },
          scope: { project: { name: c.project, domain: { name: c.domain } } },
        },
      }),
    });
    if (res.status !== 201) throw new Error(`raw auth failed: HTTP ${res.status}`);
    return res.headers.get('x-subject-token')!;
  }

  /** Sends one request; returns status and parsed body. */
  async call(
    service: keyof typeof ENDPOINTS,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Json }> {
    this.token ??= await this.issueToken();
    const res = await fetch(`${ENDPOINTS[service]}${path}`, {
      method,
      headers: {
        'x-auth-token': this.token,
        accept: 'application/json',
        'openstack-api-version': 'compute 2.79',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** Revokes a token through Keystone. */
  async revoke(token: string): Promise<void> {
    this.token ??= await this.issueToken();
    const res = await fetch(`${this.env.auth_url}/auth/tokens`, {
      method: 'DELETE',
      headers: { 'x-auth-token': this.token, 'x-subject-token': token },
    });
    if (res.status !== 204) throw new Error(`revoke failed: HTTP ${res.status}`);
  }

  /**
   * Publishes a small raw image carrying `tag` (and `managed_by`, so that purge removes it) and
   * waits until Glance has it active; returns its id.
   */
  async publishImage(tag: string, managedBy: string): Promise<string> {
    // Glance's created_at counts whole seconds: a second apart, the newest is unambiguous.
    await new Promise((r) => setTimeout(r, 1_100));
    const created = await this.call('image', 'POST', '/images', {
      name: `${tag}-${randomBytes(3).toString('hex')}`,
      disk_format: 'raw',
      container_format: 'bare',
      tags: [tag],
      managed_by: managedBy,
    });
    if (created.status !== 201) throw new Error(`image create failed: HTTP ${created.status}`);
    const id = created.body.id as string;
    this.token ??= await this.issueToken();
    const upload = await fetch(`${ENDPOINTS.image}/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': this.token, 'content-type': 'application/octet-stream' },
      body: Buffer.from('amphora image for tests\n'),
    });
    if (upload.status !== 204) throw new Error(`image upload failed: HTTP ${upload.status}`);
    await eventually(async () => {
      const r = await this.call('image', 'GET', `/images/${id}`);
      return r.body?.status === 'active' ? true : undefined;
    }, `image ${id} active`);
    return id;
  }

  /** Ports whose device is the server, straight from Neutron. */
  async portCount(serverId: string): Promise<number> {
    const r = await this.call('network', 'GET', `/ports?device_id=${encodeURIComponent(serverId)}`);
    if (r.status !== 200) throw new Error(`port listing failed: HTTP ${r.status}`);
    return (r.body.ports as unknown[]).length;
  }

  /** The full Nova view of a server. */
  async server(serverId: string): Promise<Json> {
    const r = await this.call('compute', 'GET', `/servers/${serverId}`);
    if (r.status !== 200) throw new Error(`server show failed: HTTP ${r.status}`);
    return r.body.server;
  }

  /** Deletes every server carrying the tag and every image the tag's driver made; waits for it. */
  async purge(tag: string): Promise<void> {
    const list = await this.call(
      'compute',
      'GET',
      `/servers/detail?tags=${encodeURIComponent(tag)}`,
    );
    const ids: string[] = (list.body?.servers ?? []).map((s: { id: string }) => s.id);
    for (const id of ids) await this.call('compute', 'DELETE', `/servers/${id}`);
    const images = await this.call('image', 'GET', '/images?limit=1000');
    for (const image of images.body?.images ?? []) {
      if (image.managed_by === tag) await this.call('image', 'DELETE', `/images/${image.id}`);
    }
    await eventually(
      async () => {
        for (const id of ids) {
          if ((await this.call('compute', 'GET', `/servers/${id}`)).status !== 404)
            return undefined;
        }
        return true;
      },
      `servers tagged ${tag} deleted`,
      120_000,
    );
  }
}

/** The contract-suite harness on the loopback cloud, under a tag of its own. */
export function realHarness(): DriverHarness {
  const env = loadOsciEnv();
  const tag = runTag('osci-contract');
  const raw = new RawCloud(env);
  const counted = countServersOverHttp(nodeTransport());
  return {
    driver: realDriver({ env, ownershipTag: tag, transport: counted.transport }),
    serversSent: counted.sent,
    eventually: (probe, what) => eventually(probe, what),
    portCount: (serverId) => raw.portCount(serverId),
    spec: realSpec(env),
    publishImage: (imageTag) => raw.publishImage(imageTag, tag),
    cleanup: () => raw.purge(tag),
  };
}
