/**
 * One of the service's Lambda functions, as every one of them is built: bundled locally with
 * esbuild (no Docker), Node.js 22 on arm64, minified with source maps, JSON logs into its own log
 * group with a retention, and a role of its own whose only policy is the statements given plus
 * writing to that log group (not the managed basic-execution policy).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV, METRICS_NAMESPACE, SERVICE_NAME } from '../lib/config/deployment.ts';
import { BUNDLING, HANDLER_EXPORT, PROJECT_ROOT } from './bundling.ts';

/** Where a function runs in a VPC. */
export interface FunctionVpcPlacement {
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /** The subnets of its network interfaces. */
  readonly subnets: readonly ec2.ISubnet[];
  /** The security groups of its network interfaces. */
  readonly securityGroups: readonly ec2.ISecurityGroup[];
}

/** Properties of a {@link HousekeeperFunction}. */
export interface HousekeeperFunctionProps {
  /** The TypeScript entry point, exporting `handler`. */
  readonly entry: string;
  /** What the function does, for the console. */
  readonly description: string;
  /** Memory, MB. */
  readonly memorySize: number;
  /** Timeout, seconds. */
  readonly timeoutSeconds: number;
  /** The function's own variables, on top of the Powertools ones. */
  readonly environment: Readonly<Record<string, string>>;
  /** Everything the function may do besides writing its logs. */
  readonly statements: readonly iam.PolicyStatement[];
  /** Days its log group keeps events. */
  readonly logRetentionDays: number;
  /**
   * Application log level (Lambda's and Powertools').
   * @default 'INFO'
   */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /**
   * A VPC to run in.
   * @default - not in a VPC
   */
  readonly vpc?: FunctionVpcPlacement;
}

/** A service function with its log group and role. */
export class HousekeeperFunction extends Construct {
  /** The function. */
  readonly function: NodejsFunction;
  /** Its execution role. */
  readonly role: iam.Role;
  /** Its log group. */
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: HousekeeperFunctionProps) {
    super(scope, id);
    const logLevel = props.logLevel ?? 'INFO';
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      // The logs are the record of what the service did to the cloud: keep them with the table.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const statements = [
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
      ...props.statements,
    ];
    if (props.vpc) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'ManageVpcNetworkInterfaces',
          // Lambda creates and removes the function's interfaces with these; EC2 authorizes them
          // only on all resources (the AWSLambdaVPCAccessExecutionRole policy does the same).
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }
    this.role = new iam.Role(this, 'Role', {
      description: `${props.description} (execution role)`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      inlinePolicies: { Function: new iam.PolicyDocument({ statements }) },
    });
    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: HANDLER_EXPORT,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}/package-lock.json`,
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: Duration.seconds(props.timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel[logLevel],
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment: {
        ...props.environment,
        [ENV.serviceName]: SERVICE_NAME,
        [ENV.metricsNamespace]: METRICS_NAMESPACE,
        [ENV.logLevel]: logLevel,
        // Node's own variable: stack traces through the bundle's source map.
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        ...BUNDLING,
        format: OutputFormat.CJS,
        forceDockerBundling: false,
      },
      ...(props.vpc
        ? {
            vpc: props.vpc.vpc,
            vpcSubnets: { subnets: [...props.vpc.subnets] },
            securityGroups: [...props.vpc.securityGroups],
          }
        : {}),
    });
  }
}
