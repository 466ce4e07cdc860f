/** Plain-text renderings of the pool, records and plans for the operator CLI. */
import { type AmphoraView, type PoolStatus, remedies } from '../app/pool-status.ts';
import { AMPHORA_STATES, type AmphoraRecord } from '../domain/amphora.ts';
import type { DeadLetterView } from '../domain/dead-letters.ts';
import type { Note, Plan } from '../domain/planner.ts';
import type { FaultRule } from '../drivers/noop/noop-driver.ts';
import { jsonField, jsonShape, PLAIN, type Style, table } from './output.ts';

function zoneName(zone: string): string {
  return zone === '*' ? 'no zone' : zone;
}

/** The cells of a record in a table: id, pool, state, zone, since. */
function viewCells(v: AmphoraView, style: Style): string[] {
  return [v.id, v.pool, stateCell(v.state, style), zoneName(v.zone), v.since];
}

function stateCell(state: string, style: Style): string {
  if (state === 'READY') return style.green(state);
  if (['ERROR', 'PRESERVE', 'PRESERVING', 'PRESERVED'].includes(state)) return style.yellow(state);
  return state;
}

/** How long ago an ISO time was, in the largest whole unit. */
function ago(isoTime: string, now: number): string {
  return age(Math.max(0, Math.round((now - Date.parse(isoTime)) / 1000)));
}

/** The pool status as one screen of text: headline, tables, then what needs attention. */
export function formatStatus(
  s: PoolStatus,
  where: string,
  { now = Date.now(), style = PLAIN }: { readonly now?: number; readonly style?: Style } = {},
): string {
  const lines = [
    style.bold(`pool on ${where}`),
    `  spares READY ${s.spares.ready}/${s.spares.target}   deploying ${s.deploying.count}/${s.deploying.cap}   preserved ${s.preserved.count}/${s.preserved.max} (${s.preserved.scheme})`,
    `  ${AMPHORA_STATES.map((st) => `${st} ${s.states[st]}`).join('  ')}`,
  ];
  const last = s.lastCycle;
  lines.push(
    !last
      ? '  last planner run: none yet'
      : last.outcome === 'failed'
        ? style.red(`  last planner run: FAILED at ${last.at}: ${last.error ?? 'unknown error'}`)
        : `  last planner run: ${last.at}, ${last.decisions} decision(s), ${last.tasksSent} task(s) sent (${ago(last.at, now)} ago)`,
  );
  if (s.cloud) {
    lines.push(
      style.red(
        `  THE CLOUD REFUSES (${s.cloud.kind}${s.cloud.error ? `: ${s.cloud.error}` : ''}) since ${s.cloud.since}: no cloud work; next probe ${s.cloud.nextProbe}`,
      ),
    );
    if (s.cloud.kind === 'Unauthorized')
      lines.push('    → check the credentials (clouds.yaml, or the deployment’s secret)');
  } else if (s.cloudRecent) {
    const r = s.cloudRecent;
    lines.push(
      `  cloud: ${r.refusalsInARow > 0 ? style.yellow(`${r.refusalsInARow} refusal(s) in a row (${r.kind ?? 'unknown'}${r.error ? `: ${r.error}` : ''}), not yet refusing`) : 'answering'}${r.recoveredAt ? `; last recovered from refusing at ${r.recoveredAt}` : ''}`,
    );
  } else {
    lines.push('  cloud: answering (no refusal recorded)');
  }
  lines.push(
    '',
    table(
      ['POOL', 'ZONE', 'READY', 'TARGET', 'DEPLOYING', 'CREATE FAILURES', 'IMAGE'],
      s.pools.flatMap((p) =>
        p.zones.map((z) => [
          p.pool,
          zoneName(z.zone),
          z.ready < z.target ? style.yellow(String(z.ready)) : String(z.ready),
          String(z.target),
          `${z.deploying}${p.zones.length === 1 && p.deployingCap !== undefined ? `/${p.deployingCap}` : ''}`,
          z.createFailures
            ? style.yellow(
                `${z.createFailures.inARow} in a row${z.createFailures.lastAt ? `, last ${ago(z.createFailures.lastAt, now)} ago` : ''}`,
              )
            : '-',
          p.imageError ? style.red(`cannot boot: ${p.imageError}`) : (p.imageId ?? '-'),
        ]),
      ),
      style,
      '  ',
    ),
  );
  if (s.preservedQueue.length > 0) {
    const full = s.preserved.count >= s.preserved.max;
    lines.push(
      '',
      `preserved queue, oldest first (${s.preserved.scheme}: ${
        s.preserved.scheme === 'cycle'
          ? full
            ? 'the next failure evicts #1'
            : 'kept until the queue is full, then the oldest goes first'
          : full
            ? 'kept; further failures are removed, not preserved'
            : 'kept until an operator deactivates them'
      }):`,
      table(
        ['#', 'ID', 'POOL', 'STATE', 'PRESERVED FOR', 'METHOD', 'WHY'],
        s.preservedQueue.map((v) => [
          String(v.position),
          v.id,
          v.pool,
          stateCell(v.state, style),
          ago(v.queuedAt, now),
          v.preservation ?? '-',
          v.failure ?? '-',
        ]),
        style,
        '  ',
      ),
    );
  }
  if (s.needsOperator.length > 0) {
    lines.push('', style.red('waiting for an operator:'));
    for (const v of s.needsOperator) {
      lines.push(
        `  ${v.id}  ${v.pool}  ${v.state}  since ${v.since}${v.failure ? `  ${v.failure}` : ''}`,
        `    → ${remedyOf(v)}`,
      );
    }
  }
  if (s.allocatedGhosts.length > 0) {
    lines.push(
      '',
      style.red(
        'ALLOCATED amphorae whose server is gone or broken (the load balancer needs an operator):',
      ),
    );
    for (const g of s.allocatedGhosts) {
      lines.push(
        `  ${g.id}  ${g.pool}  server ${g.computeId ?? '-'} ${g.serverStatus ? `in ${g.serverStatus}` : 'missing'} since ${g.missingSince}`,
        `    → fail the load balancer over, then \`${g.commands[0]}\` removes the record`,
      );
    }
  }
  return lines.join('\n');
}

