/** The local run's simulated workload: load balancers that claim, hand back and report spares. */
import { describe, expect, it } from 'vitest';
import { claimSpare } from '../../lib/app/operator-actions.ts';
import { type LocalStack, WORKLOAD, workloadStep } from '../../lib/local/local-runner.ts';
import { plannerHarness } from '../support/app-harness.ts';
import { rec } from '../support/pool-fixtures.ts';

describe('the simulated workload does not hand back what the operator claimed', () => {
  it('deactivates only what it claimed itself, and says so in the history', async () => {
    const h = plannerHarness();
    for (const r of [rec('READY'), rec('READY')]) await h.store.create(r);
    const operators = (await claimSpare(h.deps))!;
    // Every draw 0: claim a spare, then hand one back, on every step.
    const stack = h.deps as unknown as LocalStack;
    for (let step = 0; step < 4; step++) await workloadStep(stack, () => 0);

    const mine = (await h.store.get(operators.id))!;
    expect(mine.state).toBe('ALLOCATED');
    expect(mine.history.at(-1)!.reason).toBe('CLAIMED');
    const theirs = h.store.all().find((r) => r.id !== operators.id)!;
    expect(theirs.state).toBe('PENDING_DELETE');
    expect(theirs.history.map((e) => e.reason).slice(-2)).toEqual([
      WORKLOAD.claimed,
      WORKLOAD.deactivated,
    ]);
  });
});
