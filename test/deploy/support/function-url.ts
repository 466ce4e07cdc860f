/**
 * What moto does not serve in Tier 2, played by loopback servers of the tests, as AWS does it:
 *
 * - a function URL with `AuthType: AWS_IAM` in front of an execution environment: it refuses a
 *   request whose SigV4 signature (service `lambda`) does not verify against the caller's
 *   credentials with 403, as Lambda does, and hands the rest to the function as a payload
 *   format 2.0 event with the caller in `requestContext.authorizer.iam`; the function's
 *   structured response becomes the HTTP response, a function error a 502;
 * - Lambda's Invoke API for asynchronous invocations (`X-Amz-Invocation-Type: Event`): it
 *   answers 202 and keeps the event, which the test delivers to the target's environment when it
 *   chooses (as the event source poller does for SQS), so that scenarios stay deterministic.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { type ExecutionEnvironment, type InvokeResult, readBody } from './lambda-runtime.ts';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The caller a front knows, by access key. */
export interface KnownCaller {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The principal's ARN, as Lambda puts it in `authorizer.iam.userArn`. */
  readonly arn: string;
  readonly account: string;
}

/** One request the URL answered. */
export interface UrlRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
}

const CREDENTIAL =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/;

/**
 * Why a request's signature does not verify, or undefined when it does: the scope must be
 * `lambda` in `region`, the key a known caller's, and the signature the one SigV4 computes over
 * the signed headers.
 */
async function signatureProblem(
  req: IncomingMessage,
  body: string,
  region: string,
  callers: readonly KnownCaller[],
): Promise<{ problem: string } | { caller: KnownCaller }> {
  const authorization = req.headers.authorization;
  if (!authorization) return { problem: 'Missing Authentication Token' };
  const m = CREDENTIAL.exec(authorization);
  if (!m) return { problem: 'Authorization header is not AWS4-HMAC-SHA256' };
  const [, keyId, , scopeRegion, service, signedHeaders, signature] = m as unknown as string[];
  if (service !== 'lambda') return { problem: `credential scope names service ${service}` };
  if (scopeRegion !== region) return { problem: `credential scope names region ${scopeRegion}` };
  const caller = callers.find((c) => c.accessKeyId === keyId);
  if (!caller) return { problem: `the security token included in the request is invalid` };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const when = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!when) return { problem: 'X-Amz-Date missing or malformed' };
  const signingDate = new Date(
    `${when[1]}-${when[2]}-${when[3]}T${when[4]}:${when[5]}:${when[6]}Z`,
  );
  if (Math.abs(Date.now() - signingDate.getTime()) > 5 * 60_000) {
    return { problem: 'Signature expired' };
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders!.split(';')) {
    const value = req.headers[name];
    if (value === undefined) return { problem: `signed header ${name} is missing` };
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signer = new SignatureV4({
    service: 'lambda',
    region,
    credentials: { accessKeyId: caller.accessKeyId, secretAccessKey: caller.secretAccessKey },
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers,
      ...(body !== '' ? { body } : {}),
    },
    { signingDate },
  );
  const expected = CREDENTIAL.exec(String(signed.headers.authorization))?.[6];
  if (expected !== signature) {
    return {
      problem: 'The request signature we calculated does not match the signature you provided',
    };
  }
  return { caller };
}

/** A function URL with AWS_IAM auth in front of an execution environment. */
export class FunctionUrl {
  /** Every request answered, in order. */
  readonly requests: UrlRequest[] = [];

