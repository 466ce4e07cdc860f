/**
 * Benchmark of the openstack driver against Debian's python3-openstacksdk on the loopback
 * OpenStack (started first if it is down): HTTP requests per amphora created (boot → ACTIVE)
 * and removed (delete → gone), and wall time to create then remove N amphorae at once.
 * Both clients run the same flow, with the same poll interval, in the same run, alternating.
 *
 *   npm run bench:openstack            # BENCH_N=20 BENCH_ROUNDS=1 BENCH_POLL_MS=1000
 *                                      # BENCH_FIRST=driver|sdk (default: the other one than last run)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../../lib/adapters/system-clock.ts';
import { NotFoundError } from '../../../lib/domain/errors.ts';
import { nodeTransport, type Transport } from '../../../lib/drivers/openstack/http.ts';
import { clearTokenCache } from '../../../lib/drivers/openstack/keystone.ts';
import { OpenStackDriver } from '../../../lib/drivers/openstack/openstack-driver.ts';
import startCloud from '../../openstack/global-setup.ts';
import {
  appCredentialFrom,
  loadOsciEnv,
  osciEnvPath,
  RawCloud,
  realConfig,
  realSpec,
  runTag,
} from '../../openstack/support.ts';
import { bootRequest } from '../../support/boot.ts';

const N = Number(process.env.BENCH_N ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const POLL_MS = Number(process.env.BENCH_POLL_MS ?? 1_000);
const SDK_FLOW = fileURLToPath(new URL('./sdk_flow.py', import.meta.url));
const PYTHON = '/usr/bin/python3';

/** One client's figures for one round. */
interface Figures {
  createRequests: number;
  removeRequests: number;
  /** Of the requests above, the status polls (GET of one server). */
  createPolls: number;
  removePolls: number;
  createSeconds: number;
  removeSeconds: number;
}

/** A status poll: GET of one server (not the listing `/servers/detail`). */
const POLL = /\/servers\/(?!detail)[^/?]+$/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function driverRound(tag: string): Promise<Figures> {
  const env = loadOsciEnv();
  const counts = { create: 0, remove: 0 };
  const polls = { create: 0, remove: 0 };
  let phase: keyof typeof counts = 'create';
  const inner = nodeTransport();
  const counting: Transport = (request) => {
    counts[phase] += 1;
    if (request.method === 'GET' && POLL.test(request.url)) polls[phase] += 1;
    return inner(request);
  };
  // A cold process: the token request counts, as it does for openstacksdk.
  clearTokenCache();
  const driver = new OpenStackDriver({
    credentials: appCredentialFrom(env),
    config: realConfig(env),
    ownershipTag: tag,
    clock: systemClock,
    transport: counting,
  });
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from(
      { length: N },
      async (_, i) =>
        (await driver.createServer(bootRequest(`drv-${i}-${tag}`, '*', realSpec(env)))).id,
    ),
  );
  let pending = ids;
  while (pending.length > 0) {
    await sleep(POLL_MS);
    const servers = await Promise.all(pending.map((id) => driver.getServer(id)));
    const failed = servers.filter((s) => s.status === 'ERROR');
    if (failed.length > 0)
      throw new Error(
        `servers went to ERROR: ${failed.map((s) => `${s.id} ${s.fault}`).join('; ')}`,
      );
    pending = servers.filter((s) => s.status !== 'ACTIVE').map((s) => s.id);
  }
  const createSeconds = (performance.now() - t0) / 1000;
  phase = 'remove';
  const t1 = performance.now();
  await Promise.all(ids.map((id) => driver.deleteServer(id)));
  pending = ids;
  while (pending.length > 0) {
    await sleep(POLL_MS);
    const gone = await Promise.all(
      pending.map((id) =>
        driver.getServer(id).then(
          () => false,
          (e: unknown) => {
            if (e instanceof NotFoundError) return true;
            throw e;
          },
        ),
      ),
    );
    pending = pending.filter((_, i) => !gone[i]);
  }
  const removeSeconds = (performance.now() - t1) / 1000;
  return {
    createRequests: counts.create,
    removeRequests: counts.remove,
    createPolls: polls.create,
    removePolls: polls.remove,
    createSeconds,
    removeSeconds,
  };
}

