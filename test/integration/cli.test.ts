/**
 * The operator CLI end to end, as a newcomer runs it: a local run on the emulators keeps its
 * pool in .local/, and later commands inspect and change that same pool.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../functions/cli.ts');
const cwd = mkdtempSync(join(tmpdir(), 'housekeeper-cli-'));

async function housekeeper(...args: string[]) {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', CLI, ...args],
      {
        cwd,
        timeout: 120_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

afterAll(() => rmSync(cwd, { recursive: true, force: true }));

describe('housekeeper CLI on the local emulators', () => {
  it('runs N cycles, prints the final pool as JSON, and keeps it for later commands', async () => {
    const config = join(cwd, 'config.json');
    await import('node:fs').then((fs) =>
      fs.writeFileSync(
        config,
        JSON.stringify({
          spare_amphora_pool_size: 2,
          noop: { boot_seconds: 0, boot_failure_rate: 0 },
        }),
      ),
    );

    const local = await housekeeper(
      'local',
      '--cycles',
      '3',
      '--every',
      '2',
      '--no-workload',
      '--config',
      config,
    );

    expect(local.code).toBe(0);
    const final = JSON.parse(local.stdout);
    expect(final.spares).toEqual({ ready: 2, target: 2 });
    expect(local.stderr).toMatch(/cycle {3}1 {2}READY/);

    const status = await housekeeper('status', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).spares).toEqual({ ready: 2, target: 2 });

    const claim = await housekeeper('claim');
    expect(claim.stdout).toMatch(/^claimed [0-9a-f-]{36} \(server [0-9a-f-]{36}\)/);
    const id = claim.stdout.split(' ')[1]!;

    const show = await housekeeper('show', id);
    expect(show.stdout).toContain(`amphora ${id}`);
    expect(show.stdout).toMatch(/READY → ALLOCATED {2}CLAIMED/);

    const plan = await housekeeper('plan', '--json');
    expect(
      JSON.parse(plan.stdout).decisions.map((d: { reasons: string[] }) => d.reasons),
    ).toContainEqual(['TOP_UP']);
    expect(JSON.parse((await housekeeper('status', '--json')).stdout).states.PENDING_CREATE).toBe(
      0,
    );
  }, 180_000);

  it('refuses bad input with the field, the value and the rule, and a non-zero exit', async () => {
    const unknown = await housekeeper('show', 'no-such-amphora');
    expect(unknown).toMatchObject({
      code: 1,
      stderr: 'housekeeper: amphora no-such-amphora does not exist\n',
    });

    const cycles = await housekeeper('local', '--cycles', '0');
    expect(cycles.code).not.toBe(0);
    expect(cycles.stderr).toContain('--cycles = "0": must be a whole number of at least 1');
  }, 60_000);
});
