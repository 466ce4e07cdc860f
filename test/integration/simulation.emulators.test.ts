/**
 * The randomized invariant run of test/unit/simulation.property.test.ts, repeated through the
 * real adapters: the DynamoDB pool store and cloud state on DynamoDB Local, the SQS task queue
 * and consumer on fauxqs. Fewer and shorter histories (each step costs real requests); the same
 * invariants, checked after every store write.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../lib/local/random.ts';
import { startTestDynamo, startTestSqs, type TestDynamo, type TestSqs } from '../support/aws.ts';
import { emulatorBackend } from '../support/emulator-backend.ts';
import { actionArb, configArb, type RunStats, runHistory } from '../support/simulation-run.ts';
import { World } from '../support/world.ts';

let dynamo: TestDynamo;
let sqs: TestSqs;
const seen: RunStats[] = [];

beforeAll(async () => {
  [dynamo, sqs] = await Promise.all([startTestDynamo(), startTestSqs()]);
}, 60_000);

afterAll(async () => {
  console.log(`simulation on the emulators, per run: ${JSON.stringify(seen)}`);
  await Promise.all([dynamo?.stop(), sqs?.stop()]);
});

describe('the pool under random histories, on DynamoDB Local and fauxqs', () => {
  it('keeps every invariant at every instant, then converges, leaks nothing and goes quiet', async () => {
    await fc.assert(
      fc.asyncProperty(
        // SQS delays run in real time: keep re-polls within a second.
        configArb.map((c) => ({ ...c, check_initial_delay: 0, check_max_delay: 1 })),
        fc.record({
          seed: fc.integer(),
          duplicateRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
          bootFailureRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
        }),
        fc.array(actionArb, { minLength: 5, maxLength: 18 }),
        async (config, drawn, actions) => {
          const options = { ...drawn, bootSeconds: 0 };
          const backend = await emulatorBackend(dynamo, sqs, {
            duplicateRate: options.duplicateRate,
            random: seededRandom(options.seed + 1),
          });
          try {
            seen.push(
              await runHistory(new World(config, options, () => backend), options, actions),
            );
          } finally {
            await backend.close();
          }
        },
      ),
      { numRuns: 4, endOnFailure: true },
    );
    expect(seen).toHaveLength(4);
  }, 600_000);
});
