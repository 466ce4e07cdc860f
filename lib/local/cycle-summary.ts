/** Human-readable summaries of what a cycle decided and what the executors did, for local runs. */
import type { ExecutionReport } from '../app/execute-task.ts';
import type { CycleReport } from '../app/run-planner-cycle.ts';

/** "create ×2, preserve ×1, sweep" — what a planner cycle decided. */
export function decisionSummary(report: CycleReport | Error): string {
  if (report instanceof Error) return `planner failed: ${report.message}`;
  if (report.status === 'lease-busy') return 'lease held by another planner';
  const counts = new Map<string, number>();
  const add = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);
  report.plan.decisions.forEach((d, i) => {
    if (report.status === 'applied' && report.results[i]?.status !== 'applied') {
      add('lost race');
      return;
    }
    for (const reason of d.reasons) {
      const what = (
        {
          TOP_UP: 'create',
          ROTATE_STALE_LAUNCH: 'rotate',
          PURGE_EXPIRED: 'purge',
          RESOLVE_IMAGE: 'resolve image',
          FLEET_CURRENT: 'fleet current',
          SHRINK_EXCESS: 'shrink',
          BOOT_TIMEOUT: 'boot timeout',
          TASK_STUCK: 're-issue',
          TASK_MISSING: 'issue',
          BOOT_TIMEOUT_CHECK: 'final boot check',
          TASK_EXHAUSTED: 'gave up a task',
          TASK_AFTER_OUTAGE: 're-issue after outage',
          TASK_UNSENT: 're-send after a lost send',
          PRESERVE_TIMEOUT: 'preservation timed out',
          CLOUD_PROBE: 'probe the cloud',
          PRESERVATION_DISABLED: 'remove failed',
          NOTHING_TO_PRESERVE: 'remove failed',
          KEEP_LIMIT_REACHED: 'remove failed',
          CYCLE_SUPERSEDED: 'remove failed',
          PRESERVE_BELOW_LIMIT: 'preserve',
          CYCLE_EVICT_OLDEST: 'evict+preserve',
          PRESERVED_OVER_LIMIT: 'evict',
          SWEEP_DUE: 'sweep',
        } satisfies Record<typeof reason, string>
      )[reason];
      add(what);
    }
  });
  const text = [...counts].map(([what, n]) => (n > 1 ? `${what} ×${n}` : what)).join(', ');
  return text || 'nothing to do';
}

/** One line per noteworthy executor outcome (stale acks and polls are left out). */
export function taskLine(report: ExecutionReport): string | undefined {
  const quiet = new Set([
    'stale',
    'still-booting',
    'image-pending',
    'stop-deferred',
    'swept',
    'dropped-cloud-refusing',
  ]);
  if (quiet.has(report.outcome)) return undefined;
  const task = report.task;
  const id =
    task && 'amphoraId' in task
      ? task.amphoraId.slice(0, 8)
      : task?.type === 'RESOLVE_IMAGE'
        ? task.pool
        : '';
  return `  ${task?.type ?? 'message'} ${id} → ${report.outcome}`;
}

/**
 * A cycle's line: its number, the pool and what it decided; the decisions go on a second,
 * indented line when one would not fit in `width` columns.
 */
export function cycleLines(n: number, pool: string, decided: string, width: number): string[] {
  const head = `cycle ${String(n).padStart(3)}  ${pool}`;
  const one = `${head}  | ${decided}`;
  return [...one].length <= width ? [one] : [head, `${' '.repeat(11)}| ${decided}`];
}
