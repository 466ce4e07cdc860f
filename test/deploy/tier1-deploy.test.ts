/**
 * Tier 1: what a real `cdk deploy` created in moto, read back through the AWS APIs and held
 * against the template it deployed: every resource exists (or is of a type moto is documented
 * not to create), and the functions, the event source mapping, the queues, the table and the
 * roles' inline policies are what the template says.
 */
import type { StackResourceSummary } from '@aws-sdk/client-cloudformation';
import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListRolePoliciesCommand,
} from '@aws-sdk/client-iam';
import { GetFunctionCommand, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ENV } from '../../lib/config/deployment.ts';
import { STACK_OUTPUTS } from '../../lib/config/stack-outputs.ts';
import {
  type Clients,
  clientsFor,
  policyDocument,
  Resolver,
  readTemplate,
  stackResources,
  type Template,
} from './support/deployed-stack.ts';
import {
  MOTO_DROPPED_PROPERTIES,
  MOTO_UNCREATED_AVOIDED,
  MOTO_UNCREATED_TYPES,
} from './support/moto-gaps.ts';

const tier = inject('deployTier');

interface Deployed {
  readonly name: string;
  readonly template: Template;
  readonly resources: Map<string, StackResourceSummary>;
  readonly resolver: Resolver;
}

let clients: Clients;
const deployed: Record<'noop' | 'openstack', Deployed> = {} as never;

beforeAll(async () => {
  clients = clientsFor(tier.endpoint);
  for (const variant of ['noop', 'openstack'] as const) {
    const d = tier[variant];
    const template = readTemplate(d.templatePath);
    const resources = await stackResources(clients, d.stackName);
    deployed[variant] = {
      name: d.stackName,
      template,
      resources,
      resolver: new Resolver(template, resources, clients),
    };
  }
});

const variants = ['noop', 'openstack'] as const;

