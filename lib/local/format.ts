/** Plain-text renderings of the pool, records and plans for the operator CLI. */
import type { AmphoraView, PoolStatus } from '../app/pool-status.ts';
import { AMPHORA_STATES, type AmphoraRecord } from '../domain/amphora.ts';
import type { DeadLetterView } from '../domain/dead-letters.ts';
import type { Note, Plan } from '../domain/planner.ts';

function zoneName(zone: string): string {
  return zone === '*' ? 'no zone' : zone;
}

function viewLine(v: AmphoraView): string {
  return [
    v.id,
    v.pool.padEnd(8),
    v.state.padEnd(14),
    zoneName(v.zone).padEnd(8),
    `since ${v.since}`,
    v.preservation ? `  ${v.preservation}` : '',
    v.failure ? `  ${v.failure}` : '',
  ]
    .join('  ')
    .trimEnd();
}

/** The pool status as a few lines of text. */
export function formatStatus(s: PoolStatus, where: string): string {
  const lines = [
    `pool on ${where}`,
    `  spares READY ${s.spares.ready}/${s.spares.target}   deploying ${s.deploying.count}/${s.deploying.cap}   preserved ${s.preserved.count}/${s.preserved.max} (${s.preserved.scheme})`,
    `  ${AMPHORA_STATES.map((st) => `${st} ${s.states[st]}`).join('  ')}`,
  ];
  const last = s.lastCycle;
  lines.push(
    !last
      ? '  last planner run: none yet'
      : last.outcome === 'failed'
        ? `  last planner run: FAILED at ${last.at}: ${last.error ?? 'unknown error'}`
        : `  last planner run: ${last.at}, ${last.decisions} decision(s), ${last.tasksSent} task(s) sent`,
  );
  if (s.cloud) {
    lines.push(
      `  THE CLOUD REFUSES (${s.cloud.kind}${s.cloud.error ? `: ${s.cloud.error}` : ''}) since ${s.cloud.since}: no cloud work; next probe ${s.cloud.nextProbe}`,
    );
  }
  if (s.pools.length > 1 || s.pools.some((p) => p.zones.length > 1 || p.zones[0]?.zone !== '*')) {
    for (const p of s.pools) {
      const zones = p.zones.map((z) => `${zoneName(z.zone)} ${z.ready}/${z.target}`).join(', ');
      lines.push(
        `  pool ${p.pool}: READY ${p.ready}/${p.target} (${zones})  deploying ${p.deploying}${p.deployingCap !== undefined ? `/${p.deployingCap}` : ''}${p.imageId ? `  image ${p.imageId}` : ''}${p.imageError ? `  cannot boot: ${p.imageError}` : ''}`,
      );
    }
  }
  if (s.preservedQueue.length > 0) {
    lines.push('preserved queue, oldest first:');
    for (const [i, v] of s.preservedQueue.entries()) {
      lines.push(`  ${String(i + 1).padStart(2)}. ${viewLine(v)}`);
    }
  }
  if (s.needsOperator.length > 0) {
    lines.push('waiting for an operator:');
    for (const v of s.needsOperator) lines.push(`  ${viewLine(v)}\n    ${remedyOf(v)}`);
  }
  return lines.join('\n');
}

/** What an operator can do about an amphora whose task was given up. */
export function remedyOf(v: Pick<AmphoraView, 'id' | 'state'>): string {
  const id = v.id.slice(0, 8);
  return v.state === 'PRESERVING'
    ? `→ \`housekeeper retry ${id}\` preserves it again, \`housekeeper deactivate ${id}\` removes it`
    : `→ \`housekeeper retry ${id}\` tries the removal again`;
}

/** A header row, then one line per record. */
export function formatList(views: readonly AmphoraView[]): string {
  if (views.length === 0) return '(no amphorae)';
  const header = ['ID'.padEnd(36), 'POOL'.padEnd(8), 'STATE'.padEnd(14), 'ZONE'.padEnd(8), 'SINCE'];
  return [header.join('  '), ...views.map(viewLine)].join('\n');
}

