/**
 * The `openstack` driver: the driver contract over Keystone v3, Nova, Neutron and Glance.
 * Built from plain values; it reads no environment variable and no file except the CA bundle
 * whose path it is given.
 */
import { readFile } from 'node:fs/promises';
import type { OpenStackConnection } from '../../config/schema.ts';
import { serverName, snapshotName } from '../../domain/amphora.ts';
import {
  AmphoraDriverError,
  NotFoundError,
  ServerBusyError,
  UnavailableError,
} from '../../domain/errors.ts';
import {
  type AmphoraDriver,
  amphoraIdFromTags,
  amphoraTag,
  type BootRequest,
  type CallOptions,
  type ImageInfo,
  type ImageStatus,
  poolFromTags,
  poolTag,
  type ResolvedImage,
  type ServerInfo,
  type ServerStatus,
} from '../../ports/amphora-driver.ts';
import type { Clock } from '../../ports/clock.ts';
import { type Logger, silentLogger } from '../../ports/telemetry.ts';
import { type OpenStackCredentials, secretsOf } from './credentials.ts';
import { redact } from './errors.ts';
import { GlanceApi, type GlanceImage } from './glance.ts';
import {
  DEFAULT_RETRY,
  JsonClient,
  nodeTransport,
  type RetryPolicy,
  type Transport,
} from './http.ts';
import { TokenProvider } from './keystone.ts';
import { NeutronApi } from './neutron.ts';
import { type BootBody, NovaApi, type NovaServer } from './nova.ts';
import { OpenStackSession } from './session.ts';

/** The cloud connection settings (the launch spec travels in each boot request). */
export type OpenStackConfig = OpenStackConnection;

/** Everything the driver is built from. */
export interface OpenStackDriverOptions {
  readonly credentials: OpenStackCredentials;
  readonly config: OpenStackConfig;
  /** The tag every server we boot carries; listing and sweeping look only at these. */
  readonly ownershipTag: string;
  readonly clock: Clock;
  /** How HTTP is sent; defaults to `node:https` with the configured CA bundle, if any. */
  readonly transport?: Transport;
  readonly logger?: Logger;
  readonly retry?: RetryPolicy;
  /** Jitter source in [0, 1). */
  readonly random?: () => number;
}

interface Apis {
  readonly nova: NovaApi;
  readonly neutron: NeutronApi;
  readonly glance: GlanceApi;
}

/** Rounds of list-then-delete before unplug gives up on ports that keep reappearing. */
const UNPLUG_ROUNDS = 3;

/** Nova's status (and task state) folded into the contract's statuses. */
export function serverStatus(status: string, taskState?: string): ServerStatus {
  if (taskState === 'deleting' || status === 'DELETED' || status === 'SOFT_DELETED') {
    return 'DELETING';
  }
  switch (status) {
    case 'ACTIVE':
    case 'BUILD':
    case 'ERROR':
    case 'SHUTOFF':
      return status;
    default:
      return 'OTHER';
  }
}

const IMAGE_STATUSES: readonly ImageStatus[] = [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'pending_delete',
  'deactivated',
  'uploading',
  'importing',
];

function imageStatus(status: string): ImageStatus {
  return (IMAGE_STATUSES as readonly string[]).includes(status)
    ? (status as ImageStatus)
    : 'queued';
}

const NAME_PREFIX = serverName('');

/** Implements the driver contract against a real OpenStack cloud. */
export class OpenStackDriver implements AmphoraDriver {
  readonly name = 'openstack';
  private readonly options: OpenStackDriverOptions;
  private readonly logger: Logger;
  private readonly seenTokens = new Set<string>();
  private apis: Promise<Apis> | undefined;

  constructor(options: OpenStackDriverOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger;
  }

  async createServer(request: BootRequest, options?: CallOptions): Promise<ServerInfo> {
    const signal = options?.signal;
    const { nova } = await this.ready(signal);
    const spec = request.spec;
    if (spec.imageId === undefined || spec.flavorId === undefined) {
      throw new AmphoraDriverError(
        `amphora ${request.amphoraId}: a boot needs an image and a flavor (pool ${request.pool})`,
      );
    }
    const server: Record<string, unknown> = {
      name: serverName(request.amphoraId),
      imageRef: spec.imageId,
      flavorRef: spec.flavorId,
      networks: spec.networkIds.length > 0 ? spec.networkIds.map((uuid) => ({ uuid })) : 'none',
      tags: [this.options.ownershipTag, amphoraTag(request.amphoraId), poolTag(request.pool)],
      // Metadata is for humans reading the server; Nova cannot filter on it, tags do that.
      metadata: {
        amphora_id: request.amphoraId,
        pool: request.pool,
        managed_by: this.options.ownershipTag,
      },
      config_drive: spec.configDrive,
    };
    if (spec.securityGroupIds.length > 0) {
      // Nova resolves `name` against security group names and ids alike.
      server.security_groups = spec.securityGroupIds.map((name) => ({ name }));
    }
    if (spec.keyName !== undefined) server.key_name = spec.keyName;
    if (spec.userData !== undefined) {
      server.user_data = Buffer.from(spec.userData, 'utf8').toString('base64');
    }
    if (request.computeZone !== undefined) server.availability_zone = request.computeZone;
    const body: BootBody = {
      server,
      ...(spec.serverGroupId !== undefined
        ? { 'os:scheduler_hints': { group: spec.serverGroupId } }
        : {}),
    };
    const id = await nova.boot(body, signal);
    return {
      id,
      name: serverName(request.amphoraId),
      amphoraId: request.amphoraId,
      pool: request.pool,
      status: 'BUILD',
      ...(request.computeZone !== undefined ? { zone: request.computeZone } : {}),
    };
  }

