/**
 * A fault-injecting HTTP fake of Keystone v3, Nova, Neutron and Glance on a loopback port.
 *
 * It speaks the subset of the real APIs the openstack driver uses, with the real status codes
 * and error body shapes (Nova `{"itemNotFound":{...}}`, Neutron `{"NeutronError":{...}}`,
 * Keystone `{"error":{...}}`, Glance HTML unless JSON is asked for). Servers boot in real time
 * (milliseconds), can be told to stick in BUILD or go to ERROR with a fault, and every request
 * is logged. Fault rules answer chosen requests with a status, a body, a delay or a reset.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

/** A password user the fake Keystone accepts. */
export interface FakeUser {
  readonly id: string;
  readonly name: string;
  readonly domain: string;
  readonly password: string;
}

/** An application credential the fake Keystone accepts. */
export interface FakeAppCredential {
  readonly id: string;
  readonly secret: string;
}

/** One request the fake received. */
export interface LoggedRequest {
  readonly service: 'identity' | 'compute' | 'network' | 'image' | 'unknown';
  readonly method: string;
  /** Path below the service root, without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** Number of the TCP connection it came on (1, 2, ...), to see keep-alive reuse. */
  readonly connection: number;
}

/** Answers matching requests instead of the fake's normal behaviour. */
export interface FaultRule {
  readonly service?: LoggedRequest['service'];
  readonly method?: string;
  /** Matched against the service-relative path (no query). */
  readonly path?: RegExp;
  /** How many requests it applies to; unlimited when absent. */
  readonly times?: number;
  /** Waits this long before answering (or before the normal answer when nothing else is set). */
  readonly delayMs?: number;
  readonly status?: number;
  /** The answer's body; a function sees the request (to mimic a cloud that echoes it). */
  readonly body?: string | ((request: LoggedRequest) => string);
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Destroys the connection without an answer. */
  readonly reset?: boolean;
}

/** What the next boot does. */
export type BootOutcome = 'active' | 'stuck' | { readonly error: string };

interface Server {
  id: string;
  name: string;
  tags: string[];
  metadata: Record<string, string>;
  body: Record<string, unknown>;
  hints: Record<string, unknown> | undefined;
  projectId: string;
  created: number;
  outcome: BootOutcome;
  activeAt: number;
  stopped: boolean;
  zone: string;
}

interface Port {
  id: string;
  deviceId: string;
  networkId: string;
}

interface Image {
  id: string;
  name: string;
  status: string;
  activeAt: number;
  tags: string[];
  owner: string;
  created: number;
  properties: Record<string, string>;
}

interface TokenRecord {
  projectId: string;
  expiresAt: number;
  revoked: boolean;
}

/** Options of a fake cloud. */
export interface FakeOpenStackOptions {
  /** Serve HTTPS with this PEM key and certificate. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Time from boot to ACTIVE. */
  readonly bootMs?: number;
  /** Time from createImage to an active image. */
  readonly snapshotMs?: number;
  /** Token lifetime. */
  readonly tokenTtlMs?: number;
  /** Extra catalog entries (e.g. a second region). */
  readonly extraCatalog?: readonly unknown[];
  /** Mimic a cloud that ignores the `tags` filter of server listings. */
  readonly ignoreTagsFilter?: boolean;
  /** Page size of server listings when the client asks for more. */
  readonly maxPage?: number;
}

const PROJECT_ID = 'p-amphora';
const REGION = 'RegionOne';

function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-openstack-request-id': `req-${randomUUID()}`,
    ...headers,
  });
  res.end(text);
}

/** A fake OpenStack cloud on 127.0.0.1. */
export class FakeOpenStack {
  readonly users: FakeUser[] = [
    { id: 'u-amphora', name: 'amphora', domain: 'Default', password: 'fake-password' },
  ];
  readonly appCredentials: FakeAppCredential[] = [{ id: 'ac-1', secret: 'fake-appcred-secret' }];
  /** Every request received, in order. */
  readonly requests: LoggedRequest[] = [];
  readonly servers = new Map<string, Server>();
  readonly ports = new Map<string, Port>();
  readonly images = new Map<string, Image>();
  readonly tokens = new Map<string, TokenRecord>();
  /** The image every fake boot can use. */
  readonly baseImageId = 'img-base';
  /** Outcomes of the next boots, consumed in order; `active` when empty. */
  readonly bootPlan: BootOutcome[] = [];
  private faults: Array<FaultRule & { left: number }> = [];
  private readonly options: FakeOpenStackOptions;
  private server?: http.Server;
  private base = '';
  private readonly sockets = new Set<import('node:net').Socket>();
  private readonly connectionIds = new WeakMap<object, number>();

