/**
 * The item layout of the pool table: key formats and the mapping between domain data and items.
 * docs/dynamodb-table.md shows every item kind and the access pattern each key serves.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  BY_EXPIRY,
  BY_ID,
  BY_STATE_AGE,
  BY_STATE_ZONE,
  POOL_TABLE,
  PRESERVED_QUEUE,
} from '../../config/deployment.ts';
import {
  AMPHORA_STATES,
  type AmphoraRecord,
  type AmphoraState,
  normalizeRecord,
  PRESERVED_STATES,
} from '../../domain/amphora.ts';

/** A DynamoDB item or key. */
export type Item = Record<string, AttributeValue>;

/** Attribute names used in items besides the table and index keys. */
export const ATTR = {
  pk: POOL_TABLE.partitionKey.name,
  sk: POOL_TABLE.sortKey.name,
  state: BY_STATE_ZONE.partitionKey.name,
  zoneAge: BY_STATE_ZONE.sortKey.name,
  age: BY_STATE_AGE.sortKey.name,
  queue: PRESERVED_QUEUE.partitionKey.name,
  queueSeq: PRESERVED_QUEUE.sortKey.name,
  expiry: BY_EXPIRY.partitionKey.name,
  expiryAt: BY_EXPIRY.sortKey.name,
  idShard: BY_ID.partitionKey.name,
  id: BY_ID.sortKey.name,
  ttl: POOL_TABLE.timeToLiveAttribute,
  /** The amphora record, whole, as a map. */
  record: 'record',
  /** A counter item's revision: grows with every change, so a repair can detect a race. */
  rev: 'rev',
} as const;

const RECORD_SK = 'RECORD';

/** The one partition of the sparse preserved-queue index. */
export const PRESERVED_QUEUE_PARTITION = 'PRESERVED';

/** The one partition of the sparse expiry index. */
export const EXPIRY_PARTITION = 'DELETED';

/**
 * How long after a record's `expiresAt` the table's TTL may delete it. The planner purges
 * expired records itself (moving the counters with them); TTL is only the safety net for a
 * planner that stopped running, and a TTL purge leaves the counters to `repairCounts`.
 */
export const TTL_GRACE_MS = 86_400_000;

/** The key of an amphora record. */
export function recordKey(amphoraId: string): Item {
  return { [ATTR.pk]: { S: `AMPHORA#${amphoraId}` }, [ATTR.sk]: { S: RECORD_SK } };
}

/** The key of the planner lease: one item, so every planner races on the same condition. */
export const LEASE_KEY: Item = { [ATTR.pk]: { S: 'LEASE' }, [ATTR.sk]: { S: 'PLANNER' } };

/** The partition holding the pool state: zone counters and statistics, images, sweep schedule. */
export const POOL_PARTITION = 'POOL';

/** Sort-key prefixes of the items in {@link POOL_PARTITION}. */
export const ZONE_PREFIX = 'ZONE#';
export const IMAGE_PREFIX = 'IMAGE#';

/** The key of one zone's counters and creation statistics. */
export function zoneKey(pool: string, zone: string): Item {
  return {
    [ATTR.pk]: { S: POOL_PARTITION },
    [ATTR.sk]: { S: `${ZONE_PREFIX}${escapeKeyPart(pool)}#${escapeKeyPart(zone)}` },
  };
}

/** The key of a pool's resolved image. */
export function imageKey(pool: string): Item {
  return {
    [ATTR.pk]: { S: POOL_PARTITION },
    [ATTR.sk]: { S: `${IMAGE_PREFIX}${escapeKeyPart(pool)}` },
  };
}

/** The key of the cloud's health (the breaker). */
export const CLOUD_KEY: Item = { [ATTR.pk]: { S: POOL_PARTITION }, [ATTR.sk]: { S: 'CLOUD' } };

/** The key of the sweep schedule. */
export const SWEEP_KEY: Item = { [ATTR.pk]: { S: POOL_PARTITION }, [ATTR.sk]: { S: 'SWEEP' } };

/** The partition holding every orphan mark, sorted by server id. */
export const ORPHAN_PARTITION = 'ORPHAN';

/** The key of one orphan mark. */
export function orphanKey(serverId: string): Item {
  return { [ATTR.pk]: { S: ORPHAN_PARTITION }, [ATTR.sk]: { S: serverId } };
}

/** The attribute of a zone item counting records in `state`. */
export function countAttr(state: AmphoraState): string {
  return `c_${state}`;
}

/** Width of a sortable time: every safe integer has at most 16 digits. */
const TIME_WIDTH = 16;

