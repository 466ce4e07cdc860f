/**
 * Tier 0: the invariants of the synthesised stack, held against the deployment contract and the
 * configuration schema (never against numbers written here): queue visibility and redrive, the
 * schedule's rate, the functions' settings and environment, the table, the secret, the VPC and
 * the outputs. IAM, alarms and the dashboard have their own files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { API_INDEXES } from '../../cdk/claims-api.ts';
import { PLANNER_INDEXES, SCHEDULE_INPUT } from '../../cdk/planner-schedule.ts';
import { executorRuntimeFromEnv } from '../../functions/executor-runtime.ts';
import { plannerRuntimeFromEnv } from '../../functions/planner-runtime.ts';
import {
  BY_EXPIRY,
  BY_ID,
  BY_STATE_AGE,
  BY_STATE_ZONE,
  DLQ_RETENTION_SECONDS,
  ENV,
  executorTimeoutSeconds,
  FUNCTION_MEMORY_MB,
  POOL_TABLE,
  PRESERVED_QUEUE,
  plannerTimeoutSeconds,
  queueSettings,
} from '../../lib/config/deployment.ts';
import { parseConfig } from '../../lib/config/schema.ts';
import { STACK_OUTPUTS } from '../../lib/config/stack-outputs.ts';
import { type Json, resourcesOf, type Synthesized, synth, type Variant } from './support/synth.ts';

const ALL: Variant[] = ['noop', 'openstack', 'everything', 'importedArn'];

/** The function whose `aws:cdk:path` contains `part` (`Planner` or `Executor`). */
/** The functions of the stack, by the construct id in their path. */
type FunctionPart = 'Planner' | 'Executor' | 'Api';

function fn(s: Synthesized, part: FunctionPart): [string, Record<string, Json>] {
  const found = Object.entries(s.json.Resources).find(
    ([, r]) =>
      r.Type === 'AWS::Lambda::Function' &&
      String(r.Metadata?.['aws:cdk:path']).includes(`/${part}/`),
  );
  if (!found) throw new Error(`no ${part} function`);
  return [found[0], found[1].Properties ?? {}];
}

/** Replaces every intrinsic function with a placeholder naming what it refers to. */
function placeholders(value: Json): Json {
  if (Array.isArray(value)) return value.map(placeholders);
  if (value && typeof value === 'object') {
    if ('Ref' in value) return `ref:${value.Ref}`;
    if ('Fn::GetAtt' in value) return `att:${value['Fn::GetAtt'].join('.')}`;
    if ('Fn::Join' in value) return `join:${JSON.stringify(value['Fn::Join'])}`;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, placeholders(v)]));
  }
  return value;
}

/** Seconds of a Scheduler rate expression, `rate(5 minutes)`. */
function rateSeconds(expression: string): number {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!m) throw new Error(`not a rate expression: ${expression}`);
  const unit = { minute: 60, hour: 3_600, day: 86_400 }[m[2]!.replace(/s$/, '') as 'minute'];
  return Number(m[1]) * unit;
}

