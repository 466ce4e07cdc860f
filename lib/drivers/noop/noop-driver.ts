/**
 * The noop driver: a simulated cloud that succeeds without OpenStack, and can be told to fail.
 * Its servers, images and fault rules live behind the {@link CloudStateStore} port, never in
 * module memory, so that many executor processes see one consistent cloud (Octavia's own noop
 * driver broke with more than one worker for lack of exactly this).
 */
import { ANY_ZONE, serverName, snapshotName } from '../../domain/amphora.ts';
import {
  AmphoraDriverError,
  type DriverErrorKind,
  driverError,
  driverErrorKind,
  NotFoundError,
  UnavailableError,
} from '../../domain/errors.ts';
import {
  type AmphoraDriver,
  amphoraIdFromTags,
  amphoraTag,
  type BootRequest,
  type BootSpec,
  type CallOptions,
  type ImageInfo,
  poolFromTags,
  poolTag,
  type ResolvedImage,
  type ServerInfo,
  type ServerStatus,
} from '../../ports/amphora-driver.ts';
import type { Clock, IdSource } from '../../ports/clock.ts';
import type { CloudStateStore, Versioned } from '../../ports/cloud-state.ts';

/** The driver operations, as named in fault rules and the call log. */
export const NOOP_OPERATIONS = [
  'createServer',
  'getServer',
  'deleteServer',
  'listServers',
  'unplug',
  'snapshot',
  'getImage',
  'listImages',
  'stopServer',
  'deleteImage',
  'resolveImage',
] as const;
/** A driver operation name. */
export type NoopOperation = (typeof NOOP_OPERATIONS)[number];

/** Make operation `operation` (or every one, `*`) fail with `error`, `times` times or with `probability`. */
export interface FaultRule {
  readonly id: string;
  readonly operation: NoopOperation | '*';
  readonly error: DriverErrorKind;
  /** Fail the next `times` calls, then the rule is spent. */
  readonly times?: number;
  /** Fail each call with this probability (0..1), until cleared. */
  readonly probability?: number;
}

/** How simulated boots behave. */
export interface NoopBootBehaviour {
  /** Seconds from boot request to ACTIVE (or ERROR). */
  readonly bootSeconds: number;
  /** Probability that a boot ends in ERROR. */
  readonly bootFailureRate: number;
  /** Seconds a snapshot image stays `saving` before `active`. */
  readonly snapshotSeconds?: number;
  /** Virtual NICs each server boots with. */
  readonly portsPerServer?: number;
}

/** A call the driver received, for tests. */
export interface NoopCall {
  readonly operation: NoopOperation;
  readonly target?: string;
  readonly at: number;
  readonly outcome: 'ok' | DriverErrorKind;
}

interface SimServer {
  id: string;
  name: string;
  tags: string[];
  /** The compute zone requested, or `*` for none. */
  zone: string;
  /** What it was booted with. */
  spec?: BootSpec;
  createdAt: number;
  readyAt: number;
  bootFails: boolean;
  stopped: boolean;
  /** Put in ERROR on command (`housekeeper noop break`), whatever its boot did. */
  broken?: boolean;
  ports: string[];
}

interface SimImage {
  id: string;
  name: string;
  amphoraId: string;
  serverId: string;
  activeAt: number;
}

/** An image published to the simulated catalogue, to boot from (not a snapshot). */
interface SimBaseImage {
  id: string;
  name: string;
  tags: string[];
  ownerId?: string;
  createdAt: number;
}

const SERVER = 'server/';
/** `byamphora/<amphoraId>/<serverId>`: finds an amphora's servers without listing the cloud. */
const BY_AMPHORA = 'byamphora/';
const IMAGE = 'image/';
const BASE_IMAGE = 'base-image/';
const FAULT = 'fault/';

/**
 * How long a driver trusts the fault rules it last read, in ms of its clock. Within one process
 * a change through {@link NoopCloudControl} on the same store applies at once; from another
 * process (`housekeeper noop fault` beside `housekeeper local`, or the deployed executors) it
 * applies within this bound. It is safe because a `times` rule is consumed by a conditional
 * write on the stored rule, so a stale list never applies one more often than injected, nor
 * after it was cleared; only a new rule, or a cleared `probability` rule, waits out the bound.
 * One second is below anything that watches faults: SQS redelivery and the executors' retry
 * delays are seconds, the planner's interval a minute, and an operator cannot tell it apart.
 * The cost is one listing per second per process instead of one per driver call.
 */
export const FAULT_RULES_MAX_AGE_MS = 1_000;

