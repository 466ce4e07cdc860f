import { describe, expect, it } from 'vitest';
import type { AmphoraRecord } from '../../lib/domain/amphora.ts';
import { ownerOf, planOrphans } from '../../lib/domain/orphans.ts';
import { NOW, rec } from '../support/pool-fixtures.ts';

const GRACE = 600_000;

function records(...rs: AmphoraRecord[]) {
  return new Map(rs.map((r) => [r.id, r]));
}

describe('who owns a server', () => {
  it.each([
    ['a live record with that server id', rec('READY', { id: 'a', computeId: 's1' }), true],
    [
      'a creating record without a server id yet',
      rec('PENDING_CREATE', { id: 'a', computeId: undefined }),
      true,
    ],
    [
      'a failed create that never learned its server id',
      rec('ERROR', { id: 'a', computeId: undefined }),
      true,
    ],
    ['a live record that owns another server', rec('READY', { id: 'a', computeId: 's2' }), false],
    ['a DELETED record', rec('DELETED', { id: 'a', computeId: 's1' }), false],
  ])('%s → owned: %s', (_name, record, owned) => {
    expect(ownerOf({ id: 's1', amphoraId: 'a' }, records(record)) !== undefined).toBe(owned);
  });

  it('owns nothing without an amphora id or a record', () => {
    expect(
      ownerOf({ id: 's1' }, records(rec('READY', { id: 'a', computeId: 's1' }))),
    ).toBeUndefined();
    expect(ownerOf({ id: 's1', amphoraId: 'zz' }, records())).toBeUndefined();
  });
});

describe('two-pass orphan removal', () => {
  const orphan = { id: 's9', amphoraId: 'gone' };

  it('marks a new orphan without removing it', () => {
    const d = planOrphans({
      servers: [orphan],
      records: records(),
      marks: [],
      now: NOW,
      graceMs: GRACE,
    });
    expect(d).toEqual({
      mark: [
        { serverId: 's9', amphoraId: 'gone', firstSeenAt: NOW, lastSeenAt: NOW, sightings: 1 },
      ],
      remove: [],
      unmark: [],
      zombies: [],
    });
  });

  it.each([
    ['within the grace period', NOW - GRACE + 1, NOW - 1, false],
    ['past the grace period, seen on an earlier sweep', NOW - GRACE, NOW - 1, true],
    ['past the grace period but only seen by this very sweep', NOW - GRACE, NOW, false],
  ])('%s → removed: %s', (_name, firstSeenAt, lastSeenAt, removed) => {
    const d = planOrphans({
      servers: [orphan],
      records: records(),
      marks: [{ serverId: 's9', amphoraId: 'gone', firstSeenAt, lastSeenAt, sightings: 1 }],
      now: NOW,
      graceMs: GRACE,
    });
    expect(d.remove.length === 1).toBe(removed);
    if (!removed) expect(d.mark[0]).toMatchObject({ firstSeenAt, lastSeenAt: NOW, sightings: 2 });
  });

  it('drops marks of servers that are gone or owned again', () => {
    const d = planOrphans({
      servers: [{ id: 's1', amphoraId: 'a' }],
      records: records(rec('READY', { id: 'a', computeId: 's1' })),
      marks: [
        { serverId: 's1', firstSeenAt: 0, lastSeenAt: 0, sightings: 1 },
        { serverId: 's2', firstSeenAt: 0, lastSeenAt: 0, sightings: 1 },
      ],
      now: NOW,
      graceMs: GRACE,
    });
    expect([...d.unmark].sort()).toEqual(['s1', 's2']);
    expect(d.mark).toEqual([]);
  });

  it('reports DELETED records whose server is alive, so their purge waits', () => {
    const d = planOrphans({
      servers: [{ id: 's1', amphoraId: 'a' }],
      records: records(rec('DELETED', { id: 'a', computeId: 's1' })),
      marks: [],
      now: NOW,
      graceMs: GRACE,
    });
    expect(d.zombies).toEqual(['a']);
  });
});
