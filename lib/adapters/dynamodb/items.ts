/**
 * The item layout of the pool table: key formats and the mapping between domain data and items.
 * docs/dynamodb-table.md shows every item kind and the access pattern each key serves.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { type AmphoraRecord, PRESERVED_STATES } from '../../domain/amphora.ts';
import { BY_STATE_AGE, BY_STATE_ZONE, POOL_TABLE, PRESERVED_QUEUE } from './table.ts';

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
  ttl: POOL_TABLE.timeToLiveAttribute,
  /** The amphora record, whole, as a map. */
  record: 'record',
} as const;

const RECORD_SK = 'RECORD';

/** The one partition of the sparse preserved-queue index. */
export const PRESERVED_QUEUE_PARTITION = 'PRESERVED';

/** The key of an amphora record. */
export function recordKey(amphoraId: string): Item {
  return { [ATTR.pk]: { S: `AMPHORA#${amphoraId}` }, [ATTR.sk]: { S: RECORD_SK } };
}

/** The key of the planner lease: one item, so every planner races on the same condition. */
export const LEASE_KEY: Item = { [ATTR.pk]: { S: 'LEASE' }, [ATTR.sk]: { S: 'PLANNER' } };

/** The partition holding pool statistics: one item per zone plus the sweep schedule. */
export const POOL_PARTITION = 'POOL';

/** The key of one zone's creation statistics. */
export function zoneStatsKey(zone: string): Item {
  return { [ATTR.pk]: { S: POOL_PARTITION }, [ATTR.sk]: { S: `ZONE#${zone}` } };
}

/** The key of the sweep schedule. */
export const SWEEP_KEY: Item = { [ATTR.pk]: { S: POOL_PARTITION }, [ATTR.sk]: { S: 'SWEEP' } };

/** The partition holding every orphan mark, sorted by server id. */
export const ORPHAN_PARTITION = 'ORPHAN';

/** The key of one orphan mark. */
export function orphanKey(serverId: string): Item {
  return { [ATTR.pk]: { S: ORPHAN_PARTITION }, [ATTR.sk]: { S: serverId } };
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

// ":" separates the parts of a sort key, so a zone name is escaped to never contain one.
function encodeZone(zone: string): string {
  return zone.replaceAll('%', '%25').replaceAll(':', '%3A');
}

function decodeZone(encoded: string): string {
  return encoded.replaceAll('%3A', ':').replaceAll('%25', '%');
}

/** The sort-key prefix of one zone in {@link BY_STATE_ZONE}. */
export function zonePrefix(zone: string): string {
  return `${encodeZone(zone)}:`;
}

/** The zone a {@link BY_STATE_ZONE} sort key belongs to. */
export function zoneOfZoneAge(zoneAge: string): string {
  return decodeZone(zoneAge.slice(0, zoneAge.indexOf(':')));
}

/** The TTL attribute value (epoch seconds) a record must carry, or `undefined` for none. */
export function ttlSeconds(record: AmphoraRecord): number | undefined {
  // Only DELETED records may ever be purged: a TTL on a live record would lose track of a server.
  // Rounding up keeps the purge at or after expiresAt, never before (the zombie rule).
  if (record.state !== 'DELETED' || record.expiresAt === undefined) return undefined;
  return Math.ceil(record.expiresAt / 1000);
}

/** The item of a record: the record itself plus the index keys and TTL it implies. */
export function recordItem(record: AmphoraRecord): Item {
  const since = sortableTime(record.stateSince);
  const item: Item = {
    ...recordKey(record.id),
    [ATTR.state]: { S: record.state },
    [ATTR.zoneAge]: { S: `${zonePrefix(record.zone)}${since}:${record.id}` },
    [ATTR.age]: { S: `${since}:${record.id}` },
    [ATTR.record]: { M: marshall(record, { removeUndefinedValues: true }) },
  };
  if (record.preservation && PRESERVED_STATES.includes(record.state)) {
    item[ATTR.queue] = { S: PRESERVED_QUEUE_PARTITION };
    item[ATTR.queueSeq] = { S: record.preservation.seq };
  }
  const ttl = ttlSeconds(record);
  if (ttl !== undefined) item[ATTR.ttl] = { N: String(ttl) };
  return item;
}

/** The record stored in an item. */
export function recordFromItem(item: Item): AmphoraRecord {
  const stored = item[ATTR.record];
  if (!stored?.M) throw new Error(`item ${JSON.stringify(item[ATTR.pk])} holds no record`);
  return unmarshall(stored.M) as AmphoraRecord;
}