/** The fault rules last read from each store: shared by the drivers and controls of a process. */
const faultRulesRead = new WeakMap<
  CloudStateStore,
  { readonly at: number; readonly rules: Versioned[] }
>();
/** The listing of fault rules in flight per store: concurrent calls, expiring together, share it. */
const faultRulesReading = new WeakMap<CloudStateStore, Promise<Versioned[]>>();

/** Makes the drivers of this process over `state` list the fault rules again on their next call. */
function forgetFaultRules(state: CloudStateStore): void {
  faultRulesRead.delete(state);
  faultRulesReading.delete(state);
}

/** The newest published image with `tag` (of `ownerId`, when given). */
function newestWithTag(
  entries: readonly Versioned[],
  tag: string,
  ownerId?: string,
): SimBaseImage | undefined {
  return entries
    .map((e) => e.value as SimBaseImage)
    .filter((i) => i.tags.includes(tag) && (ownerId === undefined || i.ownerId === ownerId))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))[0];
}

/** Deletes a simulated server and its index entry. @throws NotFoundError when it is absent. */
async function removeServer(state: CloudStateStore, serverId: string): Promise<void> {
  const entry = await state.delete(SERVER + serverId);
  if (!entry) throw new NotFoundError(`server ${serverId} not found`);
  const amphoraId = amphoraIdFromTags((entry.value as SimServer).tags);
  if (amphoraId !== undefined) await state.delete(`${BY_AMPHORA}${amphoraId}/${serverId}`);
}

/** The noop driver's dependencies. */
export interface NoopDriverDeps {
  readonly state: CloudStateStore;
  readonly clock: Clock;
  readonly newId: IdSource;
  readonly random?: () => number;
}

/** A simulated cloud implementing the whole driver contract. */
export class NoopDriver implements AmphoraDriver {
  readonly name = 'noop';
  /** Every call this instance received, in order. */
  readonly calls: NoopCall[] = [];
  private readonly deps: Required<NoopDriverDeps>;
  private readonly ownershipTag: string;
  private readonly boot: Required<NoopBootBehaviour>;

  constructor(deps: NoopDriverDeps, ownershipTag: string, boot: NoopBootBehaviour) {
    this.deps = { random: Math.random, ...deps };
    this.ownershipTag = ownershipTag;
    this.boot = { snapshotSeconds: 0, portsPerServer: 1, ...boot };
  }

  async createServer(request: BootRequest, options?: CallOptions): Promise<ServerInfo> {
    return this.call('createServer', request.amphoraId, options, async () => {
      const now = this.deps.clock.now();
      const server: SimServer = {
        id: this.deps.newId(),
        name: serverName(request.amphoraId),
        tags: [this.ownershipTag, amphoraTag(request.amphoraId), poolTag(request.pool)],
        zone: request.computeZone ?? ANY_ZONE,
        spec: { ...request.spec },
        createdAt: now,
        readyAt: now + this.boot.bootSeconds * 1000,
        bootFails: this.deps.random() < this.boot.bootFailureRate,
        stopped: false,
        ports: Array.from({ length: this.boot.portsPerServer }, () => this.deps.newId()),
      };
      // The lookup entry first: a crash in between leaves an entry without a server, which
      // lookups skip, never a server that lookups cannot find.
      await this.deps.state.put(`${BY_AMPHORA}${request.amphoraId}/${server.id}`, true, 'absent');
      if (!(await this.deps.state.put(SERVER + server.id, server, 'absent'))) {
        throw new AmphoraDriverError(
          `server id ${server.id} already exists in the simulated cloud`,
        );
      }
      return this.view(server);
    });
  }

  async getServer(serverId: string, options?: CallOptions): Promise<ServerInfo> {
    return this.call('getServer', serverId, options, async () =>
      this.view((await this.server(serverId)).value),
    );
  }

  async deleteServer(serverId: string, options?: CallOptions): Promise<void> {
    return this.call('deleteServer', serverId, options, async () => {
      await removeServer(this.deps.state, serverId);
    });
  }