/** What an operator can do about an amphora whose task was given up. */
export function remedyOf(v: Pick<AmphoraView, 'id' | 'state'>): string {
  const [retry, deactivate] = remedies(v);
  return v.state === 'PRESERVING'
    ? `\`${retry}\` preserves it again, \`${deactivate}\` removes it`
    : `\`${retry}\` tries the removal again`;
}

/** A header row, then one line per record. */
export function formatList(views: readonly AmphoraView[], style: Style = PLAIN): string {
  if (views.length === 0) return '(no amphorae)';
  return table(
    ['ID', 'POOL', 'STATE', 'ZONE', 'SINCE'],
    views.map((v) => viewCells(v, style)),
    style,
  );
}

/** An age in the largest whole unit: `42s`, `5m`, `3h`, `2d`. */
function age(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3_600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** The dead letters, a header row then one line each, oldest first. */
export function formatDeadLetters(views: readonly DeadLetterView[], style: Style = PLAIN): string {
  if (views.length === 0) return '(the dead-letter queue is empty)';
  return table(
    ['MESSAGE ID', 'TASK', 'AMPHORA', 'ERROR CLASS', 'RECEIVES', 'AGE'],
    views.map((v) => [
      v.messageId,
      v.taskType,
      v.amphoraId?.slice(0, 8) ?? '-',
      v.errorClass,
      String(v.receiveCount),
      age(v.ageSeconds),
    ]),
    style,
  );
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

/** A plan's decisions (a table: reasons, changes, tasks) and notes. */
export function formatPlan(p: Plan, heading: string, style: Style = PLAIN): string {
  const lines = [heading];
  if (p.decisions.length === 0) lines.push('  nothing to do');
  else
    lines.push(
      table(
        ['REASON', 'CHANGES', 'TASKS'],
        p.decisions.map((d) => {
          const changes = d.changes.map(
            (c) =>
              `${c.from === 'NEW' ? `new amphora in ${c.pool} ${zoneName(c.zone)}` : c.amphoraId.slice(0, 8)} ${c.from === 'NEW' ? '' : `${c.from} `}→ ${c.to}`,
          );
          return [
            d.reasons.join('+'),
            changes.length > 0
              ? changes.join('\n')
              : (NOTE_DECISIONS[d.reasons[0]!] ?? d.reasons[0]!),
            d.tasks.length > 0 ? d.tasks.map((t) => t.task.type).join(', ') : '-',
          ];
        }),
        style,
        '  ',
      ),
    );
  for (const n of p.notes) lines.push(`  ${style.yellow('note:')} ${noteLine(n)}`);
  return lines.join('\n');
}

/**
 * A plan as `plan -o json` prints it: the figures it was made from, then each decision's
 * reasons, changes and tasks (not its raw writes), and the notes; times as ISO 8601.
 */
export function planJson(p: Plan): Record<string, unknown> {
  return {
    spareReady: p.spareReady,
    spareTarget: p.spareTarget,
    stateCounts: p.stateCounts,
    pools: jsonShape(p.pools),
    zones: jsonShape(p.zones),
    decisions: p.decisions.map((d) => ({
      reasons: d.reasons,
      changes: jsonShape(d.changes),
      tasks: d.tasks.map((t) =>
        jsonShape({
          ...t.task,
          ...(t.delaySeconds !== undefined ? { delaySeconds: t.delaySeconds } : {}),
        }),
      ),
    })),
    notes: jsonShape(p.notes),
  };
}

/** The noop driver's fault rules under a header row. */
export function formatFaults(rules: readonly FaultRule[], style: Style = PLAIN): string {
  if (rules.length === 0) return '(no fault rules)';
  return table(
    ['ID', 'OPERATION', 'ERROR', 'FAILS'],
    rules.map((r) => [
      r.id,
      r.operation,
      r.error,
      r.times !== undefined ? `the next ${r.times} time(s)` : `with probability ${r.probability}`,
    ]),
    style,
  );
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
    keys.filter((k) => raw[k] !== undefined).map((k) => [k, jsonField(k, raw[k])]),
  );
}