  /** Where the URL listens, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  private readonly server: Server;

  private constructor(url: string, server: Server) {
    this.url = url;
    this.server = server;
  }

  static async start(options: {
    readonly environment: () => ExecutionEnvironment;
    readonly region: string;
    readonly callers: readonly KnownCaller[];
  }): Promise<FunctionUrl> {
    let front: FunctionUrl | undefined;
    const server = createServer((req, res) => {
      void handle(req, res).catch((error: unknown) => {
        res.writeHead(500).end(String(error));
      });
    });
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const body = await readBody(req);
      const answer = (status: number, headers: Record<string, string>, text: string) => {
        front?.requests.push({
          method: req.method ?? '',
          path: new URL(req.url ?? '/', 'http://x').pathname,
          status,
        });
        res.writeHead(status, headers).end(text);
      };
      const verified = await signatureProblem(req, body, options.region, options.callers);
      if ('problem' in verified) {
        answer(
          403,
          { 'content-type': 'application/json' },
          JSON.stringify({ Message: verified.problem }),
        );
        return;
      }
      const result = await options.environment().invoke(urlEvent(req, body, verified.caller));
      if (result.functionError) {
        answer(
          502,
          { 'content-type': 'application/json' },
          JSON.stringify({ Message: 'Internal Server Error' }),
        );
        return;
      }
      const response = result.payload as {
        statusCode: number;
        headers?: Record<string, string>;
        body?: string;
      };
      answer(response.statusCode, response.headers ?? {}, response.body ?? '');
    };
    front = new FunctionUrl(await listen(server), server);
    return front;
  }

  async stop(): Promise<void> {
    await close(this.server);
  }
}

/** The payload format 2.0 event of a function URL request. */
function urlEvent(req: IncomingMessage, body: string, caller: KnownCaller): unknown {
  const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    requestContext: {
      accountId: caller.account,
      apiId: 'tier2',
      authorizer: {
        iam: {
          accessKey: caller.accessKeyId,
          accountId: caller.account,
          callerId: caller.accessKeyId,
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: caller.arn,
          userId: caller.accessKeyId,
        },
      },
      domainName: String(req.headers.host),
      domainPrefix: 'tier2',
      http: {
        method: req.method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: String(req.headers['user-agent'] ?? ''),
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body !== '' ? { body, isBase64Encoded: false } : { isBase64Encoded: false }),
  };
}

/** One asynchronous invocation Lambda accepted. */
export interface AsyncInvocation {
  readonly functionName: string;
  readonly payload: unknown;
}

/** Lambda's Invoke API for `InvocationType: Event`, holding the events for the test. */
export class AsyncInvokeFront {
  /** Every invocation accepted, delivered or not. */
  readonly accepted: AsyncInvocation[] = [];
  /** How many of {@link accepted} have been delivered. */
  private delivered = 0;

  /** Where Lambda's API listens: the invoking function's `AWS_ENDPOINT_URL_LAMBDA`. */
  readonly endpoint: string;
  private readonly server: Server;

  private constructor(endpoint: string, server: Server) {
    this.endpoint = endpoint;
    this.server = server;
  }

  static async start(): Promise<AsyncInvokeFront> {
    let front: AsyncInvokeFront | undefined;
    const server = createServer((req, res) => {
      void readBody(req).then((body) => {
        const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(
          new URL(req.url ?? '/', 'http://x').pathname,
        );
        if (req.method !== 'POST' || !m) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
          return;
        }
        if (req.headers['x-amz-invocation-type'] !== 'Event') {
          res
            .writeHead(400, { 'content-type': 'application/json' })
            .end(JSON.stringify({ Message: 'this front takes asynchronous invocations only' }));
          return;
        }
        const invocation = {
          functionName: decodeURIComponent(m[1]!),
          payload: body === '' ? {} : JSON.parse(body),
        };
        front?.accepted.push(invocation);
        res.writeHead(202, { 'content-type': 'application/json' }).end('');
      });
    });
    front = new AsyncInvokeFront(await listen(server), server);
    return front;
  }

  /** Hands every waiting invocation to `environment`, in order, and returns their results. */
  async deliver(environment: ExecutionEnvironment): Promise<InvokeResult[]> {
    const results: InvokeResult[] = [];
    while (this.delivered < this.accepted.length) {
      const next = this.accepted[this.delivered++]!;
      results.push(await environment.invoke(next.payload));
    }
    return results;
  }

  async stop(): Promise<void> {
    await close(this.server);
  }
}
