/**
 * The driver contract: everything an executor asks of a cloud. Drivers raise only the seed's
 * exception model (`AmphoraDriverError` and its subclasses in `domain/errors.ts`).
 */

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

/** What to boot. Image, flavor, networks and the rest come from the driver's own configuration. */
export interface BootRequest {
  readonly amphoraId: string;
  /** Availability zone, or `*` for none. */
  readonly zone: string;
}

/** The operations of an amphora driver. */
export interface AmphoraDriver {
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
  /** The servers carrying our ownership tag; only those of one amphora when `amphoraId` is given. */
  listServers(filter?: { amphoraId?: string }, options?: CallOptions): Promise<ServerInfo[]>;
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

/** The tag that carries an amphora id on its server (Nova tags: ≤ 60 chars, no `,` or `/`). */
export function amphoraTag(amphoraId: string): string {
  return `${AMPHORA_TAG_PREFIX}${amphoraId}`;
}

/** Prefix of the per-amphora tag; distinct from any ownership tag, which may not contain `:`. */
export const AMPHORA_TAG_PREFIX = 'amphora-id:';

/** Reads an amphora id back from a server's tags, if one of them is an amphora tag. */
export function amphoraIdFromTags(tags: readonly string[]): string | undefined {
  for (const tag of tags) {
    if (tag.startsWith(AMPHORA_TAG_PREFIX) && tag.length > AMPHORA_TAG_PREFIX.length) {
      return tag.slice(AMPHORA_TAG_PREFIX.length);
    }
  }
  return undefined;
}