/**
 * A time as a fixed-width string, so that string order in a sort key is time order.
 * @throws RangeError for a negative or fractional time, which would sort wrongly.
 */
export function sortableTime(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new RangeError(`a stored time must be a non-negative integer of ms, got ${ms}`);
  }
  return String(ms).padStart(TIME_WIDTH, '0');
}

// ":" and "#" separate the parts of keys, so names are escaped to never contain one.
function escapeKeyPart(name: string): string {
  return name.replaceAll('%', '%25').replaceAll(':', '%3A').replaceAll('#', '%23');
}

function unescapeKeyPart(encoded: string): string {
  return encoded.replaceAll('%3A', ':').replaceAll('%23', '#').replaceAll('%25', '%');
}

/** The index partition of one pool's records in one state. */
export function statePartition(pool: string, state: AmphoraState): string {
  return `${escapeKeyPart(pool)}#${state}`;
}

/** The sort-key prefix of one zone in {@link BY_STATE_ZONE}. */
export function zonePrefix(zone: string): string {
  return `${escapeKeyPart(zone)}:`;
}

/** Shards of {@link BY_ID}; a record's shard follows from its id's first character alone. */
export const ID_SHARDS: readonly string[] = Array.from(
  { length: 16 },
  (_, i) => `ID#${i.toString(16)}`,
);

/** The id shard of {@link BY_ID} of an id, or of any prefix of it. */
export function idShard(idOrPrefix: string): string {
  return `ID#${((idOrPrefix.codePointAt(0) ?? 0) % 16).toString(16)}`;
}

/** The TTL attribute value (epoch seconds) a record must carry, or `undefined` for none. */
export function ttlSeconds(record: AmphoraRecord): number | undefined {
  // Only DELETED records may ever be purged: a TTL on a live record would lose track of a server.
  // Rounding up keeps the purge at or after expiresAt, never before (the zombie rule).
  if (record.state !== 'DELETED' || record.expiresAt === undefined) return undefined;
  return Math.ceil((record.expiresAt + TTL_GRACE_MS) / 1000);
}

/** The item of a record: the record itself plus the index keys and TTL it implies. */
export function recordItem(record: AmphoraRecord): Item {
  const since = sortableTime(record.stateSince);
  const item: Item = {
    ...recordKey(record.id),
    [ATTR.state]: { S: statePartition(record.pool, record.state) },
    [ATTR.zoneAge]: { S: `${zonePrefix(record.zone)}${since}:${record.id}` },
    [ATTR.age]: { S: `${since}:${record.id}` },
    [ATTR.idShard]: { S: idShard(record.id) },
    [ATTR.id]: { S: record.id },
    [ATTR.record]: { M: marshall(record, { removeUndefinedValues: true }) },
  };
  if (record.preservation && PRESERVED_STATES.includes(record.state)) {
    item[ATTR.queue] = { S: PRESERVED_QUEUE_PARTITION };
    item[ATTR.queueSeq] = { S: record.preservation.seq };
  }
  if (record.state === 'DELETED' && record.expiresAt !== undefined) {
    item[ATTR.expiry] = { S: EXPIRY_PARTITION };
    item[ATTR.expiryAt] = { S: `${sortableTime(record.expiresAt)}:${record.id}` };
  }
  const ttl = ttlSeconds(record);
  if (ttl !== undefined) item[ATTR.ttl] = { N: String(ttl) };
  return item;
}

/** The record stored in an item (records from before pools read as pool `default`). */
export function recordFromItem(item: Item): AmphoraRecord {
  const stored = item[ATTR.record];
  if (!stored?.M) throw new Error(`item ${JSON.stringify(item[ATTR.pk])} holds no record`);
  return normalizeRecord(unmarshall(stored.M) as AmphoraRecord);
}

/** The pool and zone of a zone item's sort key. */
export function zoneOfKey(sk: string): { pool: string; zone: string } {
  const [pool, zone] = sk.slice(ZONE_PREFIX.length).split('#') as [string, string];
  return { pool: unescapeKeyPart(pool), zone: unescapeKeyPart(zone) };
}

/** The pool of an image item's sort key. */
export function poolOfImageKey(sk: string): string {
  return unescapeKeyPart(sk.slice(IMAGE_PREFIX.length));
}

/** The counts a zone item holds. */
export function countsOfItem(data: Record<string, unknown>): Partial<Record<AmphoraState, number>> {
  const counts: Partial<Record<AmphoraState, number>> = {};
  for (const state of AMPHORA_STATES) {
    const n = data[countAttr(state)];
    if (typeof n === 'number' && n !== 0) counts[state] = n;
  }
  return counts;
}
