import { consumeBatch } from '../../../lib/app/consume-messages.ts';
import { requestPlannerRun, runRequestedCycles } from '../../../lib/app/run-planner-cycle.ts';
import { refillWorld } from '../../support/refill-world.ts';
import { runMain } from '../run-main.ts';

const BOOT = Number(process.env.BENCH_REFILL_BOOT ?? 40);
const INTERVAL = Number(process.env.BENCH_REFILL_INTERVAL ?? 60);
const PAIRS: ReadonlyArray<readonly [number, number]> = [
  [20, 5],
  [10, 2],
  [7, 3],
];
/** Simulated seconds after which a run is given up (it would mean the pool never fills). */
const LIMIT_SECONDS = 3600;

async function refill(target: number, cap: number, requested: boolean): Promise<number> {
  const { clock, store, source, executor, planner } = refillWorld({
    target,
    cap,
    boot: BOOT,
    interval: INTERVAL,
  });
  const start = clock.now();
  const ready = async () =>
    Object.values((await store.getPoolState()).counts.default ?? {}).reduce(
      (n, zone) => n + (zone.READY ?? 0),
      0,
    );
  for (let second = 0; second <= LIMIT_SECONDS; second++) {
    if (second % INTERVAL === 0) await runRequestedCycles(planner());
    for (;;) {
      const reports = await consumeBatch(executor, source, { max: 10 });
      if (reports.length === 0) break;
      if (requested && reports.some((r) => r.wakesPlanner)) await requestPlannerRun(planner());
    }
    if ((await ready()) >= target) return (clock.now() - start) / 1000;
    clock.advance(1000);
  }
  throw new Error(`T=${target} C=${cap}: not full after ${LIMIT_SECONDS} s`);
}

async function main(): Promise<number> {
  const rows: string[][] = [
    [
      'T',
      'C',
      'ceil(T/C)',
      'rounds (requested run)',
      'seconds',
      'rounds (schedule only)',
      'seconds',
      'result',
    ],
  ];
  let failed = false;
  for (const [target, cap] of PAIRS) {
    const limit = Math.ceil(target / cap);
    const withRun = await refill(target, cap, true);
    const scheduleOnly = await refill(target, cap, false);
    const rounds = Math.ceil(withRun / BOOT);
    const ok = rounds <= limit;
    failed ||= !ok;
    rows.push([
      String(target),
      String(cap),
      String(limit),
      String(rounds),
      String(withRun),
      String(Math.ceil(scheduleOnly / BOOT)),
      String(scheduleOnly),
      ok ? 'ok' : 'FAIL',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  process.stdout.write(
    `Refill from empty: boot ${BOOT} s (seen by its first CHECK), schedule every ${INTERVAL} s, noop driver on the in-memory adapters\n\n${[line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')}\n`,
  );
  if (failed) process.stdout.write('\nFAIL\n');
  return failed ? 1 : 0;
}

runMain(main);
