/**
 * Holds the AWS calls a function made (recorded by record-aws-calls.cjs) against its role's
 * identity policy, as IAM would authorize them: each call becomes the IAM actions it needs, on
 * the resources it names (a transaction needs each item's own action; a Query on an index needs
 * the index's ARN), and an Allow statement must match both (`*` and `?` as in IAM). moto does not
 * enforce IAM on these services, so this is where the deployed policies meet the deployed code.
 */
import { readFileSync } from 'node:fs';

/** One IAM authorization a call needs. */
export interface Needed {
  readonly action: string;
  readonly resource: string;
  /** The API call it comes from, for messages. */
  readonly call: string;
}

interface Recorded {
  readonly target: string;
  readonly body: string;
}

/** The recorded calls of a log file (missing file: no calls). */
export function recordedCalls(file: string): Recorded[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Recorded);
}

const TRANSACT_ITEM_ACTIONS: Readonly<Record<string, string>> = {
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
};

const SQS_BATCH_ACTIONS: Readonly<Record<string, string>> = {
  SendMessageBatch: 'sqs:SendMessage',
  DeleteMessageBatch: 'sqs:DeleteMessage',
  ChangeMessageVisibilityBatch: 'sqs:ChangeMessageVisibility',
};

/** The authorizations a recorded call needs, in `region` and `account`. */
export function neededFor(call: Recorded, region: string, account: string): Needed[] {
  const [service, operation] = call.target.split('.') as [string, string];
  const body = (call.body ? JSON.parse(call.body) : {}) as Record<string, unknown>;
  const table = (name: string) => `arn:aws:dynamodb:${region}:${account}:table/${name}`;
  const queue = (url: string) => `arn:aws:sqs:${region}:${account}:${url.split('/').pop()}`;
  const name = `${service}.${operation}`;
  if (service.startsWith('DynamoDB_')) {
    if (operation === 'TransactWriteItems') {
      return (body.TransactItems as Array<Record<string, { TableName: string }>>).map((item) => {
        const [kind, spec] = Object.entries(item)[0]!;
        return {
          action: TRANSACT_ITEM_ACTIONS[kind]!,
          resource: table(spec.TableName),
          call: name,
        };
      });
    }
    if (operation === 'BatchGetItem' || operation === 'BatchWriteItem') {
      return Object.keys(body.RequestItems as object).map((t) => ({
        action: `dynamodb:${operation}`,
        resource: table(t),
        call: name,
      }));
    }
    const resource =
      operation === 'Query' && body.IndexName
        ? `${table(body.TableName as string)}/index/${body.IndexName}`
        : table(body.TableName as string);
    return [{ action: `dynamodb:${operation}`, resource, call: name }];
  }
  if (service === 'AmazonSQS') {
    return [
      {
        action: SQS_BATCH_ACTIONS[operation] ?? `sqs:${operation}`,
        resource: queue(body.QueueUrl as string),
        call: name,
      },
    ];
  }
  if (service === 'Lambda' && operation === 'Invoke') {
    const fn = String(body.FunctionName);
    const resource = fn.startsWith('arn:')
      ? fn
      : `arn:aws:lambda:${region}:${account}:function:${fn}`;
    return [{ action: 'lambda:InvokeFunction', resource, call: name }];
  }
  if (service === 'secretsmanager') {
    return [{ action: `secretsmanager:${operation}`, resource: String(body.SecretId), call: name }];
  }
  throw new Error(`a call this check does not know how to authorize: ${name}`);
}

/** A policy statement, as IAM documents hold them. */
interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: unknown;
}

function glob(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
}

/** Statements of policy documents. */
export function statementsOf(documents: readonly unknown[]): Statement[] {
  return documents.flatMap((d) => [(d as { Statement: Statement | Statement[] }).Statement].flat());
}

/** Whether an unconditional Allow statement grants `action` on `resource` (and no Deny refuses it). */
export function allows(
  statements: readonly Statement[],
  action: string,
  resource: string,
): boolean {
  const matches = (s: Statement) =>
    [s.Action].flat().some((a) => glob(a).test(action)) &&
    [s.Resource].flat().some((r) => glob(r).test(resource));
  if (statements.some((s) => s.Effect === 'Deny' && matches(s))) return false;
  return statements.some((s) => s.Effect === 'Allow' && !s.Condition && matches(s));
}

/** Every (action, resource) pair the Allow statements grant. */
export function grantsOf(
  statements: readonly Statement[],
): Array<{ action: string; resource: string }> {
  return statements
    .filter((s) => s.Effect === 'Allow')
    .flatMap((s) =>
      [s.Action]
        .flat()
        .flatMap((action) => [s.Resource].flat().map((resource) => ({ action, resource }))),
    );
}