/** An age in the largest whole unit: `42s`, `5m`, `3h`, `2d`. */
function age(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3_600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** The dead letters, a header row then one line each, oldest first. */
export function formatDeadLetters(views: readonly DeadLetterView[]): string {
  if (views.length === 0) return '(the dead-letter queue is empty)';
  const rows = [
    ['MESSAGE ID', 'TASK', 'AMPHORA', 'ERROR CLASS', 'RECEIVES', 'AGE'],
    ...views.map((v) => [
      v.messageId,
      v.taskType,
      v.amphoraId?.slice(0, 8) ?? '-',
      v.errorClass,
      String(v.receiveCount),
      age(v.ageSeconds),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '),
    )
    .join('\n');
}

/** One record with its history. */
export function formatRecord(r: AmphoraRecord): string {
  const lines = [
    `amphora ${r.id}`,
    `  state      ${r.state} (version ${r.version}) since ${new Date(r.stateSince).toISOString()}`,
    `  pool       ${r.pool}`,
    `  zone       ${zoneName(r.zone)}${r.computeZone && r.computeZone !== r.zone ? ` (compute zone ${r.computeZone})` : ''}`,
    `  server     ${r.computeId ?? '-'}`,
    ...(r.launch
      ? [
          `  launch     image ${r.launch.imageId ?? '-'}, flavor ${r.launch.flavorId ?? '-'}, spec ${r.launch.digest}`,
        ]
      : []),
    `  created    ${new Date(r.createdAt).toISOString()}`,
  ];
  if (r.task) {
    lines.push(
      `  task       ${r.task.type} issued ${new Date(r.task.issuedAt).toISOString()} (re-issued ${r.task.reissues}×, ${r.task.polls} polls)`,
    );
  }
  if (r.failure) lines.push(`  failure    ${r.failure.code}: ${r.failure.message}`);
  if (r.preservation) {
    const p = r.preservation;
    lines.push(
      `  preserved  ${p.method}${p.imageId ? ` image ${p.imageId}` : ''}, queued ${new Date(p.queuedAt).toISOString()}${p.preservedAt ? `, done ${new Date(p.preservedAt).toISOString()}` : ''} (queue ${p.seq})`,
    );
  }
  if (r.expiresAt) lines.push(`  purge at   ${new Date(r.expiresAt).toISOString()}`);
  if (r.history.length > 0) {
    lines.push('  history');
    for (const h of r.history) {
      lines.push(`    ${new Date(h.at).toISOString()}  ${h.from} → ${h.to}  ${h.reason}`);
    }
  }
  return lines.join('\n');
}

function noteLine(n: Note): string {
  switch (n.code) {
    case 'CREATE_BACKOFF':
      return `creation in pool ${n.pool} ${zoneName(n.zone)} backs off until ${new Date(n.until).toISOString()}`;
    case 'CREATE_SLOW_START':
      return `creation in pool ${n.pool} ${zoneName(n.zone)} restarts slowly after failures: ${n.window} at a time, ${n.unmet} more wait`;
    case 'DEPLOYING_CAP_REACHED':
      return `${n.unmet} more spare(s) wanted, but ${n.deploying}/${n.cap} are deploying`;
    case 'POOL_DEPLOYING_CAP_REACHED':
      return `pool ${n.pool} wants ${n.unmet} more, but ${n.deploying}/${n.cap} of its own cap are deploying`;
    case 'IMAGE_UNRESOLVED':
      return `pool ${n.pool} cannot boot yet: no image resolved for tag ${n.tag}${n.error ? ` (${n.error})` : ''}`;
    case 'ROTATING':
      return `pool ${n.pool} ${zoneName(n.zone)} rotates to its new launch: ${n.stale} old spare(s) left, ${n.replacing} replacement(s) in flight`;
    case 'PRESERVE_WAITS_FOR_IN_FLIGHT':
      return `${n.amphoraId} waits: the oldest preserved amphora is still being preserved`;
    case 'NEEDS_OPERATOR':
      return `${n.amphoraId} waits for an operator (${n.failure})`;
    case 'CLOUD_REFUSING':
      return `the cloud refuses (${n.kind}${n.error ? `: ${n.error}` : ''}) since ${new Date(n.since).toISOString()}: no cloud work; next probe ${new Date(n.probeAt).toISOString()}`;
  }
}

const NOTE_DECISIONS: Partial<Record<string, string>> = {
  SWEEP_DUE: 'orphan sweep',
  CLOUD_PROBE: 'probe the refusing cloud (a sweep)',
  RESOLVE_IMAGE: 'resolve the image tag',
  FLEET_CURRENT: 'every spare has the current launch',
};

/** A plan's decisions and notes. */
export function formatPlan(p: Plan, heading: string): string {
  const lines = [heading];
  if (p.decisions.length === 0) lines.push('  nothing to do');
  for (const d of p.decisions) {
    const changes = d.changes.map(
      (c) =>
        `${c.from === 'NEW' ? `new amphora in ${c.pool} ${zoneName(c.zone)}` : c.amphoraId} ${c.from === 'NEW' ? '' : `${c.from} `}→ ${c.to}`,
    );
    const tasks = d.tasks.map((t) => t.task.type);
    lines.push(
      `  ${d.reasons.join('+')}: ${changes.length > 0 ? changes.join('; ') : (NOTE_DECISIONS[d.reasons[0]!] ?? d.reasons[0])}${tasks.length > 0 ? `  [tasks: ${tasks.join(', ')}]` : ''}`,
    );
  }
  for (const n of p.notes) lines.push(`  note: ${noteLine(n)}`);
  return lines.join('\n');
}

/** The top-level keys of a record's JSON, in this order; any other key follows, sorted. */
const RECORD_KEYS = [
  'id',
  'pool',
  'zone',
  'computeZone',
  'state',
  'stateSince',
  'computeId',
  'launch',
  'task',
  'failure',
  'preservation',
  'missing',
  'createdAt',
  'updatedAt',
  'bootStartedAt',
  'lastSeenAliveAt',
  'deletedAt',
  'expiresAt',
  'version',
  'history',
];

/** A time field of a record (epoch ms as stored): `at`, `…At`, `since`, `stateSince`. */
function isTimeKey(key: string): boolean {
  return key.endsWith('At') || ['at', 'since', 'stateSince'].includes(key);
}

function jsonValue(key: string, value: unknown): unknown {
  if (typeof value === 'number' && isTimeKey(key)) return new Date(value).toISOString();
  if (Array.isArray(value)) return value.map((v) => jsonValue('', v));
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(obj)
        .sort()
        .filter((k) => obj[k] !== undefined)
        .map((k) => [k, jsonValue(k, obj[k])]),
    );
  }
  return value;
}

/**
 * A record as `show --json` and `list --json` print it: every time an ISO 8601 string, the keys
 * in a fixed order (identity, state, what it runs, then times, version and history), nested
 * keys sorted. `zone` is the stored name, `*` when no zone was requested.
 */
export function recordJson(record: AmphoraRecord): Record<string, unknown> {
  const raw = record as unknown as Record<string, unknown>;
  const keys = [
    ...RECORD_KEYS.filter((k) => k in raw),
    ...Object.keys(raw)
      .filter((k) => !RECORD_KEYS.includes(k))
      .sort(),
  ];
  return Object.fromEntries(
    keys.filter((k) => raw[k] !== undefined).map((k) => [k, jsonValue(k, raw[k])]),
  );
}
