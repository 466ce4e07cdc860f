/**
 * The driver contract: everything an executor asks of a cloud. Drivers raise only the seed's
 * exception model (`AmphoraDriverError` and its subclasses in `domain/errors.ts`). A driver
 * keeps only the cloud connection; what to boot travels in each request.
 */
import type { BootSpec } from '../domain/execution.ts';

export type { BootSpec } from '../domain/execution.ts';

/** Per-call options every driver method honours. */
export interface CallOptions {
  /** Aborts the call, e.g. just before the Lambda times out; an aborted call is `UnavailableError`. */
  readonly signal?: AbortSignal;
}

/** Server status as the housekeeper sees it (Nova's statuses, folded). */
export type ServerStatus = 'BUILD' | 'ACTIVE' | 'ERROR' | 'SHUTOFF' | 'DELETING' | 'OTHER';

/** A compute server the driver made. */
export interface ServerInfo {
  readonly id: string;
  readonly name: string;
  /** The amphora id read back from the server's tags or name; absent for foreign names. */
  readonly amphoraId?: string;
  /** The pool read back from the server's tags; absent on servers booted before pools. */
  readonly pool?: string;
  readonly status: ServerStatus;
  /** Nova's fault message when the status is ERROR. */
  readonly fault?: string;
  /** Epoch ms the server was created, when the cloud reports it. */
  readonly createdAt?: number;
  readonly zone?: string;
}

/** Glance image status (Glance's own words). */
export type ImageStatus =
  | 'queued'
  | 'saving'
  | 'active'
  | 'killed'
  | 'deleted'
  | 'pending_delete'
  | 'deactivated'
  | 'uploading'
  | 'importing';

/** A snapshot image of an amphora. */
export interface ImageInfo {
  readonly id: string;
  readonly name: string;
  readonly status: ImageStatus;
  readonly amphoraId?: string;
}

/** What to boot: the amphora, its pool and zone, and its launch spec. */
export interface BootRequest {
  readonly amphoraId: string;
  /** The pool, carried as a tag on the server. */
  readonly pool: string;
  /** The compute zone to request, or none. */
  readonly computeZone?: string;
  readonly spec: BootSpec;
}

/** The newest active image carrying a tag. */
export interface ResolvedImage {
  readonly id: string;
  readonly name: string;
  /** Epoch ms it was created, when the cloud reports it. */
  readonly createdAt?: number;
}

/** The lifecycle operations of an amphora driver: boot, look, list, delete. */
export interface AmphoraLifecycle {
  /** `openstack` or `noop`. */
  readonly name: string;
  /**
   * Boots one server named and tagged with the amphora id and the ownership tag. Not
   * idempotent by itself: callers look for an existing server with {@link listServers} first.
   */
  createServer(request: BootRequest, options?: CallOptions): Promise<ServerInfo>;
  /** The server's current status. @throws NotFoundError when it does not exist. */
  getServer(serverId: string, options?: CallOptions): Promise<ServerInfo>;
  /**
   * Deletes a server. @throws NotFoundError when it is already gone, DeleteFailedError when the
   * cloud refuses or fails the deletion.
   */
  deleteServer(serverId: string, options?: CallOptions): Promise<void>;
  /**
   * The servers carrying our ownership tag; only those of one amphora when `amphoraId` is given
   * (a lookup by that amphora's own tag: it never lists the pool).
   */
  listServers(filter?: { amphoraId?: string }, options?: CallOptions): Promise<ServerInfo[]>;
  /**
   * The newest active image with `tag` (of `ownerId`, when given).
   * @throws NotFoundError when no active image carries it.
   */
  resolveImage(
    query: { readonly tag: string; readonly ownerId?: string },
    options?: CallOptions,
  ): Promise<ResolvedImage>;
}

/** The preservation operations of an amphora driver: unplug, snapshot, stop. */
export interface AmphoraPreservation {
  /** Detaches every virtual NIC of the server and confirms that none remains. Idempotent. */
  unplug(serverId: string, options?: CallOptions): Promise<void>;
  /** Requests a snapshot image of the server; returns at once with the image id. */
  snapshot(
    serverId: string,
    request: { amphoraId: string },
    options?: CallOptions,
  ): Promise<{ imageId: string }>;
  /** The image's status. @throws NotFoundError when it does not exist. */
  getImage(imageId: string, options?: CallOptions): Promise<ImageInfo>;
  /** The snapshot images made of one amphora. */
  listImages(filter: { amphoraId: string }, options?: CallOptions): Promise<ImageInfo[]>;
  /** Stops the server; a server that is already stopped counts as done. */
  stopServer(serverId: string, options?: CallOptions): Promise<void>;
  /** Deletes an image. @throws NotFoundError when it is already gone. */
  deleteImage(imageId: string, options?: CallOptions): Promise<void>;
}

/** Every operation of an amphora driver. */
export interface AmphoraDriver extends AmphoraLifecycle, AmphoraPreservation {}

/** Prefix of the tag that carries a server's pool. */
export const POOL_TAG_PREFIX = 'amphora-pool:';

/** The tag that carries a pool's name on its servers. */
export function poolTag(pool: string): string {
  return `${POOL_TAG_PREFIX}${pool}`;
}

/** The tag that carries an amphora id on its server (Nova tags: ≤ 60 chars, no `,` or `/`). */
export function amphoraTag(amphoraId: string): string {
  return `${AMPHORA_TAG_PREFIX}${amphoraId}`;
}

/** Prefix of the per-amphora tag; distinct from any ownership tag, which may not contain `:`. */
export const AMPHORA_TAG_PREFIX = 'amphora-id:';

/** Reads a pool back from a server's tags, if one of them is a pool tag. */
export function poolFromTags(tags: readonly string[]): string | undefined {
  const tag = tags.find((t) => t.startsWith(POOL_TAG_PREFIX) && t.length > POOL_TAG_PREFIX.length);
  return tag?.slice(POOL_TAG_PREFIX.length);
}

/** Reads an amphora id back from a server's tags, if one of them is an amphora tag. */
export function amphoraIdFromTags(tags: readonly string[]): string | undefined {
  for (const tag of tags) {
    if (tag.startsWith(AMPHORA_TAG_PREFIX) && tag.length > AMPHORA_TAG_PREFIX.length) {
      return tag.slice(AMPHORA_TAG_PREFIX.length);
    }
  }
  return undefined;
}