  async listServers(filter?: { amphoraId?: string }, options?: CallOptions): Promise<ServerInfo[]> {
    return this.call('listServers', filter?.amphoraId, options, async () => {
      const amphoraId = filter?.amphoraId;
      let servers: SimServer[];
      if (amphoraId === undefined) {
        servers = (await this.deps.state.list(SERVER)).map((e) => e.value as SimServer);
      } else {
        const prefix = `${BY_AMPHORA}${amphoraId}/`;
        const ids = (await this.deps.state.list(prefix)).map((e) => e.key.slice(prefix.length));
        const found = await Promise.all(ids.map((id) => this.deps.state.get(SERVER + id)));
        servers = found.flatMap((e) => (e ? [e.value as SimServer] : []));
      }
      return servers
        .filter((s) => s.tags.includes(this.ownershipTag))
        .filter((s) => amphoraId === undefined || s.tags.includes(amphoraTag(amphoraId)))
        .map((s) => this.view(s));
    });
  }

  async resolveImage(
    query: { readonly tag: string; readonly ownerId?: string },
    options?: CallOptions,
  ): Promise<ResolvedImage> {
    return this.call('resolveImage', query.tag, options, async () => {
      const newest = newestWithTag(
        await this.deps.state.list(BASE_IMAGE),
        query.tag,
        query.ownerId,
      );
      if (!newest) {
        throw new NotFoundError(
          `no active image tagged ${query.tag}${query.ownerId ? ` owned by ${query.ownerId}` : ''} in the simulated cloud`,
        );
      }
      return { id: newest.id, name: newest.name, createdAt: newest.createdAt };
    });
  }

  async unplug(serverId: string, options?: CallOptions): Promise<void> {
    return this.call('unplug', serverId, options, async () => {
      await this.mutateServer(serverId, (s) => ({ ...s, ports: [] }));
    });
  }

  async snapshot(
    serverId: string,
    request: { amphoraId: string },
    options?: CallOptions,
  ): Promise<{ imageId: string }> {
    return this.call('snapshot', serverId, options, async () => {
      await this.server(serverId);
      const now = this.deps.clock.now();
      const image: SimImage = {
        id: this.deps.newId(),
        name: snapshotName(request.amphoraId),
        amphoraId: request.amphoraId,
        serverId,
        activeAt: now + this.boot.snapshotSeconds * 1000,
      };
      await this.deps.state.put(IMAGE + image.id, image, 'absent');
      return { imageId: image.id };
    });
  }

  async getImage(imageId: string, options?: CallOptions): Promise<ImageInfo> {
    return this.call('getImage', imageId, options, async () => {
      const entry = await this.deps.state.get(IMAGE + imageId);
      if (!entry) throw new NotFoundError(`image ${imageId} not found`);
      return this.imageView(entry.value as SimImage);
    });
  }

  async listImages(filter: { amphoraId: string }, options?: CallOptions): Promise<ImageInfo[]> {
    return this.call('listImages', filter.amphoraId, options, async () =>
      (await this.deps.state.list(IMAGE))
        .map((e) => e.value as SimImage)
        .filter((i) => i.amphoraId === filter.amphoraId)
        .map((i) => this.imageView(i)),
    );
  }

  async stopServer(serverId: string, options?: CallOptions): Promise<void> {
    return this.call('stopServer', serverId, options, async () => {
      await this.mutateServer(serverId, (s) => ({ ...s, stopped: true }));
    });
  }

  async deleteImage(imageId: string, options?: CallOptions): Promise<void> {
    return this.call('deleteImage', imageId, options, async () => {
      if (!(await this.deps.state.delete(IMAGE + imageId))) {
        throw new NotFoundError(`image ${imageId} not found`);
      }
    });
  }

  // -- helpers ---------------------------------------------------------------------------------

  private async call<T>(
    operation: NoopOperation,
    target: string | undefined,
    options: CallOptions | undefined,
    body: () => Promise<T>,
  ): Promise<T> {
    const at = this.deps.clock.now();
    const record = (outcome: NoopCall['outcome']) =>
      this.calls.push({ operation, ...(target !== undefined ? { target } : {}), at, outcome });
    try {
      if (options?.signal?.aborted) {
        throw new UnavailableError(`${operation} aborted before it was sent`, {
          cause: options.signal.reason,
        });
      }
      const fault = await this.takeFault(operation);
      if (fault) throw driverError(fault, `injected ${fault} on ${operation}`);
      const result = await body();
      record('ok');
      return result;
    } catch (error) {
      record(driverErrorKind(error) ?? 'AmphoraDriverError');
      throw error;
    }
  }

