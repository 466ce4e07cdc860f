/**
 * Two-pass orphan handling (SPEC §4.6), pure. A server that carries our tag but has no live
 * record is marked on one sweep and removed on a later sweep once the grace period has passed:
 * never on a single observation.
 */
import type { AmphoraRecord } from './amphora.ts';
import type { OrphanMark } from './pool.ts';

/** A server as a sweep lists it. */
export interface SeenServer {
  readonly id: string;
  readonly amphoraId?: string;
}

/** What one sweep decided. */
export interface OrphanDecisions {
  /** Marks to write: new orphans, and orphans seen again that are not yet due. */
  readonly mark: readonly OrphanMark[];
  /** Orphans seen on an earlier sweep too and older than the grace period: delete the server. */
  readonly remove: ReadonlyArray<{ readonly serverId: string; readonly amphoraId?: string }>;
  /** Marks to drop: the server is gone, or a live record owns it again. */
  readonly unmark: readonly string[];
  /** DELETED records whose server was seen alive: their purge must wait (the zombie rule). */
  readonly zombies: readonly string[];
}

/** Whether a live record owns this server. */
export function ownerOf(
  server: SeenServer,
  records: ReadonlyMap<string, AmphoraRecord>,
): AmphoraRecord | undefined {
  if (server.amphoraId === undefined) return undefined;
  const record = records.get(server.amphoraId);
  if (!record || record.state === 'DELETED') return undefined;
  // A record without a server id may still be booting (or have lost the id in a crash): its
  // CREATE/REMOVE task finds servers by tag. A different id makes this server a duplicate.
  if (record.computeId !== undefined && record.computeId !== server.id) return undefined;
  return record;
}

/** Compares the servers a sweep listed with the records and the marks of earlier sweeps. */
export function planOrphans(input: {
  readonly servers: readonly SeenServer[];
  readonly records: ReadonlyMap<string, AmphoraRecord>;
  readonly marks: readonly OrphanMark[];
  readonly now: number;
  readonly graceMs: number;
}): OrphanDecisions {
  const marks = new Map(input.marks.map((m) => [m.serverId, m]));
  const mark: OrphanMark[] = [];
  const remove: Array<{ serverId: string; amphoraId?: string }> = [];
  const zombies = new Set<string>();
  const orphaned = new Set<string>();
  for (const server of input.servers) {
    if (ownerOf(server, input.records)) continue;
    orphaned.add(server.id);
    const record = server.amphoraId ? input.records.get(server.amphoraId) : undefined;
    if (record?.state === 'DELETED') zombies.add(record.id);
    const previous = marks.get(server.id);
    // Removal needs an earlier sweep's sighting as well as this one, and the grace period.
    if (
      previous &&
      previous.lastSeenAt < input.now &&
      input.now - previous.firstSeenAt >= input.graceMs
    ) {
      remove.push({
        serverId: server.id,
        ...(server.amphoraId !== undefined ? { amphoraId: server.amphoraId } : {}),
      });
      continue;
    }
    mark.push({
      serverId: server.id,
      ...(server.amphoraId !== undefined ? { amphoraId: server.amphoraId } : {}),
      firstSeenAt: previous?.firstSeenAt ?? input.now,
      lastSeenAt: input.now,
      sightings: (previous?.sightings ?? 0) + 1,
    });
  }
  const unmark = [...marks.keys()].filter((id) => !orphaned.has(id));
  return { mark, remove, unmark, zombies: [...zombies] };
}