  async getServer(serverId: string, options?: CallOptions): Promise<ServerInfo> {
    const { nova } = await this.ready(options?.signal);
    return this.view(await nova.server(serverId, options?.signal));
  }

  async deleteServer(serverId: string, options?: CallOptions): Promise<void> {
    const { nova } = await this.ready(options?.signal);
    await nova.deleteServer(serverId, options?.signal);
  }

  async listServers(filter?: { amphoraId?: string }, options?: CallOptions): Promise<ServerInfo[]> {
    const { nova } = await this.ready(options?.signal);
    const tags = [this.options.ownershipTag];
    if (filter?.amphoraId !== undefined) tags.push(amphoraTag(filter.amphoraId));
    const servers = await nova.serversTagged(tags, options?.signal);
    // Filter again: a cloud that ignored the tags filter must not make foreign servers ours.
    return servers.filter((s) => tags.every((t) => s.tags.includes(t))).map((s) => this.view(s));
  }

  async unplug(serverId: string, options?: CallOptions): Promise<void> {
    const signal = options?.signal;
    const { nova, neutron } = await this.ready(signal);
    // Through Nova first: it raises NotFound for a missing server, which Neutron would not.
    let ports = await nova.interfacePortIds(serverId, signal);
    for (let round = 1; ; round++) {
      for (const portId of ports) {
        try {
          // Neutron deletes synchronously, unlike a Nova detach, so the check below is exact.
          await neutron.deletePort(portId, signal);
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
        }
      }
      ports = await neutron.portIdsOfDevice(serverId, signal);
      if (ports.length === 0) return;
      if (round >= UNPLUG_ROUNDS) {
        throw new AmphoraDriverError(
          `unplug of server ${serverId}: ${ports.length} port(s) still attached after ${round} rounds`,
        );
      }
    }
  }

  async snapshot(
    serverId: string,
    request: { amphoraId: string },
    options?: CallOptions,
  ): Promise<{ imageId: string }> {
    const { nova } = await this.ready(options?.signal);
    const imageId = await nova.createImage(
      serverId,
      snapshotName(request.amphoraId),
      { amphora_id: request.amphoraId, managed_by: this.options.ownershipTag },
      options?.signal,
    );
    return { imageId };
  }

  async getImage(imageId: string, options?: CallOptions): Promise<ImageInfo> {
    const { glance } = await this.ready(options?.signal);
    return this.imageView(await glance.image(imageId, options?.signal));
  }

  async listImages(filter: { amphoraId: string }, options?: CallOptions): Promise<ImageInfo[]> {
    const { glance } = await this.ready(options?.signal);
    const name = snapshotName(filter.amphoraId);
    const images = await glance.images({ name }, options?.signal);
    return images.filter((i) => i.name === name).map((i) => this.imageView(i));
  }

  async stopServer(serverId: string, options?: CallOptions): Promise<void> {
    const signal = options?.signal;
    const { nova } = await this.ready(signal);
    for (let attempt = 1; ; attempt++) {
      try {
        await nova.stop(serverId, signal);
        return;
      } catch (error) {
        if (!(error instanceof AmphoraDriverError) || error.status !== 409) throw error;
        // 409 means "already stopped" (done) or "busy with a task", such as the snapshot's
        // upload, which Nova may still be finishing after Glance calls the image active.
        const server = await nova.server(serverId, signal);
        if (server.status === 'SHUTOFF') return;
        const busy = server.taskState ?? /task_state (\w+)/.exec(error.message)?.[1];
        if (busy === undefined) throw error;
        // The task ended between the refusal and the look: stop again, once.
        if (server.taskState === undefined && attempt === 1) continue;
        throw new ServerBusyError(
          `server ${serverId} is busy (task_state ${busy}); stop it when that ends`,
          { status: 409, cause: error },
        );
      }
    }
  }

  async deleteImage(imageId: string, options?: CallOptions): Promise<void> {
    const { glance } = await this.ready(options?.signal);
    await glance.deleteImage(imageId, options?.signal);
  }

  // -- helpers ---------------------------------------------------------------------------------