function sdkRound(tag: string): Figures {
  const out = execFileSync(
    PYTHON,
    [SDK_FLOW, osciEnvPath(), String(N), String(POLL_MS / 1000), tag],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 30 * 60_000,
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as Figures;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const OUT = '.bench/openstack.json';

/** Who goes first in this run: `BENCH_FIRST`, else the one that did not go first last run. */
function firstClient(): 'driver' | 'sdk' {
  const asked = process.env.BENCH_FIRST;
  if (asked === 'driver' || asked === 'sdk') return asked;
  try {
    const last = JSON.parse(readFileSync(OUT, 'utf8')) as { first?: string };
    return last.first === 'driver' ? 'sdk' : 'driver';
  } catch {
    return 'driver';
  }
}

async function main(): Promise<void> {
  await startCloud();
  try {
    execFileSync(PYTHON, ['-c', 'import openstack'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'python3-openstacksdk is missing: apt-get install -y python3-openstacksdk (the setup script installs it)',
    );
  }
  const raw = new RawCloud(loadOsciEnv());
  const results: { driver: Figures[]; sdk: Figures[] } = { driver: [], sdk: [] };
  // Alternate who goes first, so that a warming or tiring cloud favours neither: from round to
  // round, and from run to run (a one-round run starts with whoever went second last time).
  const first = firstClient();
  for (let round = 1; round <= ROUNDS; round++) {
    const order =
      (round % 2 === 1) === (first === 'driver')
        ? (['driver', 'sdk'] as const)
        : (['sdk', 'driver'] as const);
    for (const who of order) {
      const tag = runTag(`bench-${who}`);
      try {
        console.log(`round ${round}/${ROUNDS}: ${who}, ${N} amphorae...`);
        const figures = who === 'driver' ? await driverRound(tag) : sdkRound(tag);
        results[who].push(figures);
        console.log(`  ${JSON.stringify(figures)}`);
      } finally {
        await raw.purge(tag);
      }
    }
  }
  const row = (label: string, pick: (f: Figures) => number, digits: number) => {
    const d = median(results.driver.map(pick));
    const s = median(results.sdk.map(pick));
    return `| ${label} | ${d.toFixed(digits)} | ${s.toFixed(digits)} | ${(d / s).toFixed(2)} |`;
  };
  const table = [
    `N = ${N} amphorae at once, poll every ${POLL_MS} ms, ${ROUNDS} round(s), medians`,
    '',
    '| measure | driver | openstacksdk | driver / sdk |',
    '| --- | ---: | ---: | ---: |',
    row('HTTP requests per amphora created (boot → ACTIVE)', (f) => f.createRequests / N, 2),
    row('HTTP requests per amphora removed (delete → gone)', (f) => f.removeRequests / N, 2),
    row(
      '… not counting status polls, per amphora created',
      (f) => (f.createRequests - f.createPolls) / N,
      2,
    ),
    row(
      '… not counting status polls, per amphora removed',
      (f) => (f.removeRequests - f.removePolls) / N,
      2,
    ),
    row(`wall time to create ${N} (s)`, (f) => f.createSeconds, 1),
    row(`wall time to remove ${N} (s)`, (f) => f.removeSeconds, 1),
    row(`wall time to create then remove ${N} (s)`, (f) => f.createSeconds + f.removeSeconds, 1),
  ].join('\n');
  console.log(`\n${table}\n`);
  if (!existsSync('.bench')) mkdirSync('.bench');
  writeFileSync(OUT, JSON.stringify({ n: N, pollMs: POLL_MS, first, results }, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