  /** Consumes one application of a matching fault rule, atomically across processes. */
  private async takeFault(operation: NoopOperation): Promise<DriverErrorKind | undefined> {
    for (const listed of await this.faultRules()) {
      const rule = listed.value as FaultRule;
      if (rule.operation !== '*' && rule.operation !== operation) continue;
      if (rule.probability !== undefined) {
        if (this.deps.random() < rule.probability) return rule.error;
        continue;
      }
      // A conditional write decides which process consumes each application of the rule; the
      // loser re-reads the rule and tries again while applications are left.
      for (let entry: Versioned | undefined = listed; ; ) {
        const left = entry ? ((entry.value as FaultRule).times ?? 0) : 0;
        if (!entry || left <= 0) {
          this.rememberRule(listed.key, undefined);
          break;
        }
        const next = { ...rule, times: left - 1 };
        const taken =
          left === 1
            ? await this.deps.state.delete(entry.key, entry.version)
            : await this.deps.state.put(entry.key, next, entry.version);
        if (taken) {
          this.rememberRule(
            entry.key,
            left === 1 ? undefined : { key: entry.key, value: next, version: entry.version + 1 },
          );
          return rule.error;
        }
        entry = await this.deps.state.get(entry.key);
      }
    }
    return undefined;
  }

  /** The fault rules, listed at most every {@link FAULT_RULES_MAX_AGE_MS}: no faults, no request. */
  private async faultRules(): Promise<readonly Versioned[]> {
    const now = this.deps.clock.now();
    const read = faultRulesRead.get(this.deps.state);
    if (read && now >= read.at && now - read.at < FAULT_RULES_MAX_AGE_MS) return read.rules;
    const state = this.deps.state;
    let reading = faultRulesReading.get(state);
    if (!reading) {
      const listing: Promise<Versioned[]> = state.list(FAULT).then(
        (rules) => {
          // A change through this process's control since the listing began voids it.
          if (faultRulesReading.get(state) === listing) {
            faultRulesRead.set(state, { at: now, rules });
            faultRulesReading.delete(state);
          }
          return rules;
        },
        (error: unknown) => {
          if (faultRulesReading.get(state) === listing) faultRulesReading.delete(state);
          throw error;
        },
      );
      reading = listing;
      faultRulesReading.set(state, listing);
    }
    return reading;
  }

  /** Keeps the remembered rules in step with a rule this process consumed (or found gone). */
  private rememberRule(key: string, entry: Versioned | undefined): void {
    const read = faultRulesRead.get(this.deps.state);
    if (!read) return;
    const rules = read.rules.flatMap((r) => (r.key !== key ? [r] : entry ? [entry] : []));
    faultRulesRead.set(this.deps.state, { at: read.at, rules });
  }

  private async server(serverId: string): Promise<{ value: SimServer; version: number }> {
    const entry = await this.deps.state.get(SERVER + serverId);
    if (!entry) throw new NotFoundError(`server ${serverId} not found`);
    return { value: entry.value as SimServer, version: entry.version };
  }

  private async mutateServer(serverId: string, change: (s: SimServer) => SimServer): Promise<void> {
    for (;;) {
      const { value, version } = await this.server(serverId);
      if (await this.deps.state.put(SERVER + serverId, change(value), version)) return;
    }
  }

  private view(s: SimServer): ServerInfo {
    const booted = this.deps.clock.now() >= s.readyAt;
    let status: ServerStatus = 'BUILD';
    if (booted) status = s.bootFails ? 'ERROR' : s.stopped ? 'SHUTOFF' : 'ACTIVE';
    if (s.broken) status = 'ERROR';
    const amphoraId = amphoraIdFromTags(s.tags);
    const pool = poolFromTags(s.tags);
    return {
      id: s.id,
      name: s.name,
      ...(amphoraId !== undefined ? { amphoraId } : {}),
      ...(pool !== undefined ? { pool } : {}),
      status,
      ...(booted && s.bootFails ? { fault: 'simulated boot failure (noop driver)' } : {}),
      ...(s.broken ? { fault: 'put in ERROR on command (noop driver)' } : {}),
      createdAt: s.createdAt,
      zone: s.zone,
    };
  }

  private imageView(i: SimImage): ImageInfo {
    return {
      id: i.id,
      name: i.name,
      amphoraId: i.amphoraId,
      status: this.deps.clock.now() >= i.activeAt ? 'active' : 'saving',
    };
  }
}

/** Operator and test control over a noop cloud: fault injection and inspection. */
export class NoopCloudControl {
  private readonly state: CloudStateStore;
  private readonly newId: IdSource;

  constructor(state: CloudStateStore, newId: IdSource) {
    this.state = state;
    this.newId = newId;
  }

