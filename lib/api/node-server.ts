/**
 * The claims API on `node:http`, for the local run and tests: the very handler the Lambda
 * function URL calls, on a loopback port. Requests are not signed-checked here (a signed
 * request is accepted like any other).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HousekeeperError } from '../domain/errors.ts';
import type { ApiRequest, ApiResponse } from './http.ts';

/** The largest request body accepted, in bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

/** A running API server. */
export interface RunningApi {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, and ends open connections. */
  close(): Promise<void>;
}

/** The port is taken, or cannot be bound. */
export class ApiListenError extends HousekeeperError {
  readonly port: number;
  constructor(message: string, port: number, options?: ErrorOptions) {
    super(message, options);
    this.port = port;
  }
}

/** Options of {@link serveApi}. */
export interface ServeOptions {
  /** 0: any free port. */
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  /** Named in the message when the port is taken (e.g. `--api-port`). */
  readonly portOption?: string;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RangeError('body too large');
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 0 ? undefined : Buffer.concat(chunks).toString('utf8');
}

/** Serves `handle` on a loopback port. @throws ApiListenError when the port cannot be bound. */
export async function serveApi(
  handle: (request: ApiRequest) => Promise<ApiResponse>,
  options: ServeOptions,
): Promise<RunningApi> {
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    void (async () => {
      let response: ApiResponse;
      try {
        const body = await readBody(req);
        const url = new URL(req.url ?? '/', 'http://localhost');
        const headers: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
        }
        response = await handle({
          method: req.method ?? 'GET',
          path: url.pathname,
          headers,
          ...(body !== undefined ? { body } : {}),
        });
      } catch (error) {
        const tooLarge = error instanceof RangeError;
        response = {
          status: tooLarge ? 413 : 400,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            error: {
              code: 'INVALID_REQUEST',
              message: tooLarge
                ? `body: must be at most ${MAX_BODY_BYTES} bytes`
                : `could not read the request: ${String(error)}`,
            },
          }),
        };
      }
      res.writeHead(response.status, response.headers);
      res.end(response.body);
    })();
  });
  await listen(server, options.port, host, options.portOption);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, port: number, host: string, portOption?: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const option = portOption ?? 'the API port';
      reject(
        new ApiListenError(
          error.code === 'EADDRINUSE'
            ? `API port ${port} on ${host} is already in use: choose another with ${option} (0 picks a free one)`
            : `cannot serve the API on ${host}:${port} (${option}): ${error.message}`,
          port,
          { cause: error },
        ),
      );
    });
    server.listen(port, host, () => resolve());
  });
}

/**
 * Fails now if `port` cannot be bound on `host` (0 always can), so that a command can refuse
 * before it starts anything else. The port is free again when this returns.
 * @throws ApiListenError naming `portOption`.
 */
export async function checkPortFree(
  port: number,
  options: { readonly host?: string; readonly portOption?: string } = {},
): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  await listen(server, port, options.host ?? '127.0.0.1', options.portOption ?? '--api-port');
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
