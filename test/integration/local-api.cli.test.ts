/**
 * `housekeeper local` (what `npm start` runs) serves the claims API: it prints the address, and
 * another program claims and hands back over it with the typed client; `--api-port` is checked.
 * Runs on the in-memory stack and on the emulators.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { HousekeeperApiClient } from '../../lib/api/client.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../functions/cli.ts');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshDir() {
  const dir = mkdtempSync(join(tmpdir(), 'housekeeper-api-'));
  dirs.push(dir);
  return dir;
}

/** Starts a local run and resolves with its API address once printed, and a stop function. */
async function startLocal(dir: string, ...args: string[]) {
  const child = spawn(
    process.execPath,
    [
      '--disable-warning=ExperimentalWarning',
      CLI,
      'local',
      '--every',
      '1',
      '--no-workload',
      ...args,
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no API address printed:\n${out}`)), 60_000);
    const check = () => {
      const m = /claims API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`local run exited (${code}) before serving:\n${out}`));
    });
  });
  const stop = async () => {
    child.kill('SIGINT');
    return exited;
  };
  return { url, stop, output: () => out };
}

async function until<T>(what: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await what().catch(() => undefined);
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.each([
  ['in memory', ['--memory']],
  ['on the emulators', []],
])('housekeeper local %s serves the claims API', (_, mode) => {
  it('another program claims a spare, reads it and hands it back over HTTP', async () => {
    // Prepare
    const local = await startLocal(freshDir(), ...mode, '--api-port', '0');
    try {
      const api = new HousekeeperApiClient({ baseUrl: local.url, timeoutMs: 5_000 });

      // Act: wait for a spare, claim it, read it, hand it back
      await until(async () => ((await api.pools()).spares.ready > 0 ? true : undefined));
      const claimed = await api.claim();
      const read = await api.get(claimed.id);
      const released = await api.release(claimed.id);

      // Assess
      expect(claimed.state).toBe('ALLOCATED');
      expect(read).toEqual(claimed);
      expect(released.state).toBe('PENDING_DELETE');
      // The claim woke the planner between scheduled cycles.
      await until(async () =>
        local.output().includes('planner run the API asked for') ? true : undefined,
      );
    } finally {
      expect(await local.stop()).toBe(0);
    }
  });
});

describe('--api-port', () => {
  async function housekeeper(dir: string, ...args: string[]) {
    try {
      const r = await run(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', CLI, ...args],
        {
          cwd: dir,
          timeout: 60_000,
        },
      );
      return { code: 0, ...r };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it.each(['-1', '65536', 'x', '1.5'])('refuses %j as a usage error', async (value) => {
    const r = await housekeeper(
      freshDir(),
      'local',
      '--memory',
      '--cycles',
      '1',
      '--api-port',
      value,
    );
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`--api-port = ${JSON.stringify(value)}: must be a port number`);
  });

  it('refuses a port in use before starting anything, naming the option', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await housekeeper(freshDir(), 'local', '--cycles', '1', '--api-port', String(port));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `API port ${port} on 127.0.0.1 is already in use: choose another with --api-port`,
      );
      expect(r.stdout + r.stderr).not.toContain('starting DynamoDB Local');
    } finally {
      blocker.close();
    }
  });
});