  /** Adds a fault rule; returns it with its id. */
  async injectFault(rule: Omit<FaultRule, 'id'>): Promise<FaultRule> {
    if ((rule.times === undefined) === (rule.probability === undefined)) {
      throw new RangeError('a fault rule needs exactly one of times and probability');
    }
    if (rule.times !== undefined && !(Number.isInteger(rule.times) && rule.times >= 1)) {
      throw new RangeError(`times = ${rule.times}: must be a whole number of at least 1`);
    }
    if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
      throw new RangeError(`probability = ${rule.probability}: must be between 0 and 1`);
    }
    const full: FaultRule = { id: this.newId(), ...rule };
    await this.state.put(FAULT + full.id, full, 'absent');
    forgetFaultRules(this.state);
    return full;
  }

  /** Removes every fault rule. */
  async clearFaults(): Promise<void> {
    for (const e of await this.state.list(FAULT)) await this.state.delete(e.key);
    forgetFaultRules(this.state);
  }

  /** The active fault rules. */
  async faults(): Promise<FaultRule[]> {
    return (await this.state.list(FAULT)).map((e) => e.value as FaultRule);
  }

  /** Ids of every simulated server, ours or not. */
  async serverIds(): Promise<string[]> {
    return (await this.state.list(SERVER)).map((e) => e.key.slice(SERVER.length));
  }

  /** Ports still attached to a server (for unplug checks). */
  async portCount(serverId: string): Promise<number> {
    const entry = await this.state.get(SERVER + serverId);
    if (!entry) throw new NotFoundError(`server ${serverId} not found`);
    return (entry.value as SimServer).ports.length;
  }

  /** Publishes an image with `tags` to the simulated catalogue: the newest one wins a tag. */
  async publishImage(
    input: { readonly tags: readonly string[]; readonly name?: string; readonly ownerId?: string },
    now: number,
  ): Promise<string> {
    const id = this.newId();
    const image: SimBaseImage = {
      id,
      name: input.name ?? `amphora-image-${id.slice(0, 8)}`,
      tags: [...input.tags],
      ...(input.ownerId !== undefined ? { ownerId: input.ownerId } : {}),
      createdAt: now,
    };
    await this.state.put(BASE_IMAGE + id, image, 'absent');
    return id;
  }

  /** The newest image carrying `tag` in the simulated catalogue, if any. */
  async newestImage(tag: string): Promise<string | undefined> {
    return newestWithTag(await this.state.list(BASE_IMAGE), tag)?.id;
  }

  /** What a simulated server was booted with, and its tags. */
  async server(serverId: string): Promise<{ spec?: BootSpec; tags: string[]; zone: string }> {
    const entry = await this.state.get(SERVER + serverId);
    if (!entry) throw new NotFoundError(`server ${serverId} not found`);
    const s = entry.value as SimServer;
    return { ...(s.spec ? { spec: s.spec } : {}), tags: [...s.tags], zone: s.zone };
  }

  /** Ids of every simulated image. */
  async imageIds(): Promise<string[]> {
    return (await this.state.list(IMAGE)).map((e) => e.key.slice(IMAGE.length));
  }

  /**
   * Deletes a server behind the housekeeper's back (`housekeeper noop lose`), as an operator's
   * `openstack server delete` would. @throws NotFoundError when there is no such server.
   */
  async loseServer(serverId: string): Promise<void> {
    await removeServer(this.state, serverId);
  }

  /**
   * Puts a server in Nova ERROR behind the housekeeper's back (`housekeeper noop break`).
   * @throws NotFoundError when there is no such server.
   */
  async breakServer(serverId: string): Promise<void> {
    for (;;) {
      const entry = await this.state.get(SERVER + serverId);
      if (!entry) throw new NotFoundError(`server ${serverId} not found in the simulated cloud`);
      const broken: SimServer = { ...(entry.value as SimServer), broken: true };
      if (await this.state.put(SERVER + serverId, broken, entry.version)) return;
    }
  }

  /** Ids of the servers put in ERROR on command. */
  async brokenServerIds(): Promise<string[]> {
    return (await this.state.list(SERVER))
      .filter((e) => (e.value as SimServer).broken === true)
      .map((e) => e.key.slice(SERVER.length));
  }

  /** Boots a server carrying `tags` directly, bypassing the housekeeper: for orphan tests. */
  async plantServer(tags: readonly string[], now: number): Promise<string> {
    const id = this.newId();
    const server: SimServer = {
      id,
      name: `planted-${id}`,
      tags: [...tags],
      zone: '*',
      createdAt: now,
      readyAt: now,
      bootFails: false,
      stopped: false,
      ports: [],
    };
    await this.state.put(SERVER + id, server, 'absent');
    return id;
  }
}