describe.each(ALL)('the %s stack', (variant) => {
  const s = synth(variant);
  const { config } = s.deployment;
  const settings = queueSettings(config);

  it('keeps the task queue visible for at least 6 x the executor timeout, as the contract sets it', () => {
    const [, executor] = fn(s, 'Executor');
    const queue = resourcesOf(s.json, 'AWS::SQS::Queue').find(([, p]) => p.RedrivePolicy)!;
    expect(queue[1].VisibilityTimeout).toBe(settings.visibilityTimeoutSeconds);
    expect(queue[1].VisibilityTimeout).toBeGreaterThanOrEqual(6 * executor.Timeout);
  });

  it("redrives a task to the DLQ after the retry policy's task_max_attempts deliveries", () => {
    const [, queue] = resourcesOf(s.json, 'AWS::SQS::Queue').find(([, p]) => p.RedrivePolicy)!;
    expect(queue.RedrivePolicy.maxReceiveCount).toBe(config.task_max_attempts);
    const dlqId = queue.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
    expect(s.json.Resources[dlqId]!.Properties!.MessageRetentionPeriod).toBe(DLQ_RETENTION_SECONDS);
  });

  it('encrypts every queue and refuses any request that is not over TLS', () => {
    const queues = resourcesOf(s.json, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(3);
    for (const [id, p] of queues) {
      expect(p.SqsManagedSseEnabled, id).toBe(true);
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it("feeds the executor from the task queue with the config's batching, concurrency and partial failures", () => {
    const [executorId] = fn(s, 'Executor');
    const [[, mapping]] = resourcesOf(s.json, 'AWS::Lambda::EventSourceMapping') as [
      [string, Json],
    ];
    expect(mapping.FunctionName).toStrictEqual({ Ref: executorId });
    expect(mapping.BatchSize).toBe(settings.batchSize);
    expect(mapping.MaximumBatchingWindowInSeconds ?? 0).toBe(settings.maxBatchingWindowSeconds);
    expect(mapping.ScalingConfig).toStrictEqual({
      MaximumConcurrency: settings.maximumConcurrency,
    });
    expect(mapping.FunctionResponseTypes).toStrictEqual(['ReportBatchItemFailures']);
  });

  it('ticks at exactly housekeeping_interval, flexible window off, no retry beyond one interval, with a DLQ', () => {
    const [[, schedule]] = resourcesOf(s.json, 'AWS::Scheduler::Schedule') as [[string, Json]];
    expect(rateSeconds(schedule.ScheduleExpression)).toBe(config.housekeeping_interval);
    expect(schedule.FlexibleTimeWindow).toStrictEqual({ Mode: 'OFF' });
    expect(schedule.Target.RetryPolicy.MaximumRetryAttempts).toBe(0);
    expect(schedule.Target.RetryPolicy.MaximumEventAgeInSeconds).toBeLessThanOrEqual(
      config.housekeeping_interval,
    );
    expect(schedule.Target.DeadLetterConfig.Arn['Fn::GetAtt'][1]).toBe('Arn');
    expect(schedule.Target.Arn).toStrictEqual({ 'Fn::GetAtt': [fn(s, 'Planner')[0], 'Arn'] });
    expect(JSON.parse(schedule.Target.Input)).toStrictEqual(SCHEDULE_INPUT);
    const [, invokeConfig] = resourcesOf(s.json, 'AWS::Lambda::EventInvokeConfig')[0]!;
    expect(invokeConfig.MaximumRetryAttempts).toBe(0);
    expect(invokeConfig.MaximumEventAgeInSeconds).toBeLessThanOrEqual(config.housekeeping_interval);
  });

  it('lets only the Scheduler, for this account and schedule group, assume the invoke role', () => {
    const [[, schedule]] = resourcesOf(s.json, 'AWS::Scheduler::Schedule') as [[string, Json]];
    const roleId = schedule.Target.RoleArn['Fn::GetAtt'][0];
    const trust = s.json.Resources[roleId]!.Properties!.AssumeRolePolicyDocument.Statement;
    expect(trust).toHaveLength(1);
    expect(trust[0].Principal).toStrictEqual({ Service: 'scheduler.amazonaws.com' });
    expect(trust[0].Condition.StringEquals).toStrictEqual({
      'aws:SourceAccount': { Ref: 'AWS::AccountId' },
    });
    expect(JSON.stringify(trust[0].Condition.ArnEquals['aws:SourceArn'])).toContain(
      `schedule-group/${schedule.GroupName}`,
    );
  });

  it.each(['Planner', 'Executor'] as const)(
    'builds the %s on Node.js 22, arm64, with explicit memory and timeout, JSON logs and a retained log group',
    (part) => {
      const [, p] = fn(s, part);
      expect(p.Runtime).toBe('nodejs22.x');
      expect(p.Architectures).toStrictEqual(['arm64']);
      expect(p.Handler).toBe('index.handler');
      expect(p.MemorySize).toBe(FUNCTION_MEMORY_MB[part === 'Planner' ? 'planner' : 'executor']);
      expect(p.Timeout).toBe(
        part === 'Planner' ? plannerTimeoutSeconds(config) : executorTimeoutSeconds(config),
      );
      expect(p.LoggingConfig).toMatchObject({
        LogFormat: 'JSON',
        ApplicationLogLevel: s.deployment.stack.log_level,
      });
      const logGroup = s.json.Resources[p.LoggingConfig.LogGroup.Ref]!;
      expect(logGroup.Properties!.RetentionInDays).toBe(s.deployment.stack.log_retention_days);
      expect(logGroup.DeletionPolicy).toBe('Retain');
      expect(p.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    },
  );

  it('keeps the planner within the lease TTL and the interval, so that two cycles never overlap', () => {
    const [, p] = fn(s, 'Planner');
    expect(p.Timeout).toBeLessThan(config.planner_lease_ttl);
    expect(p.Timeout).toBeLessThan(config.housekeeping_interval);
  });

  it.each(['Planner', 'Executor'] as const)(
    'gives the %s only variables the runtime reads, and the runtime starts from them',
    (part) => {
      // Prepare
      const [, p] = fn(s, part);
      const variables = placeholders(p.Environment.Variables) as Record<string, string>;
      const known = new Set<string>([...Object.values(ENV), 'NODE_OPTIONS']);

      // Act
      const runtime = (part === 'Planner' ? plannerRuntimeFromEnv : executorRuntimeFromEnv)(
        variables,
      );

      // Assess
      expect(Object.keys(variables).filter((k) => !known.has(k))).toStrictEqual([]);
      expect(runtime.config).toStrictEqual(config);
      expect(parseConfig(JSON.parse(variables[ENV.config]!))).toStrictEqual(config);
      expect(variables[ENV.tableName]).toMatch(/^ref:PoolTable/);
      const secret = variables[ENV.credentialsSecretArn];
      if (part === 'Planner' || config.driver === 'noop') expect(secret).toBeUndefined();
      else expect(secret).toBeDefined();
    },
  );

  it('makes the pool table from the contract: keys, indexes, TTL, on demand, PITR, encryption, protected and retained', () => {
    const tables = resourcesOf(s.json, 'AWS::DynamoDB::Table');
    expect(resourcesOf(s.json, 'AWS::DynamoDB::GlobalTable')).toStrictEqual([]);
    expect(tables).toHaveLength(1);
    const [id, t] = tables[0]!;
    expect(t.KeySchema).toStrictEqual([
      { AttributeName: POOL_TABLE.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: POOL_TABLE.sortKey.name, KeyType: 'RANGE' },
    ]);
    expect(t.GlobalSecondaryIndexes).toStrictEqual(
      POOL_TABLE.globalSecondaryIndexes.map((i) => ({
        IndexName: i.indexName,
        KeySchema: [
          { AttributeName: i.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: i.sortKey.name, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: i.projectionType },
      })),
    );
    expect(t.TimeToLiveSpecification).toStrictEqual({
      AttributeName: POOL_TABLE.timeToLiveAttribute,
      Enabled: true,
    });
    expect(t.BillingMode).toBe(POOL_TABLE.billingMode);
    expect(t.PointInTimeRecoverySpecification).toStrictEqual({ PointInTimeRecoveryEnabled: true });
    expect(t.SSESpecification).toStrictEqual({ SSEEnabled: true });
    expect(t.DeletionProtectionEnabled).toBe(true);
    expect(s.json.Resources[id]!.DeletionPolicy).toBe('Retain');
    expect(s.json.Resources[id]!.UpdateReplacePolicy).toBe('Retain');
  });

  it('names every output the CLI reads after the shared output names', () => {
    const outputs = Object.keys(s.json.Outputs ?? {}).sort();
    const expected = Object.values(STACK_OUTPUTS).filter(
      (o) => o !== STACK_OUTPUTS.credentialsSecretArn || config.driver === 'openstack',
    );
    expect(outputs).toStrictEqual([...expected].sort());
  });

  it('bundles each function minified, with a source map and the SDK inside', () => {
    for (const part of ['Planner', 'Executor'] as const) {
      const [id] = fn(s, part);
      const dir = join(s.outdir, s.json.Resources[id]!.Metadata['aws:asset:path']);
      const code = readFileSync(join(dir, 'index.js'), 'utf8');
      const map = JSON.parse(readFileSync(join(dir, 'index.js.map'), 'utf8'));
      // Minified: long lines (the few line breaks left are inside template literals).
      expect(code.length / code.split('\n').length, part).toBeGreaterThan(1_000);
      expect(code).toContain('//# sourceMappingURL=index.js.map');
      expect(map.sourcesContent ?? []).toStrictEqual([]);
      expect(map.sources.some((f: string) => f.includes('@aws-sdk/client-dynamodb'))).toBe(true);
    }
  });
});

describe('the credentials secret', () => {
  it('is not made, nor named, with the noop driver', () => {
    const s = synth('noop');
    expect(resourcesOf(s.json, 'AWS::SecretsManager::Secret')).toStrictEqual([]);
    expect(JSON.stringify(s.json)).not.toContain(ENV.credentialsSecretArn);
  });

  it('is created empty and retained when the openstack driver names none', () => {
    const s = synth('openstack');
    const secrets = resourcesOf(s.json, 'AWS::SecretsManager::Secret');
    expect(secrets).toHaveLength(1);
    const [id, p] = secrets[0]!;
    expect(p.SecretString).toBe('{}');
    expect(s.json.Resources[id]!.DeletionPolicy).toBe('Retain');
    expect(fn(s, 'Executor')[1].Environment.Variables[ENV.credentialsSecretArn]).toStrictEqual({
      Ref: id,
    });
  });

  it.each([
    [
      'importedArn',
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:octavia/housekeeper-AbCdEf',
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:octavia/housekeeper-AbCdEf',
    ],
    ['everything', ':secret:octavia/housekeeper', ':secret:octavia/housekeeper-??????'],
  ] as const)('is imported, not created, in the %s stack', (variant, named, granted) => {
    const s = synth(variant);
    expect(resourcesOf(s.json, 'AWS::SecretsManager::Secret')).toStrictEqual([]);
    const value = JSON.stringify(
      fn(s, 'Executor')[1].Environment.Variables[ENV.credentialsSecretArn],
    );
    expect(value).toContain(named);
    expect(JSON.stringify(s.json)).toContain(granted);
  });
});

describe('the optional VPC', () => {
  it('places only the executor in the configured subnets, with a security group made for it', () => {
    const s = synth('everything');
    const vpc = s.deployment.stack.vpc!;
    const [, executor] = fn(s, 'Executor');
    const [, planner] = fn(s, 'Planner');
    expect(planner.VpcConfig).toBeUndefined();
    expect(executor.VpcConfig.SubnetIds).toStrictEqual(vpc.subnet_ids);
    const [[sgId, sg]] = resourcesOf(s.json, 'AWS::EC2::SecurityGroup') as [[string, Json]];
    expect(executor.VpcConfig.SecurityGroupIds).toStrictEqual([
      { 'Fn::GetAtt': [sgId, 'GroupId'] },
    ]);
    expect(sg.VpcId).toBe(vpc.vpc_id);
    expect(sg.SecurityGroupIngress).toBeUndefined();
  });

  it('is absent unless configured', () => {
    for (const variant of ['noop', 'openstack', 'importedArn'] as const) {
      const s = synth(variant);
      expect(fn(s, 'Executor')[1].VpcConfig, variant).toBeUndefined();
      expect(resourcesOf(s.json, 'AWS::EC2::SecurityGroup'), variant).toStrictEqual([]);
    }
  });
});

/** Every statement of a role's inline policies, as written. */
function statementsOfRole(s: Synthesized, roleId: string): Json[] {
  const role = s.json.Resources[roleId]!.Properties!;
  return (role.Policies ?? []).flatMap((p: Json) => p.PolicyDocument.Statement);
}

/** Every statement of a role's inline policies as `action -> resources` (placeholders for tokens). */
function grants(s: Synthesized, roleId: string): Record<string, string[]> {
  const role = s.json.Resources[roleId]!.Properties!;
  const out: Record<string, string[]> = {};
  for (const policy of role.Policies ?? []) {
    for (const st of policy.PolicyDocument.Statement) {
      expect(st.Effect).toBe('Allow');
      for (const action of [st.Action].flat() as string[]) {
        out[action] = [
          ...(out[action] ?? []),
          ...[st.Resource].flat().map((r: Json) => describeResource(s, r)),
        ].sort();
      }
    }
  }
  return out;
}

/** A policy resource as `Type` of what it points at (`AWS::DynamoDB::Table/index/byId`, `*`). */
function describeResource(s: Synthesized, r: Json): string {
  if (typeof r === 'string') return r;
  if (r['Fn::GetAtt']) return s.json.Resources[r['Fn::GetAtt'][0]]!.Type;
  if (r.Ref) return s.json.Resources[r.Ref]?.Type ?? r.Ref;
  if (r['Fn::Join']) {
    return (r['Fn::Join'][1] as Json[]).map((p) => describeResource(s, p)).join('');
  }
  return JSON.stringify(r);
}

function roleOf(s: Synthesized, part: FunctionPart): string {
  return fn(s, part)[1].Role['Fn::GetAtt'][0];
}

const TABLE = 'AWS::DynamoDB::Table';
// The indexes a cycle reads: state counts and listings, and the preserved queue.
// The planner lists by state (in a zone or not), reads the preserved queue and the expired records.
const PLANNER_INDEX_ARNS = [BY_STATE_ZONE, BY_STATE_AGE, PRESERVED_QUEUE, BY_EXPIRY].map(
  (i) => `${TABLE}/index/${i.indexName}`,
);

describe.each(ALL)('least privilege in the %s stack', (variant) => {
  const s = synth(variant);
  const { config, stack } = s.deployment;

  it("grants the planner exactly what a cycle uses: its table's items and indexes, sending tasks, its own logs", () => {
    expect(grants(s, roleOf(s, 'Planner'))).toStrictEqual({
      'logs:CreateLogStream': ['AWS::Logs::LogGroup'],
      'logs:PutLogEvents': ['AWS::Logs::LogGroup'],
      'dynamodb:Query': [TABLE, ...PLANNER_INDEX_ARNS].sort(),
      'dynamodb:BatchGetItem': [TABLE],
      'dynamodb:UpdateItem': [TABLE],
      'dynamodb:PutItem': [TABLE],
      'dynamodb:DeleteItem': [TABLE],
      'dynamodb:ConditionCheckItem': [TABLE],
      'sqs:SendMessage': ['AWS::SQS::Queue'],
    });
  });

  it('grants the executor exactly what its tasks use, the secret only with the openstack driver', () => {
    const secret = config.driver === 'openstack';
    const secretResource =
      variant === 'openstack'
        ? 'AWS::SecretsManager::Secret'
        : variant === 'importedArn'
          ? stack.credentials_secret!.arn!
          : expect.stringContaining(`:secret:${stack.credentials_secret?.name}-??????`);
    expect(grants(s, roleOf(s, 'Executor'))).toStrictEqual({
      'logs:CreateLogStream': ['AWS::Logs::LogGroup'],
      'logs:PutLogEvents': ['AWS::Logs::LogGroup'],
      'dynamodb:GetItem': [TABLE],
      'dynamodb:BatchGetItem': [TABLE],
      'dynamodb:PutItem': [TABLE],
      'dynamodb:UpdateItem': [TABLE],
      'dynamodb:DeleteItem': [TABLE],
      // a boot that ends runs a planner cycle at once: its fenced commits and its reads
      'dynamodb:ConditionCheckItem': [TABLE],
      // the sweep lists each state's live records to find ghosts; the planner cycle reads
      'dynamodb:Query': [
        TABLE,
        ...[...PLANNER_INDEXES, BY_ID].map((index) => `${TABLE}/index/${index.indexName}`),
      ].sort(),
      'sqs:ReceiveMessage': ['AWS::SQS::Queue'],
      'sqs:DeleteMessage': ['AWS::SQS::Queue'],
      'sqs:GetQueueAttributes': ['AWS::SQS::Queue'],
      'sqs:ChangeMessageVisibility': ['AWS::SQS::Queue'],
      // the task queue (follow-up tasks) and the DLQ (dead letters)
      'sqs:SendMessage': ['AWS::SQS::Queue', 'AWS::SQS::Queue'],
      ...(secret ? { 'secretsmanager:GetSecretValue': [secretResource] } : {}),
      ...(stack.credentials_secret?.kms_key_arn
        ? { 'kms:Decrypt': [stack.credentials_secret.kms_key_arn] }
        : {}),
      ...(stack.vpc
        ? {
            'ec2:CreateNetworkInterface': ['*'],
            'ec2:DescribeNetworkInterfaces': ['*'],
            'ec2:DeleteNetworkInterface': ['*'],
            'ec2:AssignPrivateIpAddresses': ['*'],
            'ec2:UnassignPrivateIpAddresses': ['*'],
          }
        : {}),
    });
  });

  it('lets the Scheduler invoke the planner and send to its DLQ, nothing else', () => {
    const [[, schedule]] = resourcesOf(s.json, 'AWS::Scheduler::Schedule') as [[string, Json]];
    expect(grants(s, schedule.Target.RoleArn['Fn::GetAtt'][0])).toStrictEqual({
      'lambda:InvokeFunction': ['AWS::Lambda::Function'],
      'sqs:SendMessage': ['AWS::SQS::Queue'],
    });
  });

  it('grants the claims API its records, claims, idempotency records and the run request, the task queue, waking the planner, its own logs', () => {
    expect(grants(s, roleOf(s, 'Api'))).toStrictEqual({
      'logs:CreateLogStream': ['AWS::Logs::LogGroup'],
      'logs:PutLogEvents': ['AWS::Logs::LogGroup'],
      'dynamodb:GetItem': [TABLE],
      'dynamodb:BatchGetItem': [TABLE],
      'dynamodb:PutItem': [TABLE],
      'dynamodb:UpdateItem': [TABLE],
      'dynamodb:DeleteItem': [TABLE],
      'dynamodb:Query': [
        TABLE,
        ...API_INDEXES.map((index) => `${TABLE}/index/${index.indexName}`),
      ].sort(),
      'sqs:SendMessage': ['AWS::SQS::Queue'],
      'lambda:InvokeFunction': ['AWS::Lambda::Function'],
    });
    const wake = statementsOfRole(s, roleOf(s, 'Api')).find((st) =>
      [st.Action].flat().includes('lambda:InvokeFunction'),
    );
    expect(wake.Resource).toStrictEqual({ 'Fn::GetAtt': [fn(s, 'Planner')[0], 'Arn'] });
  });

  it("serves the claims API on a function URL that only SigV4 callers reach, and offers callers' roles one policy for it", () => {
    const [apiId] = fn(s, 'Api');
    const urls = resourcesOf(s.json, 'AWS::Lambda::Url');
    expect(urls).toHaveLength(1);
    expect(urls[0]![1]).toMatchObject({
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [apiId, 'Arn'] },
    });
    const policies = resourcesOf(s.json, 'AWS::IAM::ManagedPolicy');
    expect(policies).toHaveLength(1);
    const api = { 'Fn::GetAtt': [apiId, 'Arn'] };
    expect(policies[0]![1].PolicyDocument.Statement).toStrictEqual([
      {
        Sid: 'CallClaimsApi',
        Effect: 'Allow',
        Action: 'lambda:InvokeFunctionUrl',
        Resource: api,
        Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
      },
      {
        Sid: 'CallClaimsApiThroughUrl',
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: api,
        Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
      },
    ]);
    // Not attached to anything of the stack: it is for the callers' roles.
    expect(policies[0]![1].Roles).toBeUndefined();
    expect(s.json.Outputs?.ApiInvokePolicyArn?.Value).toStrictEqual({ Ref: policies[0]![0] });
    expect(s.json.Outputs?.ApiFunctionName?.Value).toStrictEqual({ Ref: apiId });
  });

  it("has no wildcard action, no Scan, no managed policy on its roles and no policy outside them but the callers' one", () => {
    const actions = resourcesOf(s.json, 'AWS::IAM::Role').flatMap(([, r]) =>
      (r.Policies ?? []).flatMap((p: Json) =>
        p.PolicyDocument.Statement.flatMap((st: Json) => [st.Action].flat()),
      ),
    );
    expect(actions.filter((a) => a.includes('*'))).toStrictEqual([]);
    expect(actions.filter((a) => /scan/i.test(a))).toStrictEqual([]);
    for (const [id, r] of resourcesOf(s.json, 'AWS::IAM::Role')) {
      expect(r.ManagedPolicyArns, id).toBeUndefined();
    }
    expect(resourcesOf(s.json, 'AWS::IAM::Policy')).toStrictEqual([]);
    expect(
      resourcesOf(s.json, 'AWS::IAM::ManagedPolicy').map(([, p]) =>
        String(p.Description).startsWith('amphora-housekeeper: call the claims API'),
      ),
    ).toStrictEqual([true]);
  });

  it("scopes each function's logs permissions to its own log group", () => {
    for (const part of ['Planner', 'Executor', 'Api'] as const) {
      const [, p] = fn(s, part);
      const role = s.json.Resources[roleOf(s, part)]!.Properties!;
      const logs = role.Policies[0].PolicyDocument.Statement.find((st: Json) =>
        [st.Action].flat().includes('logs:PutLogEvents'),
      );
      expect(logs.Resource).toStrictEqual({ 'Fn::GetAtt': [p.LoggingConfig.LogGroup.Ref, 'Arn'] });
    }
  });

  it('bounds every role with the permissions boundary when one is configured', () => {
    for (const [id, r] of resourcesOf(s.json, 'AWS::IAM::Role')) {
      if (stack.permissions_boundary_arn) {
        expect(r.PermissionsBoundary, id).toBe(stack.permissions_boundary_arn);
      } else {
        expect(r.PermissionsBoundary, id).toBeUndefined();
      }
    }
  });
});
