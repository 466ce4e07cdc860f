/**
 * The Nova (compute) calls the driver makes, at one pinned microversion.
 *
 * 2.52 is the lowest microversion that has everything used here: tags filter on list (2.26),
 * a `networks` list required on boot (2.37), `createImage` answering with the image id (2.45)
 * and tags given at boot (2.52). Pinning the lowest keeps every cloud since Queens usable;
 * the request and response shapes used are unchanged up to 2.93.
 */
import { malformedResponseError } from './errors.ts';
import { type OpenStackSession, query } from './session.ts';

/** The pinned compute microversion. */
export const NOVA_MICROVERSION = '2.52';

const MICROVERSION_HEADERS = {
  'openstack-api-version': `compute ${NOVA_MICROVERSION}`,
  // Clouds before Newton read only the older header.
  'x-openstack-nova-api-version': NOVA_MICROVERSION,
};

/** The fields of a Nova server the driver reads. */
export interface NovaServer {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly tags: readonly string[];
  readonly taskState?: string;
  readonly fault?: string;
  readonly created?: string;
  readonly zone?: string;
}

/** The body of a boot request (`POST /servers`). */
export interface BootBody {
  readonly server: Record<string, unknown>;
  readonly 'os:scheduler_hints'?: Record<string, unknown>;
}

function toServer(value: unknown): NovaServer | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const s = value as Record<string, unknown>;
  if (typeof s.id !== 'string') return undefined;
  const fault = s.fault as { message?: unknown } | undefined;
  const taskState = s['OS-EXT-STS:task_state'];
  const zone = s['OS-EXT-AZ:availability_zone'];
  return {
    id: s.id,
    name: typeof s.name === 'string' ? s.name : '',
    status: typeof s.status === 'string' ? s.status : 'UNKNOWN',
    tags: Array.isArray(s.tags) ? s.tags.filter((t): t is string => typeof t === 'string') : [],
    ...(typeof taskState === 'string' ? { taskState } : {}),
    ...(typeof fault?.message === 'string' ? { fault: fault.message } : {}),
    ...(typeof s.created === 'string' ? { created: s.created } : {}),
    ...(typeof zone === 'string' && zone !== '' ? { zone } : {}),
  };
}

/** Page size of server listings; Nova's default cap is 1000. */
const PAGE = 500;

/** Nova, through an authenticated session. */
export class NovaApi {
  private readonly session: OpenStackSession;

  constructor(session: OpenStackSession) {
    this.session = session;
  }

  /** Boots a server; returns its id. Never resent: a second POST would boot a second server. */
  async boot(body: BootBody, signal?: AbortSignal): Promise<string> {
    const path = '/servers';
    const res = await this.session.request('compute', {
      method: 'POST',
      path,
      body,
      headers: MICROVERSION_HEADERS,
      signal,
    });
    const id = (res.body as { server?: { id?: unknown } } | undefined)?.server?.id;
    if (typeof id !== 'string') {
      throw malformedResponseError(
        { service: 'compute', method: 'POST', path },
        res.status,
        'no server id',
      );
    }
    return id;
  }

  /** One server. @throws NotFoundError when Nova does not know it. */
  async server(id: string, signal?: AbortSignal): Promise<NovaServer> {
    const path = `/servers/${encodeURIComponent(id)}`;
    const res = await this.session.request('compute', {
      method: 'GET',
      path,
      headers: MICROVERSION_HEADERS,
      signal,
    });
    const server = toServer((res.body as { server?: unknown } | undefined)?.server);
    if (!server) {
      throw malformedResponseError(
        { service: 'compute', method: 'GET', path },
        res.status,
        'no server',
      );
    }
    return server;
  }

  /** Every server carrying all of `tags`, across pages. */
  async serversTagged(tags: readonly string[], signal?: AbortSignal): Promise<NovaServer[]> {
    const servers: NovaServer[] = [];
    let marker: string | undefined;
    for (;;) {
      const path = `/servers/detail${query({ tags: tags.join(','), limit: PAGE, marker })}`;
      const res = await this.session.request('compute', {
        method: 'GET',
        path,
        headers: MICROVERSION_HEADERS,
        signal,
      });
      const body = res.body as { servers?: unknown; servers_links?: unknown } | undefined;
      if (!Array.isArray(body?.servers)) {
        throw malformedResponseError(
          { service: 'compute', method: 'GET', path },
          res.status,
          'no servers list',
        );
      }
      const page = body.servers.map(toServer).filter((s): s is NovaServer => s !== undefined);
      servers.push(...page);
      const next =
        Array.isArray(body.servers_links) &&
        body.servers_links.some((l) => (l as { rel?: unknown })?.rel === 'next');
      if (!next || page.length === 0) return servers;
      marker = page[page.length - 1]!.id;
    }
  }

  /** Requests deletion. @throws NotFoundError when already gone, DeleteFailedError when refused. */
  async deleteServer(id: string, signal?: AbortSignal): Promise<void> {
    await this.session.request('compute', {
      method: 'DELETE',
      path: `/servers/${encodeURIComponent(id)}`,
      headers: MICROVERSION_HEADERS,
      signal,
      isDelete: true,
    });
  }

  /** Port ids of the server's interfaces. @throws NotFoundError for a missing server. */
  async interfacePortIds(id: string, signal?: AbortSignal): Promise<string[]> {
    const path = `/servers/${encodeURIComponent(id)}/os-interface`;
    const res = await this.session.request('compute', {
      method: 'GET',
      path,
      headers: MICROVERSION_HEADERS,
      signal,
    });
    const list = (res.body as { interfaceAttachments?: unknown } | undefined)?.interfaceAttachments;
    if (!Array.isArray(list)) {
      throw malformedResponseError(
        { service: 'compute', method: 'GET', path },
        res.status,
        'no interfaceAttachments list',
      );
    }
    return list
      .map((a) => (a as { port_id?: unknown })?.port_id)
      .filter((p): p is string => typeof p === 'string');
  }

  /** `createImage`; returns the new image id at once (2.45+). */
  async createImage(
    id: string,
    name: string,
    metadata: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<string> {
    const path = `/servers/${encodeURIComponent(id)}/action`;
    const res = await this.session.request('compute', {
      method: 'POST',
      path,
      body: { createImage: { name, metadata } },
      headers: MICROVERSION_HEADERS,
      signal,
    });
    const imageId = (res.body as { image_id?: unknown } | undefined)?.image_id;
    if (typeof imageId !== 'string') {
      throw malformedResponseError(
        { service: 'compute', method: 'POST', path },
        res.status,
        'no image_id',
      );
    }
    return imageId;
  }

  /** `os-stop`. @throws AmphoraDriverError with status 409 when Nova refuses in this state. */
  async stop(id: string, signal?: AbortSignal): Promise<void> {
    await this.session.request('compute', {
      method: 'POST',
      path: `/servers/${encodeURIComponent(id)}/action`,
      body: { 'os-stop': null },
      headers: MICROVERSION_HEADERS,
      signal,
    });
  }
}