  private async ready(signal?: AbortSignal): Promise<Apis> {
    if (signal?.aborted) {
      // Refused before any I/O, CA loading included: an aborted call must do nothing at all.
      throw new UnavailableError('openstack call aborted by the caller before any request', {
        cause: signal.reason instanceof Error ? new Error(signal.reason.message) : undefined,
      });
    }
    this.apis ??= this.build();
    try {
      return await this.apis;
    } catch (error) {
      // A failed build (unreadable CA bundle) is tried again by the next call, not cached.
      this.apis = undefined;
      throw error;
    }
  }

  private async build(): Promise<Apis> {
    const { credentials, config, clock, logger, retry, random } = this.options;
    const transport = this.options.transport ?? (await this.defaultTransport());
    const auth = credentials.auth;
    const seen = this.seenTokens;
    const client = new JsonClient({
      transport,
      clock,
      timeoutMs: config.request_timeout * 1000,
      retry: retry ?? DEFAULT_RETRY,
      ...(random ? { random } : {}),
      logger: this.logger,
      secrets: () => [...secretsOf(auth), ...seen],
    });
    const session = new OpenStackSession({
      client,
      tokens: new TokenProvider(auth, client, clock),
      interface: config.interface,
      region: config.region_name ?? credentials.regionName,
      logger: logger ?? silentLogger,
      seenTokens: seen,
    });
    return {
      nova: new NovaApi(session),
      neutron: new NeutronApi(session),
      glance: new GlanceApi(session),
    };
  }

  private async defaultTransport(): Promise<Transport> {
    const file = this.options.config.ca_bundle_file ?? this.options.credentials.caBundleFile;
    if (file === undefined) return nodeTransport();
    try {
      return nodeTransport({ ca: await readFile(file) });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new AmphoraDriverError(
        `cannot read openstack.ca_bundle_file ${file}: ${typeof code === 'string' ? code : 'unreadable'}`,
      );
    }
  }

  async resolveImage(
    query: { readonly tag: string; readonly ownerId?: string },
    options?: CallOptions,
  ): Promise<ResolvedImage> {
    const signal = options?.signal;
    const { glance } = await this.ready(signal);
    const images = await glance.images(
      {
        tag: query.tag,
        status: 'active',
        sort: 'created_at:desc',
        ...(query.ownerId !== undefined ? { owner: query.ownerId } : {}),
        limit: 2,
      },
      signal,
    );
    const newest = images[0];
    if (!newest) {
      throw new NotFoundError(
        `no active image tagged ${query.tag}${query.ownerId ? ` owned by ${query.ownerId}` : ''}`,
      );
    }
    if (images.length > 1) {
      this.logger.warn('several active images carry the amphora image tag; booting the newest', {
        tag: query.tag,
        imageId: newest.id,
        ...(query.ownerId !== undefined ? { owner: query.ownerId } : {}),
      });
    }
    const created = newest.createdAt !== undefined ? Date.parse(newest.createdAt) : Number.NaN;
    return {
      id: newest.id,
      name: newest.name,
      ...(Number.isFinite(created) ? { createdAt: created } : {}),
    };
  }

  private view(s: NovaServer): ServerInfo {
    const fromTags = amphoraIdFromTags(s.tags);
    const pool = poolFromTags(s.tags);
    const amphoraId =
      fromTags ??
      (s.name.startsWith(NAME_PREFIX) && s.name.length > NAME_PREFIX.length
        ? s.name.slice(NAME_PREFIX.length)
        : undefined);
    const status = serverStatus(s.status, s.taskState);
    const created = s.created !== undefined ? Date.parse(s.created) : Number.NaN;
    return {
      id: s.id,
      name: s.name,
      ...(amphoraId !== undefined ? { amphoraId } : {}),
      ...(pool !== undefined ? { pool } : {}),
      status,
      ...(status === 'ERROR'
        ? {
            fault: redact(s.fault ?? 'no fault reported by Nova', [
              ...secretsOf(this.options.credentials.auth),
              ...this.seenTokens,
            ]),
          }
        : {}),
      ...(Number.isFinite(created) ? { createdAt: created } : {}),
      ...(s.zone !== undefined ? { zone: s.zone } : {}),
    };
  }

  private imageView(i: GlanceImage): ImageInfo {
    const prop = i.properties.amphora_id;
    const snapshotSuffix = snapshotName('').slice(NAME_PREFIX.length);
    const fromName =
      i.name.startsWith(NAME_PREFIX) && i.name.endsWith(snapshotSuffix)
        ? i.name.slice(NAME_PREFIX.length, i.name.length - snapshotSuffix.length)
        : undefined;
    const amphoraId = typeof prop === 'string' ? prop : fromName || undefined;
    return {
      id: i.id,
      name: i.name,
      status: imageStatus(i.status),
      ...(amphoraId !== undefined ? { amphoraId } : {}),
    };
  }
}
