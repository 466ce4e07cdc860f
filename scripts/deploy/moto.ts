/**
 * A fresh moto server (the AWS emulator, moto 5.2.1 from the machine's Python) on a free loopback
 * port, for the deploy tier: CloudFormation, S3, IAM, Lambda, SQS, DynamoDB, SSM and STS in one
 * process, no account. Each start is empty: moto cannot update a stack, so every run deploys anew.
 *
 * moto runs under a small shell guard that kills it as soon as this Node process goes away,
 * however it goes; `stop()` is the clean way, and stops moto by its PID.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { ENV } from '../../lib/config/deployment.ts';
import { freePort } from '../../lib/local/emulators.ts';

/** The account moto answers as (STS GetCallerIdentity). */
export const MOTO_ACCOUNT = '123456789012';
/** The region the deploy tier uses. */
export const MOTO_REGION = 'us-east-1';
/** moto checks no signature, but the SDKs and the CDK CLI insist on credentials. */
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;

/** A running moto server. */
export interface MotoServer {
  /** `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`. */
  readonly endpoint: string;
  /**
   * `http://localhost:PORT`: moto's CloudFormation resolves a template URL to its own S3 only
   * when the host is `localhost` (`AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION`).
   */
  readonly localhostEndpoint: string;
  readonly port: number;
  /** moto's own process id. */
  readonly pid: number;
  /** The last lines moto printed, for error messages. */
  output(): string;
  /** Stops moto by its PID and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/** Raised when moto cannot be run here; the message says what to install. */
export class MotoUnavailableError extends Error {}

const GUARD_SCRIPT = `
exec 3<&0
"$@" </dev/null &
child=$!
echo "moto-pid $child"
( read -r line <&3; kill "$child" 2>/dev/null ) &
watchdog=$!
trap 'kill "$child" 2>/dev/null' TERM INT HUP
wait "$child"
status=$?
kill "$watchdog" 2>/dev/null
exit $status
`;

const OUTPUT_TAIL = 8_000;

/**
 * Fails loudly unless `moto_server` is on the PATH: the deploy tier is not skipped on a machine
 * without it.
 * @throws MotoUnavailableError naming what to install.
 */
export function requireMotoServer(command = 'moto_server'): void {
  const probe = spawnSync(command, ['--help'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.error || probe.status !== 0 || !probe.stdout.includes('usage: moto_server')) {
    throw new MotoUnavailableError(
      `${command} was not found or does not run (${probe.error?.message ?? `exit ${probe.status}: ${probe.stderr.trim()}`}): ` +
        "the deploy tier needs moto's server, e.g. `pip install 'moto[server]==5.2.1'`, with moto_server on the PATH",
    );
  }
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/data.json`, {
      signal: AbortSignal.timeout(2_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * Starts a fresh moto server on 127.0.0.1 and resolves once it answers.
 * @throws MotoUnavailableError when moto_server is missing; Error when it exits early or does not
 * answer in time (nothing is left running then).
 */
export async function startMoto(
  options: { command?: string; startTimeoutMs?: number } = {},
): Promise<MotoServer> {
  const command = options.command ?? 'moto_server';
  requireMotoServer(command);
  const port = await freePort();
  const child: ChildProcess = spawn(
    'sh',
    ['-c', GUARD_SCRIPT, 'moto', command, '-H', '127.0.0.1', '-p', String(port)],
    { stdio: ['pipe', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  let motoPid: number | undefined;
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL);
    const match = /moto-pid (\d+)/.exec(output);
    if (match && motoPid === undefined) motoPid = Number(match[1]);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as Socket).unref();
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', (code) => {
      exitCode = code;
      resolveExit();
    });
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitCode !== undefined) return;
      child.ref();
      if (motoPid !== undefined) {
        try {
          process.kill(motoPid, 'SIGTERM');
        } catch {
          // already gone
        }
      } else {
        child.stdin?.end('stop\n');
      }
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), 10_000).unref()),
      ]);
      if (!timedOut) return;
      for (const pid of [motoPid, child.pid]) {
        if (pid === undefined) continue;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    })();
    return stopping;
  };
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (exitCode !== undefined) {
        throw new Error(
          `moto_server exited (code ${exitCode}) before answering on ${port}:\n${output}`,
        );
      }
      if (motoPid !== undefined && (await answers(endpoint))) break;
      if (Date.now() > deadline) {
        throw new Error(`moto_server did not answer on port ${port} in time:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    endpoint,
    localhostEndpoint: `http://localhost:${port}`,
    port,
    pid: motoPid!,
    output: () => output,
    stop,
  };
}

/** The environment a process needs to talk to moto as the SDKs and the CDK CLI do. */
export function motoEnvironment(
  moto: Pick<MotoServer, 'endpoint' | 'localhostEndpoint'>,
): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_REGION: MOTO_REGION,
    AWS_DEFAULT_REGION: MOTO_REGION,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION: moto.localhostEndpoint,
    // The composition root's own endpoint overrides: the SQS client otherwise follows the
    // queue URLs, which moto writes with AWS's host.
    [ENV.dynamodbEndpoint]: moto.endpoint,
    [ENV.sqsEndpoint]: moto.endpoint,
  };
}