function ofType(d: Deployed, type: string): Array<[string, Record<string, unknown>]> {
  return Object.entries(d.template.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

describe.each(variants)('the %s deployment', (variant) => {
  it('created every resource of the template, except the types moto is documented to skip', () => {
    // Prepare
    const d = deployed[variant];

    // Act
    const missing: string[] = [];
    const unexpectedlyCreated: string[] = [];
    for (const [id, resource] of Object.entries(d.template.Resources)) {
      if (resource.Type === 'AWS::CDK::Metadata') continue;
      const created = d.resources.get(id);
      const skippedType = resource.Type in MOTO_UNCREATED_TYPES;
      if (skippedType && created) unexpectedlyCreated.push(`${id} (${resource.Type})`);
      if (
        !skippedType &&
        (created?.ResourceStatus !== 'CREATE_COMPLETE' || !created.PhysicalResourceId)
      ) {
        missing.push(`${id} (${resource.Type}): ${created?.ResourceStatus ?? 'not listed'}`);
      }
    }

    // Assess
    expect(missing, 'resources not created').toStrictEqual([]);
    expect(
      unexpectedlyCreated,
      'moto now creates these: take their type off the list',
    ).toStrictEqual([]);
    expect(Object.keys(d.template.Resources).length).toBeGreaterThan(20);
  });

  it('reports outputs that are the resources the template names', async () => {
    // Prepare
    const d = deployed[variant];

    // Act
    const expected: Record<string, unknown> = {};
    for (const [key, output] of Object.entries(d.template.Outputs ?? {})) {
      expected[key] = await d.resolver.resolve(output.Value);
    }

    // Assess
    expect(tier[variant].outputs).toStrictEqual(expected);
  });

  it('deployed each function with the runtime settings, role and environment of the template', async () => {
    const d = deployed[variant];
    const functions = ofType(d, 'AWS::Lambda::Function');
    // The planner, the executor and the claims API.
    expect(functions).toHaveLength(3);
    for (const [id, props] of functions) {
      // Act
      const { Configuration: c } = await clients.lambda.send(
        new GetFunctionCommand({ FunctionName: d.resolver.physicalId(id) }),
      );

      // Assess
      expect(
        {
          Runtime: c?.Runtime,
          Handler: c?.Handler,
          Timeout: c?.Timeout,
          MemorySize: c?.MemorySize,
          Role: c?.Role,
          Environment: c?.Environment?.Variables,
        },
        id,
      ).toStrictEqual(
        await d.resolver.resolve({
          Runtime: props.Runtime,
          Handler: props.Handler,
          Timeout: props.Timeout,
          MemorySize: props.MemorySize,
          Role: props.Role,
          Environment: (props.Environment as { Variables: unknown }).Variables,
        }),
      );
      // moto drops these (MOTO_DROPPED_PROPERTIES); Tier 0 checks them in the template.
      expect(c?.Architectures).not.toStrictEqual(props.Architectures);
      expect(c?.LoggingConfig?.LogGroup).toBeUndefined();
    }
  });

  it("deployed the executor's event source mapping as the template says", async () => {
    // Prepare
    const d = deployed[variant];
    const [[id, props]] = ofType(d, 'AWS::Lambda::EventSourceMapping') as [
      [string, Record<string, unknown>],
    ];
    const expected = (await d.resolver.resolve(props)) as Record<string, unknown>;

    // Act
    const { EventSourceMappings } = await clients.lambda.send(
      new ListEventSourceMappingsCommand({ FunctionName: expected.FunctionName as string }),
    );

    // Assess
    expect(EventSourceMappings).toHaveLength(1);
    const m = EventSourceMappings![0]!;
    expect(m.UUID).toBe(d.resolver.physicalId(id));
    expect({
      BatchSize: m.BatchSize,
      EventSourceArn: m.EventSourceArn,
      FunctionResponseTypes: m.FunctionResponseTypes,
      ScalingConfig: m.ScalingConfig,
      MaximumBatchingWindowInSeconds: m.MaximumBatchingWindowInSeconds,
      State: m.State,
    }).toStrictEqual({
      BatchSize: expected.BatchSize,
      EventSourceArn: expected.EventSourceArn,
      FunctionResponseTypes: expected.FunctionResponseTypes,
      ScalingConfig: expected.ScalingConfig,
      MaximumBatchingWindowInSeconds: expected.MaximumBatchingWindowInSeconds,
      State: 'Enabled',
    });
    expect(m.FunctionArn).toContain(expected.FunctionName as string);
  });

  it('deployed the queues with the visibility, redrive, retention and encryption of the template', async () => {
    const d = deployed[variant];
    const queues = ofType(d, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(3);
    for (const [id, props] of queues) {
      // Act
      const { Attributes: a } = await clients.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: d.resolver.physicalId(id),
          AttributeNames: ['All'],
        }),
      );
      const expected = (await d.resolver.resolve(props)) as Record<string, unknown>;

      // Assess
      expect(
        {
          VisibilityTimeout: Number(a?.VisibilityTimeout),
          MessageRetentionPeriod: Number(a?.MessageRetentionPeriod),
          SqsManagedSseEnabled: a?.SqsManagedSseEnabled === 'true',
          RedrivePolicy: a?.RedrivePolicy ? JSON.parse(a.RedrivePolicy) : undefined,
        },
        id,
      ).toStrictEqual({
        VisibilityTimeout: expected.VisibilityTimeout ?? 30,
        MessageRetentionPeriod: expected.MessageRetentionPeriod ?? 345_600,
        SqsManagedSseEnabled: expected.SqsManagedSseEnabled,
        RedrivePolicy: expected.RedrivePolicy,
      });
    }
  });

  it('deployed the table with the keys, indexes, billing and protection of the template', async () => {
    // Prepare
    const d = deployed[variant];
    const [[id, props]] = ofType(d, 'AWS::DynamoDB::Table') as [[string, Record<string, unknown>]];
    const name = d.resolver.physicalId(id);

    // Act
    const { Table: t } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }));

    // Assess
    const byName = <T extends { AttributeName?: string; IndexName?: string }>(xs: T[] = []) =>
      [...xs].sort((a, b) =>
        (a.AttributeName ?? a.IndexName ?? '').localeCompare(b.AttributeName ?? b.IndexName ?? ''),
      );
    expect(t?.KeySchema).toStrictEqual(props.KeySchema);
    expect(byName(t?.AttributeDefinitions)).toStrictEqual(
      byName(props.AttributeDefinitions as { AttributeName: string }[]),
    );
    expect(
      byName(t?.GlobalSecondaryIndexes).map((i) => ({
        IndexName: i.IndexName,
        KeySchema: i.KeySchema,
        Projection: { ProjectionType: i.Projection?.ProjectionType },
      })),
    ).toStrictEqual(byName(props.GlobalSecondaryIndexes as { IndexName: string }[]));
    expect(t?.BillingModeSummary?.BillingMode).toBe(props.BillingMode);
    expect(t?.DeletionProtectionEnabled).toBe(props.DeletionProtectionEnabled);
    // moto drops these (MOTO_DROPPED_PROPERTIES); Tier 0 checks them in the template.
    expect(t?.SSEDescription?.Status).not.toBe('ENABLED');
    const ttl = await clients.dynamodb.send(new DescribeTimeToLiveCommand({ TableName: name }));
    expect(ttl.TimeToLiveDescription?.TimeToLiveStatus).not.toBe('ENABLED');
    const backups = await clients.dynamodb.send(
      new DescribeContinuousBackupsCommand({ TableName: name }),
    );
    expect(
      backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription
        ?.PointInTimeRecoveryStatus,
    ).not.toBe('ENABLED');
  });

  it("gave every role exactly the template's trust policy and inline policies", async () => {
    const d = deployed[variant];
    const roles = ofType(d, 'AWS::IAM::Role');
    // One per function, and the Scheduler's.
    expect(roles).toHaveLength(4);
    for (const [id, props] of roles) {
      // Act
      const roleName = d.resolver.physicalId(id);
      const { Role } = await clients.iam.send(new GetRoleCommand({ RoleName: roleName }));
      const { PolicyNames } = await clients.iam.send(
        new ListRolePoliciesCommand({ RoleName: roleName }),
      );
      const documents: Record<string, unknown> = {};
      for (const policyName of PolicyNames ?? []) {
        const { PolicyDocument } = await clients.iam.send(
          new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }),
        );
        documents[policyName] = policyDocument(PolicyDocument!);
      }

      // Assess
      const expected: Record<string, unknown> = {};
      for (const p of props.Policies as Array<{ PolicyName: string; PolicyDocument: unknown }>) {
        expected[p.PolicyName] = await d.resolver.resolve(p.PolicyDocument);
      }
      expect(documents, id).toStrictEqual(expected);
      expect(policyDocument(Role!.AssumeRolePolicyDocument!), id).toStrictEqual(
        await d.resolver.resolve(props.AssumeRolePolicyDocument),
      );
    }
  });
});