  constructor(options: FakeOpenStackOptions = {}) {
    this.options = options;
    this.addImage({ id: this.baseImageId, name: 'amphora-base', tags: ['amphora'], created: 1 });
  }

  /** Starts listening on a free loopback port. */
  async start(): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      void this.handle(req, res);
    };
    this.server = this.options.tls
      ? https.createServer({ key: this.options.tls.key, cert: this.options.tls.cert }, handler)
      : http.createServer(handler);
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('secureConnection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const port = (this.server.address() as AddressInfo).port;
    this.base = `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return this;
  }

  /** Stops listening and drops open connections. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private connectionCount = 0;

  private connectionOf(socket: object): number {
    let id = this.connectionIds.get(socket);
    if (id === undefined) {
      this.connectionCount += 1;
      id = this.connectionCount;
      this.connectionIds.set(socket, id);
    }
    return id;
  }

  /** Keystone's auth URL (with `/v3`). */
  get authUrl(): string {
    return `${this.base}/identity/v3`;
  }

  /** Root URL of the fake. */
  get url(): string {
    return this.base;
  }

  /** Adds a fault rule; rules are matched in the order added. */
  inject(rule: FaultRule): void {
    this.faults.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY });
  }

  /** Removes every fault rule. */
  clearFaults(): void {
    this.faults = [];
  }

  /** Revokes every token issued so far (what an operator's revocation or a key rotation does). */
  revokeAllTokens(): void {
    for (const t of this.tokens.values()) t.revoked = true;
  }

  /** Requests to one service (and method), for counting. */
  requestsTo(service: LoggedRequest['service'], method?: string, path?: RegExp): LoggedRequest[] {
    return this.requests.filter(
      (r) =>
        r.service === service &&
        (method === undefined || r.method === method) &&
        (path === undefined || path.test(r.path)),
    );
  }

  /** Adds an image to the fake Glance. */
  addImage(image: {
    id?: string;
    name: string;
    tags?: string[];
    owner?: string;
    status?: string;
    created?: number;
    properties?: Record<string, string>;
  }): string {
    const id = image.id ?? randomUUID();
    this.images.set(id, {
      id,
      name: image.name,
      status: image.status ?? 'active',
      // Only snapshots turn active by themselves; a seeded queued image stays queued.
      activeAt: Number.POSITIVE_INFINITY,
      tags: image.tags ?? [],
      owner: image.owner ?? 'p-images',
      created: image.created ?? Date.now(),
      properties: image.properties ?? {},
    });
    return id;
  }

  /** Ports whose device is the server, read from the fake's own state. */
  portCount(serverId: string): number {
    return [...this.ports.values()].filter((p) => p.deviceId === serverId).length;
  }

  /** The body of the last boot request. */
  lastBoot(): { server: Record<string, unknown>; hints: Record<string, unknown> | undefined } {
    const last = [...this.servers.values()].at(-1);
    if (!last) throw new Error('no server was booted');
    return { server: last.body, hints: last.hints };
  }

  // -- dispatch --------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const [, prefix = '', ...rest] = url.pathname.split('/');
    const service: LoggedRequest['service'] =
      prefix === 'identity'
        ? 'identity'
        : prefix === 'compute'
          ? 'compute'
          : prefix === 'network'
            ? 'network'
            : prefix === 'image'
              ? 'image'
              : 'unknown';
    const path = `/${rest.join('/')}`;
    const method = req.method ?? 'GET';
    const logged: LoggedRequest = {
      service,
      method,
      path,
      query: url.searchParams,
      headers: req.headers,
      body,
      connection: this.connectionOf(req.socket),
    };
    this.requests.push(logged);

    const rule = this.faults.find(
      (f) =>
        f.left > 0 &&
        (f.service === undefined || f.service === service) &&
        (f.method === undefined || f.method === method) &&
        (f.path === undefined || f.path.test(path)),
    );
    if (rule) {
      rule.left -= 1;
      if (rule.delayMs) await new Promise((r) => setTimeout(r, rule.delayMs));
      // The client may have given up while we waited (`req` itself is consumed, hence socket).
      if (res.destroyed || req.socket.destroyed) return;
      if (rule.reset) {
        req.socket.destroy();
        return;
      }
      if (rule.status !== undefined) {
        res.writeHead(rule.status, {
          'content-type': rule.contentType ?? 'application/json',
          ...rule.headers,
        });
        res.end(typeof rule.body === 'function' ? rule.body(logged) : (rule.body ?? ''));
        return;
      }
    }
    try {
      switch (service) {
        case 'identity':
          return this.identity(logged, res);
        case 'compute':
          if (this.authorized(logged, res)) this.compute(logged, res);
          return;
        case 'network':
          if (this.authorized(logged, res)) this.network(logged, res);
          return;
        case 'image':
          if (this.authorized(logged, res)) this.image(logged, res);
          return;
        default:
          json(res, 404, { error: 'no such service' });
      }
    } catch (error) {
      json(res, 500, { computeFault: { code: 500, message: `fake failure: ${String(error)}` } });
    }
  }

  private authorized(r: LoggedRequest, res: http.ServerResponse): boolean {
    const value = r.headers['x-auth-token'];
    const token = typeof value === 'string' ? this.tokens.get(value) : undefined;
    if (token && !token.revoked && token.expiresAt > Date.now()) return true;
    json(
      res,
      401,
      {
        error: {
          code: 401,
          title: 'Unauthorized',
          message: 'The request you have made requires authentication.',
        },
      },
      { 'www-authenticate': `Keystone uri="${this.base}/identity"` },
    );
    return false;
  }

  // -- Keystone --------------------------------------------------------------------------------

  private catalog(): unknown[] {
    const entry = (type: string, url: string) => ({
      type,
      name: type,
      id: `svc-${type}`,
      endpoints: ['public', 'internal', 'admin'].map((iface) => ({
        id: `${type}-${iface}`,
        interface: iface,
        region: REGION,
        region_id: REGION,
        url: iface === 'public' ? url : `${url.replace('127.0.0.1', `${iface}.invalid`)}`,
      })),
    });
    return [
      entry('identity', `${this.base}/identity/v3`),
      entry('compute', `${this.base}/compute/v2.1`),
      entry('network', `${this.base}/network`),
      entry('image', `${this.base}/image`),
      ...(this.options.extraCatalog ?? []),
    ];
  }

  private identity(r: LoggedRequest, res: http.ServerResponse): void {
    if (r.path === '/v3/auth/tokens' && r.method === 'DELETE') {
      const subject = r.headers['x-subject-token'];
      const t = typeof subject === 'string' ? this.tokens.get(subject) : undefined;
      if (t) t.revoked = true;
      json(res, t ? 204 : 404, undefined);
      return;
    }
    if (r.path !== '/v3/auth/tokens' || r.method !== 'POST') {
      json(res, 404, { error: { code: 404, title: 'Not Found', message: 'no such route' } });
      return;
    }
    const refused = () =>
      json(res, 401, {
        error: {
          code: 401,
          title: 'Unauthorized',
          message: 'The request you have made requires authentication.',
        },
      });
    let body: {
      auth?: {
        identity?: {
          methods?: string[];
          password?: {
            user?: {
              id?: string;
              name?: string;
              password?: string;
              domain?: { name?: string; id?: string };
            };
          };
          application_credential?: { id?: string; secret?: string };
        };
        scope?: {
          project?: { id?: string; name?: string; domain?: { name?: string; id?: string } };
        };
      };
    };
    try {
      body = JSON.parse(r.body);
    } catch {
      json(res, 400, { error: { code: 400, title: 'Bad Request', message: 'Malformed JSON' } });
      return;
    }
    const identity = body.auth?.identity;
    const method = identity?.methods?.[0];
    if (method === 'password') {
      const u = identity?.password?.user;
      const user = this.users.find(
        (x) =>
          (u?.id === x.id ||
            (u?.name === x.name &&
              (u?.domain?.name === x.domain || u?.domain?.id === 'default'))) &&
          u?.password === x.password,
      );
      const p = body.auth?.scope?.project;
      if (!user) {
        refused();
        return;
      }
      if (
        !p ||
        !(p.id === PROJECT_ID || (p.name === 'amphora' && (p.domain?.name || p.domain?.id)))
      ) {
        json(res, 401, { error: { code: 401, title: 'Unauthorized', message: 'scope required' } });
        return;
      }
    } else if (method === 'application_credential') {
      const c = identity?.application_credential;
      if (!this.appCredentials.some((a) => a.id === c?.id && a.secret === c?.secret)) {
        refused();
        return;
      }
      if (body.auth?.scope) {
        json(res, 401, {
          error: { code: 401, title: 'Unauthorized', message: 'app creds carry their scope' },
        });
        return;
      }
    } else {
      refused();
      return;
    }
    const value = `fake-token-${randomUUID()}`;
    const now = Date.now();
    const ttl = this.options.tokenTtlMs ?? 3_600_000;
    this.tokens.set(value, { projectId: PROJECT_ID, expiresAt: now + ttl, revoked: false });
    json(
      res,
      201,
      {
        token: {
          methods: [method],
          issued_at: new Date(now).toISOString(),
          expires_at: new Date(now + ttl).toISOString(),
          project: { id: PROJECT_ID, name: 'amphora', domain: { id: 'default', name: 'Default' } },
          catalog: this.catalog(),
        },
      },
      { 'x-subject-token': value },
    );
  }

  // -- Nova ------------------------------------------------------------------------------------

  private serverStatus(s: Server): { status: string; fault?: string } {
    if (s.outcome === 'stuck' || Date.now() < s.activeAt) return { status: 'BUILD' };
    if (typeof s.outcome === 'object') return { status: 'ERROR', fault: s.outcome.error };
    return { status: s.stopped ? 'SHUTOFF' : 'ACTIVE' };
  }

  private serverJson(s: Server): unknown {
    const { status, fault } = this.serverStatus(s);
    return {
      id: s.id,
      name: s.name,
      status,
      tags: s.tags,
      metadata: s.metadata,
      created: new Date(s.created).toISOString().replace(/\.\d+Z$/, 'Z'),
      'OS-EXT-STS:task_state': status === 'BUILD' ? 'spawning' : null,
      'OS-EXT-AZ:availability_zone': s.zone,
      ...(fault ? { fault: { code: 500, message: fault, created: new Date().toISOString() } } : {}),
    };
  }

  private notFound(res: http.ServerResponse, id: string): void {
    json(res, 404, { itemNotFound: { code: 404, message: `Instance ${id} could not be found.` } });
  }

  private microversion(r: LoggedRequest): number {
    const header = r.headers['openstack-api-version'];
    const match = typeof header === 'string' ? /compute\s+2\.(\d+)/.exec(header) : null;
    return match ? Number(match[1]) : 1;
  }

  private compute(r: LoggedRequest, res: http.ServerResponse): void {
    const m = /^\/v2\.1\/servers(?:\/([^/]+))?(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(r.path);
    if (!m) {
      json(res, 404, { itemNotFound: { code: 404, message: 'no such route' } });
      return;
    }
    const [, id, sub, subId] = m;
    const micro = this.microversion(r);
    if (r.method === 'POST' && id === undefined) {
      this.boot(r, res, micro);
      return;
    }
    if (r.method === 'GET' && id === 'detail') {
      this.listServers(r, res, micro);
      return;
    }
    if (id === undefined) {
      json(res, 404, { itemNotFound: { code: 404, message: 'no such route' } });
      return;
    }
    const server = this.servers.get(id);
    if (!server) {
      this.notFound(res, id);
      return;
    }
    if (r.method === 'GET' && sub === undefined) {
      json(res, 200, { server: this.serverJson(server) });
      return;
    }
    if (r.method === 'DELETE' && sub === undefined) {
      this.servers.delete(id);
      for (const p of [...this.ports.values()]) if (p.deviceId === id) this.ports.delete(p.id);
      json(res, 204, undefined);
      return;
    }
    if (sub === 'os-interface' && r.method === 'GET') {
      const attachments = [...this.ports.values()]
        .filter((p) => p.deviceId === id)
        .map((p) => ({ port_id: p.id, net_id: p.networkId, port_state: 'ACTIVE' }));
      json(res, 200, { interfaceAttachments: attachments });
      return;
    }
    if (sub === 'os-interface' && r.method === 'DELETE' && subId) {
      this.ports.delete(subId);
      json(res, 202, undefined);
      return;
    }
    if (sub === 'action' && r.method === 'POST') {
      this.action(r, res, server, micro);
      return;
    }
    json(res, 405, { badRequest: { code: 405, message: 'method not allowed' } });
  }

  private boot(r: LoggedRequest, res: http.ServerResponse, micro: number): void {
    const body = JSON.parse(r.body) as {
      server?: Record<string, unknown>;
      'os:scheduler_hints'?: Record<string, unknown>;
    };
    const s = body.server;
    if (!s || typeof s.name !== 'string' || typeof s.flavorRef !== 'string') {
      json(res, 400, {
        badRequest: { code: 400, message: 'Invalid input for field/attribute server.' },
      });
      return;
    }
    if (s.tags !== undefined && micro < 52) {
      json(res, 400, {
        badRequest: {
          code: 400,
          message: "Additional properties are not allowed ('tags' was unexpected)",
        },
      });
      return;
    }
    if (typeof s.imageRef !== 'string' || !this.images.has(s.imageRef)) {
      json(res, 400, {
        badRequest: { code: 400, message: `Image ${String(s.imageRef)} could not be found.` },
      });
      return;
    }
    const now = Date.now();
    const outcome = this.bootPlan.shift() ?? 'active';
    const server: Server = {
      id: randomUUID(),
      name: s.name,
      tags: Array.isArray(s.tags) ? (s.tags as string[]) : [],
      metadata: (s.metadata as Record<string, string>) ?? {},
      body: s,
      hints: body['os:scheduler_hints'],
      projectId: PROJECT_ID,
      created: now,
      outcome,
      activeAt: now + (this.options.bootMs ?? 20),
      stopped: false,
      zone: typeof s.availability_zone === 'string' ? s.availability_zone : 'nova',
    };
    this.servers.set(server.id, server);
    const networks = Array.isArray(s.networks) ? (s.networks as Array<{ uuid: string }>) : [];
    for (const n of networks) {
      const portId = randomUUID();
      this.ports.set(portId, { id: portId, deviceId: server.id, networkId: n.uuid });
    }
    json(res, 202, {
      server: { id: server.id, links: [], adminPass: 'fake-admin-pass', security_groups: [] },
    });
  }

  private listServers(r: LoggedRequest, res: http.ServerResponse, micro: number): void {
    const wanted = (r.query.get('tags') ?? '').split(',').filter((t) => t !== '');
    const filter = micro >= 26 && !this.options.ignoreTagsFilter;
    let all = [...this.servers.values()].filter(
      (s) => !filter || wanted.every((t) => s.tags.includes(t)),
    );
    const marker = r.query.get('marker');
    if (marker) {
      const index = all.findIndex((s) => s.id === marker);
      if (index < 0) {
        json(res, 400, { badRequest: { code: 400, message: `marker [${marker}] not found` } });
        return;
      }
      all = all.slice(index + 1);
    }
    const limit = Math.min(Number(r.query.get('limit') ?? 1000), this.options.maxPage ?? 1000);
    const page = all.slice(0, limit);
    json(res, 200, {
      servers: page.map((s) => this.serverJson(s)),
      ...(all.length > limit && page.length > 0
        ? {
            servers_links: [
              {
                rel: 'next',
                href: `${this.base}/compute/v2.1/servers/detail?marker=${page.at(-1)!.id}`,
              },
            ],
          }
        : {}),
    });
  }

  private action(r: LoggedRequest, res: http.ServerResponse, server: Server, micro: number): void {
    const body = JSON.parse(r.body) as Record<string, unknown>;
    const { status } = this.serverStatus(server);
    if ('os-stop' in body) {
      if (status !== 'ACTIVE') {
        const state =
          status === 'SHUTOFF' ? 'vm_state stopped' : `vm_state ${status.toLowerCase()}`;
        json(res, 409, {
          conflictingRequest: {
            code: 409,
            message: `Cannot 'stop' instance ${server.id} while it is in ${state}`,
          },
        });
        return;
      }
      server.stopped = true;
      json(res, 202, undefined);
      return;
    }
    if ('createImage' in body) {
      const ci = body.createImage as { name?: string; metadata?: Record<string, string> };
      const now = Date.now();
      const id = randomUUID();
      this.images.set(id, {
        id,
        name: ci.name ?? '',
        status: 'queued',
        activeAt: now + (this.options.snapshotMs ?? 20),
        tags: [],
        owner: server.projectId,
        created: now,
        properties: { ...ci.metadata, image_type: 'snapshot', instance_uuid: server.id },
      });
      json(res, 202, micro >= 45 ? { image_id: id } : undefined, {
        location: `${this.base}/image/v2/images/${id}`,
      });
      return;
    }
    json(res, 400, { badRequest: { code: 400, message: 'unsupported action' } });
  }

  // -- Neutron ---------------------------------------------------------------------------------

  private network(r: LoggedRequest, res: http.ServerResponse): void {
    if (r.path === '/v2.0/ports' && r.method === 'GET') {
      const device = r.query.get('device_id');
      const ports = [...this.ports.values()]
        .filter((p) => device === null || p.deviceId === device)
        .map((p) => ({
          id: p.id,
          device_id: p.deviceId,
          network_id: p.networkId,
          status: 'ACTIVE',
        }));
      json(res, 200, { ports });
      return;
    }
    const m = /^\/v2\.0\/ports\/([^/]+)$/.exec(r.path);
    if (m && r.method === 'DELETE') {
      const id = m[1]!;
      if (!this.ports.delete(id)) {
        json(res, 404, {
          NeutronError: {
            type: 'PortNotFound',
            message: `Port ${id} could not be found.`,
            detail: '',
          },
        });
        return;
      }
      json(res, 204, undefined);
      return;
    }
    json(res, 404, {
      NeutronError: {
        type: 'HTTPNotFound',
        message: 'The resource could not be found.',
        detail: '',
      },
    });
  }

  // -- Glance ----------------------------------------------------------------------------------

  private imageJson(i: Image): unknown {
    const status = i.status === 'queued' && Date.now() >= i.activeAt ? 'active' : i.status;
    return {
      id: i.id,
      name: i.name,
      status,
      tags: i.tags,
      owner: i.owner,
      visibility: 'private',
      created_at: new Date(i.created).toISOString(),
      ...i.properties,
    };
  }

  private glanceNotFound(r: LoggedRequest, res: http.ServerResponse, id: string): void {
    const accept = r.headers.accept ?? '';
    if (accept.includes('application/json')) {
      json(res, 404, {
        message: `No image found with ID ${id}<br /><br />\n\n\n`,
        code: '404 Not Found',
        title: 'Not Found',
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/html; charset=UTF-8' });
    res.end(
      `<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  No image found with ID ${id}<br /><br />\n\n\n\n </body>\n</html>`,
    );
  }

  private image(r: LoggedRequest, res: http.ServerResponse): void {
    if (r.path === '/v2/images' && r.method === 'GET') {
      const q = r.query;
      let list = [...this.images.values()].map((i) => ({
        i,
        view: this.imageJson(i) as { status: string },
      }));
      const name = q.get('name');
      const tag = q.get('tag');
      const status = q.get('status');
      const owner = q.get('owner');
      if (name !== null) list = list.filter(({ i }) => i.name === name);
      if (tag !== null) list = list.filter(({ i }) => i.tags.includes(tag));
      if (status !== null) list = list.filter(({ view }) => view.status === status);
      if (owner !== null) list = list.filter(({ i }) => i.owner === owner);
      if (q.get('sort') === 'created_at:desc') list.sort((a, b) => b.i.created - a.i.created);
      const marker = q.get('marker');
      if (marker) list = list.slice(list.findIndex(({ i }) => i.id === marker) + 1);
      const limit = Number(q.get('limit') ?? 25);
      const page = list.slice(0, limit);
      json(res, 200, {
        images: page.map(({ view }) => view),
        ...(list.length > limit
          ? { next: `/v2/images?marker=${page.at(-1)!.i.id}&limit=${limit}` }
          : {}),
      });
      return;
    }
    const m = /^\/v2\/images\/([^/]+)$/.exec(r.path);
    if (!m) {
      this.glanceNotFound(r, res, r.path);
      return;
    }
    const id = m[1]!;
    const image = this.images.get(id);
    if (!image) {
      this.glanceNotFound(r, res, id);
      return;
    }
    if (r.method === 'GET') {
      json(res, 200, this.imageJson(image));
      return;
    }
    if (r.method === 'DELETE') {
      this.images.delete(id);
      json(res, 204, undefined);
      return;
    }
    json(res, 405, { message: 'method not allowed', code: '405', title: 'Method Not Allowed' });
  }
}
