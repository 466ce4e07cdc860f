/**
 * The whole service in one stack: the pool table, the credentials secret (openstack driver
 * only), the task queues with the executor, the schedule with the planner, and the alarms with
 * the dashboard. One construct per part; this file only wires them and names the outputs.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { STACK_OUTPUTS, type StackOutput } from '../lib/config/stack-outputs.ts';
import { ClaimsApi } from './claims-api.ts';
import { CloudCredentials } from './cloud-credentials.ts';
import type { FunctionVpcPlacement } from './housekeeper-function.ts';
import { Monitoring } from './monitoring.ts';
import { PlannerSchedule } from './planner-schedule.ts';
import { PoolTable } from './pool-table.ts';
import type { DeploymentConfig } from './stack-config.ts';
import { TaskExecution } from './task-execution.ts';

/** Properties of {@link HousekeeperStack}. */
export interface HousekeeperStackProps extends StackProps {
  /** The validated runtime configuration and stack options. */
  readonly deployment: DeploymentConfig;
}

/** The amphora-housekeeper stack. */
export class HousekeeperStack extends Stack {
  /** The pool table. */
  readonly poolTable: PoolTable;
  /** The credentials secret, with the openstack driver. */
  readonly credentials: CloudCredentials | undefined;
  /** Task queues and executor. */
  readonly tasks: TaskExecution;
  /** Schedule and planner. */
  readonly planning: PlannerSchedule;
  /** The claims API and the policy its callers attach. */
  readonly api: ClaimsApi;
  /** Alarms and dashboard. */
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: HousekeeperStackProps) {
    super(scope, id, {
      description:
        'amphora-housekeeper: keeps a pool of spare Octavia amphorae ready on an OpenStack cloud',
      analyticsReporting: false,
      ...props,
    });
    const { config, stack: options } = props.deployment;
    if (options.permissions_boundary_arn) {
      iam.PermissionsBoundary.of(this).apply(
        iam.ManagedPolicy.fromManagedPolicyArn(
          this,
          'PermissionsBoundary',
          options.permissions_boundary_arn,
        ),
      );
    }
    this.poolTable = new PoolTable(this, 'PoolTable');
    const secret = options.credentials_secret;
    this.credentials =
      config.driver === 'openstack'
        ? new CloudCredentials(this, 'CloudCredentials', {
            ...(secret?.arn ? { secretArn: secret.arn } : {}),
            ...(secret?.name ? { secretName: secret.name } : {}),
            ...(secret?.kms_key_arn ? { kmsKeyArn: secret.kms_key_arn } : {}),
          })
        : undefined;
    const logs = { logRetentionDays: options.log_retention_days, logLevel: options.log_level };
    const vpc = this.vpcPlacement(options.vpc);
    this.tasks = new TaskExecution(this, 'Tasks', {
      config,
      table: this.poolTable,
      ...(this.credentials ? { credentials: this.credentials } : {}),
      ...logs,
      ...(vpc ? { vpc } : {}),
    });
    this.planning = new PlannerSchedule(this, 'Planning', {
      config,
      table: this.poolTable,
      queues: this.tasks,
      ...logs,
    });
    this.api = new ClaimsApi(this, 'ClaimsApi', {
      config,
      table: this.poolTable,
      queues: this.tasks,
      planner: this.planning.planner.function,
      ...logs,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      config,
      pools: config.pools.map((p) => p.name),
      planner: this.planning.planner.function,
      executor: this.tasks.executor.function,
      api: this.api.api.function,
      taskQueue: this.tasks.queue,
      taskDeadLetterQueue: this.tasks.deadLetterQueue,
      scheduleDeadLetterQueue: this.planning.deadLetterQueue,
      scheduleGroup: this.planning.group,
      runbookUrl: options.runbook_url,
      sparesBelowTargetCycles: options.spares_below_target_cycles,
    });

    const output = (key: StackOutput, value: string, description: string) =>
      new CfnOutput(this, STACK_OUTPUTS[key], { value, description });
    output('tableName', this.poolTable.table.tableName, 'the pool table');
    output('queueUrl', this.tasks.queue.queueUrl, 'the task queue');
    output('deadLetterQueueUrl', this.tasks.deadLetterQueue.queueUrl, "the task queue's DLQ");
    output('plannerFunctionName', this.planning.planner.function.functionName, 'the planner');
    output('executorFunctionName', this.tasks.executor.function.functionName, 'the executor');
    // The function URL itself is not an output: read it with `aws lambda get-function-url-config`
    // (the CLI does), so that a stack whose URL is recreated needs no new output.
    output('apiFunctionName', this.api.api.function.functionName, 'the claims API function');
    output(
      'apiInvokePolicyArn',
      this.api.invokePolicy.managedPolicyArn,
      "attach to a caller's role to let it call the claims API",
    );
    output('alarmTopicArn', this.monitoring.topic.topicArn, 'subscribe here to the alarms');
    output('dashboardName', this.monitoring.dashboard.dashboardName, 'the CloudWatch dashboard');
    if (this.credentials) {
      output(
        'credentialsSecretArn',
        this.credentials.secretId,
        this.credentials.created
          ? 'put the OpenStack credentials here (docs/openstack.md)'
          : 'the OpenStack credentials the executor reads',
      );
    }
  }

  /** The executor's place in an existing VPC, when configured. */
  private vpcPlacement(
    options: DeploymentConfig['stack']['vpc'],
  ): FunctionVpcPlacement | undefined {
    if (!options) return undefined;
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId: options.vpc_id,
      // Lambda needs only the subnets below; no construct here picks subnets by zone.
      availabilityZones: this.availabilityZones,
    });
    const subnets = options.subnet_ids.map((id) => ec2.Subnet.fromSubnetId(this, id, id));
    const securityGroups =
      options.security_group_ids.length > 0
        ? options.security_group_ids.map((id) =>
            ec2.SecurityGroup.fromSecurityGroupId(this, id, id),
          )
        : [
            new ec2.SecurityGroup(this, 'ExecutorSecurityGroup', {
              vpc,
              description:
                'amphora-housekeeper executor: no inbound; outbound to the OpenStack APIs and AWS endpoints',
              allowAllOutbound: true,
            }),
          ];
    return { vpc, subnets, securityGroups };
  }
}
