/**
 * What a deploy left in moto, read back through the AWS APIs: the stack's resources, each
 * resource's physical id, and the values the template's `Ref` and `Fn::GetAtt` stand for, so a
 * template property can be compared with what the service reports.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CloudFormationClient,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { MOTO_ACCOUNT, MOTO_REGION } from '../../../scripts/deploy/moto.ts';

/** A CloudFormation template, as far as these tests read it. */
export interface Template {
  readonly Resources: Record<
    string,
    { readonly Type: string; readonly Properties?: Record<string, unknown> }
  >;
  readonly Outputs?: Record<string, { readonly Value: unknown }>;
}

/** The AWS clients of the tier, all pointed at moto by the environment. */
export interface Clients {
  readonly cloudformation: CloudFormationClient;
  readonly lambda: LambdaClient;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  readonly iam: IAMClient;
  readonly s3: S3Client;
}

/** Clients at `endpoint` (SQS explicitly: it otherwise follows the queue URLs' AWS host). */
export function clientsFor(endpoint: string): Clients {
  return {
    cloudformation: new CloudFormationClient({}),
    lambda: new LambdaClient({}),
    sqs: new SQSClient({ endpoint }),
    dynamodb: new DynamoDBClient({}),
    iam: new IAMClient({}),
    s3: new S3Client({ forcePathStyle: true }),
  };
}

/** Reads a synthesised template. */
export function readTemplate(path: string): Template {
  return JSON.parse(readFileSync(path, 'utf8')) as Template;
}

/** The stack's resources as CloudFormation lists them, by logical id (only those it created). */
export async function stackResources(
  clients: Clients,
  stackName: string,
): Promise<Map<string, StackResourceSummary>> {
  const found = new Map<string, StackResourceSummary>();
  let token: string | undefined;
  do {
    const page = await clients.cloudformation.send(
      new ListStackResourcesCommand({ StackName: stackName, NextToken: token }),
    );
    for (const r of page.StackResourceSummaries ?? []) {
      // moto lists the resources it skipped too, with no logical id and no physical id.
      if (r.LogicalResourceId) found.set(r.LogicalResourceId, r);
    }
    token = page.NextToken;
  } while (token);
  return found;
}

/** Resolves `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub` and pseudo parameters against a deployed stack. */
export class Resolver {
  private readonly attributes = new Map<string, string>();
  private readonly template: Template;
  private readonly resources: Map<string, StackResourceSummary>;
  private readonly clients: Clients;

  constructor(template: Template, resources: Map<string, StackResourceSummary>, clients: Clients) {
    this.template = template;
    this.resources = resources;
    this.clients = clients;
  }

  /** The physical id of a created resource. */
  physicalId(logicalId: string): string {
    const id = this.resources.get(logicalId)?.PhysicalResourceId;
    if (!id) throw new Error(`resource ${logicalId} was not created`);
    return id;
  }

  /** A template value with every intrinsic function replaced by what the deploy made of it. */
  async resolve(value: unknown): Promise<unknown> {
    if (Array.isArray(value)) return Promise.all(value.map((v) => this.resolve(v)));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    if (entries.length === 1) {
      const [fn, arg] = entries[0]!;
      if (fn === 'Ref') return this.ref(arg as string);
      if (fn === 'Fn::GetAtt') {
        const [logicalId, attribute] = arg as [string, string];
        return this.getAtt(logicalId, attribute);
      }
      if (fn === 'Fn::Join') {
        const [separator, parts] = arg as [string, unknown[]];
        return ((await this.resolve(parts)) as unknown[]).join(separator);
      }
      if (fn === 'Fn::Sub' && typeof arg === 'string') {
        let text = arg;
        for (const m of arg.matchAll(/\$\{([^}]+)\}/g)) {
          const [name, attribute] = m[1]!.split('.') as [string, string | undefined];
          const resolved = attribute ? await this.getAtt(name, attribute) : await this.ref(name);
          text = text.replace(m[0], String(resolved));
        }
        return text;
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) out[k] = await this.resolve(v);
    return out;
  }

  private async ref(name: string): Promise<string> {
    switch (name) {
      case 'AWS::AccountId':
        return MOTO_ACCOUNT;
      case 'AWS::Region':
        return MOTO_REGION;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      default:
        return this.physicalId(name);
    }
  }

