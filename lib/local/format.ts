/** Plain-text renderings of the pool, records and plans for the operator CLI. */
import type { AmphoraView, PoolStatus } from '../app/pool-status.ts';
import { AMPHORA_STATES, type AmphoraRecord } from '../domain/amphora.ts';
import type { Note, Plan } from '../domain/planner.ts';

function zoneName(zone: string): string {
  return zone === '*' ? 'no zone' : zone;
}

function viewLine(v: AmphoraView): string {
  return [
    v.id,
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
  const zones =
    s.zones.length > 1
      ? ` (${s.zones.map((z) => `${z.zone} ${z.ready}/${z.target}`).join(', ')})`
      : '';
  const lines = [
    `pool on ${where}`,
    `  spares READY ${s.spares.ready}/${s.spares.target}${zones}   deploying ${s.deploying.count}/${s.deploying.cap}   preserved ${s.preserved.count}/${s.preserved.max} (${s.preserved.scheme})`,
    `  ${AMPHORA_STATES.map((st) => `${st} ${s.states[st]}`).join('  ')}`,
  ];
  if (s.preservedQueue.length > 0) {
    lines.push('preserved queue, oldest first:');
    for (const [i, v] of s.preservedQueue.entries()) {
      lines.push(`  ${String(i + 1).padStart(2)}. ${viewLine(v)}`);
    }
  }
  if (s.needsOperator.length > 0) {
    lines.push('waiting for an operator (`housekeeper retry <id>` or `deactivate <id>`):');
    for (const v of s.needsOperator) lines.push(`  ${viewLine(v)}`);
  }
  return lines.join('\n');
}

/** One line per record. */
export function formatList(views: readonly AmphoraView[]): string {
  return views.length === 0 ? '(no amphorae)' : views.map(viewLine).join('\n');
}

/** One record with its history. */
export function formatRecord(r: AmphoraRecord): string {
  const lines = [
    `amphora ${r.id}`,
    `  state      ${r.state} (version ${r.version}) since ${new Date(r.stateSince).toISOString()}`,
    `  zone       ${zoneName(r.zone)}`,
    `  server     ${r.computeId ?? '-'}`,
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
      return `creation in ${zoneName(n.zone)} backs off until ${new Date(n.until).toISOString()}`;
    case 'DEPLOYING_CAP_REACHED':
      return `${n.unmet} more spare(s) wanted, but ${n.deploying}/${n.cap} are deploying`;
    case 'PRESERVE_WAITS_FOR_IN_FLIGHT':
      return `${n.amphoraId} waits: the oldest preserved amphora is still being preserved`;
    case 'NEEDS_OPERATOR':
      return `${n.amphoraId} waits for an operator (${n.failure})`;
  }
}

/** A plan's decisions and notes. */
export function formatPlan(p: Plan, heading: string): string {
  const lines = [heading];
  if (p.decisions.length === 0) lines.push('  nothing to do');
  for (const d of p.decisions) {
    const changes = d.changes.map(
      (c) =>
        `${c.from === 'NEW' ? `new amphora in ${zoneName(c.zone)}` : c.amphoraId} ${c.from === 'NEW' ? '' : `${c.from} `}→ ${c.to}`,
    );
    const tasks = d.tasks.map((t) => t.task.type);
    lines.push(
      `  ${d.reasons.join('+')}: ${changes.length > 0 ? changes.join('; ') : 'orphan sweep'}${tasks.length > 0 ? `  [tasks: ${tasks.join(', ')}]` : ''}`,
    );
  }
  for (const n of p.notes) lines.push(`  note: ${noteLine(n)}`);
  return lines.join('\n');
}