describe.each(variants)('the %s deployment, for callers of the claims API', (variant) => {
  it('offers the managed policy with exactly the template document, attached to none of its roles', async () => {
    // Prepare
    const d = deployed[variant];
    const [[id, props]] = ofType(d, 'AWS::IAM::ManagedPolicy') as [
      [string, Record<string, unknown>],
    ];
    const arn = d.resolver.physicalId(id);

    // Act
    const { Policy } = await clients.iam.send(new GetPolicyCommand({ PolicyArn: arn }));
    const { PolicyVersion } = await clients.iam.send(
      new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: Policy!.DefaultVersionId! }),
    );

    // Assess
    expect(arn).toBe(tier[variant].outputs[STACK_OUTPUTS.apiInvokePolicyArn]);
    expect(policyDocument(PolicyVersion!.Document!)).toStrictEqual(
      await d.resolver.resolve(props.PolicyDocument),
    );
    expect(Policy!.AttachmentCount).toBe(0);
  });
});

describe('the openstack deployment', () => {
  it('names the imported secret to the executor only, and lets only the executor read it', async () => {
    // Prepare
    const d = deployed.openstack;
    const functions = ofType(d, 'AWS::Lambda::Function');

    // Act
    const environments = new Map<string, Record<string, string> | undefined>();
    for (const [id] of functions) {
      const { Configuration } = await clients.lambda.send(
        new GetFunctionCommand({ FunctionName: d.resolver.physicalId(id) }),
      );
      environments.set(id, Configuration?.Environment?.Variables);
    }
    const readers: string[] = [];
    for (const [id] of ofType(d, 'AWS::IAM::Role')) {
      const roleName = d.resolver.physicalId(id);
      const { PolicyNames } = await clients.iam.send(
        new ListRolePoliciesCommand({ RoleName: roleName }),
      );
      for (const policyName of PolicyNames ?? []) {
        const { PolicyDocument } = await clients.iam.send(
          new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }),
        );
        if (decodeURIComponent(PolicyDocument!).includes(tier.secretArn)) readers.push(id);
      }
    }

    // Assess
    const named = [...environments].filter(([, v]) => v?.[ENV.credentialsSecretArn]);
    expect(named.map(([id]) => id)).toStrictEqual([expect.stringMatching(/Executor/)]);
    expect(named[0]![1]![ENV.credentialsSecretArn]).toBe(tier.secretArn);
    expect(readers).toStrictEqual([expect.stringMatching(/Executor/)]);
  });
});

describe("the list of moto's gaps", () => {
  it('names only types and properties the deployed templates use', () => {
    const templates = variants.map((v) => deployed[v].template);
    const types = new Set(templates.flatMap((t) => Object.values(t.Resources).map((r) => r.Type)));
    for (const type of Object.keys(MOTO_UNCREATED_TYPES)) expect(types, type).toContain(type);
    for (const type of Object.keys(MOTO_UNCREATED_AVOIDED)) expect(types, type).not.toContain(type);
    for (const [type, properties] of Object.entries(MOTO_DROPPED_PROPERTIES)) {
      const used = templates.flatMap((t) =>
        Object.values(t.Resources)
          .filter((r) => r.Type === type)
          .flatMap((r) => Object.keys(r.Properties ?? {})),
      );
      for (const p of properties) expect(used, `${type}.${p}`).toContain(p);
    }
  });
});