  private async getAtt(logicalId: string, attribute: string): Promise<string> {
    const key = `${logicalId}.${attribute}`;
    const known = this.attributes.get(key);
    if (known) return known;
    const type = this.template.Resources[logicalId]?.Type;
    const id = this.physicalId(logicalId);
    let value: string | undefined;
    if (attribute === 'Arn') {
      switch (type) {
        case 'AWS::DynamoDB::Table':
          value = (await this.clients.dynamodb.send(new DescribeTableCommand({ TableName: id })))
            .Table?.TableArn;
          break;
        case 'AWS::SQS::Queue':
          value = (
            await this.clients.sqs.send(
              new GetQueueAttributesCommand({ QueueUrl: id, AttributeNames: ['QueueArn'] }),
            )
          ).Attributes?.QueueArn;
          break;
        case 'AWS::Lambda::Function':
          value = (await this.clients.lambda.send(new GetFunctionCommand({ FunctionName: id })))
            .Configuration?.FunctionArn;
          break;
        case 'AWS::IAM::Role':
          value = (await this.clients.iam.send(new GetRoleCommand({ RoleName: id }))).Role?.Arn;
          break;
        case 'AWS::Logs::LogGroup':
          // CloudFormation documents `arn:…:log-group:NAME:*`; moto resolves it without the `:*`
          // (MOTO_QUIRKS), which still covers the group's streams only in moto's eyes.
          value = `arn:aws:logs:${MOTO_REGION}:${MOTO_ACCOUNT}:log-group:${id}`;
          break;
      }
    }
    if (value === undefined) throw new Error(`cannot resolve Fn::GetAtt ${key} (${type})`);
    this.attributes.set(key, value);
    return value;
  }
}

/**
 * Downloads a function's deployment package from the CDK's asset bucket in moto, where
 * `cdk deploy` uploaded it, and unpacks it into `dir`.
 */
export async function unpackFunctionCode(
  clients: Clients,
  code: { readonly bucket: string; readonly key: string },
  dir: string,
): Promise<{ readonly zipBytes: number }> {
  if (spawnSync('unzip', ['-v']).error) {
    throw new Error('the deploy tier needs `unzip` on the PATH to unpack the function packages');
  }
  const object = await clients.s3.send(
    new GetObjectCommand({ Bucket: code.bucket, Key: code.key }),
  );
  const zip = Buffer.from(await object.Body!.transformToByteArray());
  mkdirSync(dir, { recursive: true });
  const file = join(dir, '..', `${code.key}`);
  writeFileSync(file, zip);
  execFileSync('unzip', ['-o', '-q', file, '-d', dir]);
  return { zipBytes: zip.length };
}

/**
 * A policy document as IAM's GetRolePolicy returns it: URL-encoded JSON from AWS. moto returns
 * an inline policy that CloudFormation created as Python's `repr` of the document instead (single
 * quotes, `True`/`False`/`None`), so that form is read too.
 */
export function policyDocument(text: string): unknown {
  const decoded = decodeURIComponent(text);
  try {
    return JSON.parse(decoded);
  } catch {
    return parsePythonLiteral(decoded);
  }
}

/** Parses a Python literal of dicts, lists, strings, numbers, booleans and None. */
export function parsePythonLiteral(text: string): unknown {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at ${i} in ${text.slice(0, 200)}`);
  };
  const space = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const value = (): unknown => {
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      const out: Record<string, unknown> = {};
      space();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        const key = value();
        space();
        if (text[i++] !== ':') fail('expected ":"');
        out[String(key)] = value();
        space();
        const sep = text[i++];
        if (sep === '}') return out;
        if (sep !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const out: unknown[] = [];
      space();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        space();
        const sep = text[i++];
        if (sep === ']') return out;
        if (sep !== ',') fail('expected "," or "]"');
      }
    }
    if (c === "'" || c === '"') {
      i++;
      let s = '';
      while (text[i] !== c) {
        if (i >= text.length) fail('unterminated string');
        if (text[i] === '\\') {
          const e = text[i + 1];
          s += e === 'n' ? '\n' : e === 't' ? '\t' : (e ?? '');
          i += 2;
        } else {
          s += text[i++];
        }
      }
      i++;
      return s;
    }
    for (const [word, v] of [
      ['True', true],
      ['False', false],
      ['None', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const number = /^-?\d+(\.\d+)?/.exec(text.slice(i));
    if (number) {
      i += number[0].length;
      return Number(number[0]);
    }
    return fail('unexpected character');
  };
  const result = value();
  space();
  if (i !== text.length) fail('trailing text');
  return result;
}
