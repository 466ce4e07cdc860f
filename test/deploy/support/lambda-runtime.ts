/**
 * One Lambda execution environment on this machine: the real runtime interface client (npm
 * `aws-lambda-ric`, the one AWS's Node.js base images run) in a Node 22 process, loading a
 * function's deployed code, and a small Runtime API server of ours that hands it invocations the
 * way the Lambda service does (`/runtime/invocation/next`, `…/response`, `…/error`,
 * `/runtime/init/error`), with the deadline, request id and function ARN headers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

/** What an invocation returned, as Lambda's Invoke API reports it. */
export interface InvokeResult {
  /** The handler's response, or Lambda's error object (`errorType`, `errorMessage`, …). */
  readonly payload: unknown;
  /** `Unhandled` when the function (or its initialisation) failed, as `X-Amz-Function-Error`. */
  readonly functionError?: 'Unhandled';
}

/** How to start an environment. */
export interface EnvironmentOptions {
  /** The unpacked deployment package: `LAMBDA_TASK_ROOT`. */
  readonly codeDirectory: string;
  /** `file.export`, as configured on the function. */
  readonly handler: string;
  /** The function's configured environment variables. */
  readonly variables: Readonly<Record<string, string>>;
  /** What Lambda itself sets: credentials, region, log format, endpoint overrides… */
  readonly platformVariables: Readonly<Record<string, string>>;
  readonly functionName: string;
  readonly functionArn: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** The function's log group (its LoggingConfig, or `/aws/lambda/NAME`). */
  readonly logGroupName: string;
}

interface Pending {
  readonly id: string;
  readonly event: unknown;
  readonly resolve: (result: InvokeResult) => void;
  timer?: NodeJS.Timeout;
}

const RIC_ENTRY = createRequire(import.meta.url).resolve('aws-lambda-ric');

/** A request's whole body, as text. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function parsed(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/** A running execution environment. Invocations run one at a time, as in Lambda. */
export class ExecutionEnvironment {
  /** Every line the function printed (stdout and stderr), in order. */
  readonly lines: string[] = [];
  /** Resolves with the runtime process's exit code once it has exited. */
  readonly exited: Promise<number | null>;
  private readonly queue: Pending[] = [];
  private waiting: ServerResponse | undefined;
  private current: Pending | undefined;
  private initError: unknown;

  private readonly options: EnvironmentOptions;
  private readonly server: Server;
  private readonly child: ChildProcess;

  private constructor(options: EnvironmentOptions, server: Server, child: ChildProcess) {
    this.options = options;
    this.server = server;
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        this.lines.push(...parts.filter((l) => l !== ''));
      });
    }
    // A runtime that dies mid-invocation fails it, as Lambda reports Runtime.ExitError.
    void this.exited.then((code) => {
      const failed = [...(this.current ? [this.current] : []), ...this.queue.splice(0)];
      for (const p of failed) {
        this.finish(p, {
          functionError: 'Unhandled',
          payload: this.initError ?? {
            errorType: 'Runtime.ExitError',
            errorMessage: `RequestId: ${p.id} Error: Runtime exited with error: exit status ${code}`,
          },
        });
      }
    });
  }

  /** Starts the Runtime API server and the runtime interface client on the function's code. */
  static async start(options: EnvironmentOptions): Promise<ExecutionEnvironment> {
    let environment: ExecutionEnvironment | undefined;
    const server = createServer((req, res) => {
      if (!environment) {
        res.writeHead(503).end();
        return;
      }
      environment.route(req, res).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const child = spawn(process.execPath, [RIC_ENTRY], {
      cwd: options.codeDirectory,
      env: {
        // Only what Lambda would set: nothing of this test process leaks in.
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        LANG: 'en_US.UTF-8',
        TZ: ':UTC',
        ...options.platformVariables,
        ...options.variables,
        AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
        LAMBDA_TASK_ROOT: options.codeDirectory,
        LAMBDA_RUNTIME_DIR: options.codeDirectory,
        _HANDLER: options.handler,
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
        AWS_LAMBDA_FUNCTION_NAME: options.functionName,
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memoryMb),
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
        AWS_LAMBDA_LOG_GROUP_NAME: options.logGroupName,
        AWS_LAMBDA_LOG_STREAM_NAME: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]${randomUUID().replaceAll('-', '')}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    environment = new ExecutionEnvironment(options, server, child);
    return environment;
  }

  /** Invokes the function with `event` and waits for its response, error or timeout. */
  invoke(event: unknown): Promise<InvokeResult> {
    return new Promise((resolve) => {
      const pending: Pending = { id: randomUUID(), event, resolve };
      if (this.child.exitCode !== null) {
        resolve({
          functionError: 'Unhandled',
          payload: this.initError ?? {
            errorType: 'Runtime.ExitError',
            errorMessage: `RequestId: ${pending.id} Error: Runtime exited with error: exit status ${this.child.exitCode}`,
          },
        });
        return;
      }
      this.queue.push(pending);
      this.dispatch();
    });
  }

  /** Stops the runtime process (by its PID) and the Runtime API server. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
    this.waiting?.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private dispatch(): void {
    if (this.current || !this.waiting) return;
    const next = this.queue.shift();
    if (!next) return;
    const res = this.waiting;
    this.waiting = undefined;
    this.current = next;
    const deadline = Date.now() + this.options.timeoutSeconds * 1000;
    next.timer = setTimeout(() => {
      // Lambda ends a timed-out invocation by discarding its environment.
      this.finish(next, {
        functionError: 'Unhandled',
        payload: {
          errorType: 'Sandbox.Timedout',
          errorMessage: `RequestId: ${next.id} Error: Task timed out after ${this.options.timeoutSeconds.toFixed(2)} seconds`,
        },
      });
      this.child.kill('SIGKILL');
    }, this.options.timeoutSeconds * 1000);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Aws-Request-Id': next.id,
      'Lambda-Runtime-Deadline-Ms': String(deadline),
      'Lambda-Runtime-Invoked-Function-Arn': this.options.functionArn,
      'Lambda-Runtime-Trace-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)};Sampled=0`,
    });
    res.end(JSON.stringify(next.event));
  }

  private finish(pending: Pending, result: InvokeResult): void {
    if (pending.timer) clearTimeout(pending.timer);
    if (this.current === pending) this.current = undefined;
    pending.resolve(result);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    if (req.method === 'GET' && url === '/2018-06-01/runtime/invocation/next') {
      this.waiting = res;
      this.dispatch();
      return;
    }
    const body = await readBody(req);
    const invocation = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
    if (req.method === 'POST' && invocation) {
      const id = decodeURIComponent(invocation[1]!);
      const pending = this.current?.id === id ? this.current : undefined;
      if (!pending) {
        res.writeHead(400).end(JSON.stringify({ errorType: 'InvalidRequestID' }));
        return;
      }
      this.finish(
        pending,
        invocation[2] === 'response'
          ? { payload: parsed(body) }
          : { functionError: 'Unhandled', payload: parsed(body) },
      );
      res.writeHead(202).end('{"status":"OK"}');
      return;
    }
    if (req.method === 'POST' && url === '/2018-06-01/runtime/init/error') {
      this.initError = parsed(body);
      res.writeHead(202).end('{"status":"OK"}');
      // Lambda fails the invocation that was waiting for this environment with the init error.
      const waitingFor = this.queue.shift();
      if (waitingFor)
        this.finish(waitingFor, { functionError: 'Unhandled', payload: this.initError });
      return;
    }
    res.writeHead(404).end();
  }
}
