/**
 * The cdk-nag findings this stack accepts, each on the construct it concerns and with the reason
 * it is right here. Anything else cdk-nag finds fails the synth.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { HousekeeperStack } from './housekeeper-stack.ts';

/** One accepted finding: the rule id as cdk-nag prints it, and why. */
export interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

const RUNTIME: Acknowledgement[] = [
  {
    id: 'AwsSolutions::AwsSolutions-L1',
    reason:
      'Node.js 22 on purpose: the code is built, type-checked and tested on Node 22 (the node devDependency), and the deploy tier runs the bundles under the Node 22 runtime interface client.',
  },
  {
    id: 'Serverless::Serverless-LambdaLatestVersion',
    reason:
      'Node.js 22 on purpose: the code is built, type-checked and tested on Node 22 (the node devDependency), and the deploy tier runs the bundles under the Node 22 runtime interface client.',
  },
  {
    id: 'Serverless::Serverless-LambdaTracing',
    reason:
      'Observability is EMF metrics and JSON logs (every alarm watches those); X-Ray would need xray:PutTraceSegments on Resource "*", which the least-privilege roles refuse.',
  },
];

/** Every acknowledgement of a stack, by the construct it is attached to. */
export function acknowledgements(stack: HousekeeperStack): Array<[IConstruct, Acknowledgement]> {
  const planner = stack.planning.planner.function;
  const executor = stack.tasks.executor.function;
  const found: Array<[IConstruct, Acknowledgement]> = [];
  const on = (construct: IConstruct, ...acks: Acknowledgement[]) => {
    for (const ack of acks) found.push([construct, ack]);
  };
  on(planner, ...RUNTIME, {
    id: 'Serverless::Serverless-LambdaDLQ',
    reason:
      "The planner's only caller is the schedule, whose undeliverable ticks go to the schedule's own DLQ (alarmed); a failed tick carries no data worth replaying, the next tick is the retry, and PlannerErrors alarms on failures.",
  });
  const asyncConfig = planner.node.tryFindChild('EventInvokeConfig');
  if (asyncConfig) {
    on(asyncConfig, {
      id: 'Serverless::Serverless-LambdaAsyncFailureDestination',
      reason:
        'Asynchronous retries are off on purpose (the next scheduled tick is the retry); a failed tick carries no data to keep, and PlannerErrors alarms on failures.',
    });
  }
  on(executor, ...RUNTIME, {
    id: 'Serverless::Serverless-LambdaDLQ',
    reason:
      "The executor is invoked only by its SQS event source, never asynchronously; failed tasks reach the task queue's DLQ through its redrive policy (maxReceiveCount = task_max_attempts), which is alarmed.",
  });
  on(stack.api.api.function, ...RUNTIME, {
    id: 'Serverless::Serverless-LambdaDLQ',
    reason:
      'The claims API is invoked synchronously through its function URL and answers every request itself (errors as 4xx/5xx, alarmed by ApiServerErrors); a DLQ only receives failed asynchronous invocations, which it never has.',
  });
  on(stack.tasks.eventSource, {
    id: 'Serverless::Serverless-LambdaEventSourceMappingDestination',
    reason:
      "SQS event sources take no on-failure destination; a failing task returns to the queue and reaches the queue's DLQ after maxReceiveCount deliveries (redrive policy).",
  });
  for (const dlq of [stack.tasks.deadLetterQueue, stack.planning.deadLetterQueue]) {
    on(dlq, {
      id: 'Serverless::Serverless-SQSRedrivePolicy',
      reason:
        'This is a dead-letter queue: it keeps messages 14 days for an operator to inspect and redrive (runbook); a DLQ of a DLQ would only hide them.',
    });
  }
  on(stack.planning.deadLetterQueue, {
    id: 'AwsSolutions::AwsSolutions-SQS3',
    reason:
      "This is the dead-letter queue of the Scheduler's target (the planner), referenced by the schedule rather than by a queue's redrive policy, so cdk-nag does not recognise it as a DLQ.",
  });
  if (stack.credentials?.created) {
    on(stack.credentials.secret, {
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'OpenStack application credentials are issued and rotated in Keystone by the operator (docs/deploy.md); Secrets Manager has no rotation function for Keystone, and the stack only holds the value the operator puts in.',
    });
  }
  const vpc = stack.node.tryFindChild('Vpc');
  if (vpc) {
    on(stack.tasks.executor.role, {
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        "Only the VPC statement: Lambda manages the executor's network interfaces with ec2:CreateNetworkInterface, DescribeNetworkInterfaces, DeleteNetworkInterface, Assign/UnassignPrivateIpAddresses, which EC2 authorizes only on all resources (as AWSLambdaVPCAccessExecutionRole does).",
    });
    on(stack.tasks.executor.role, {
      id: 'Serverless::Serverless-LambdaStarPermissions',
      reason:
        "Only the VPC statement: Lambda manages the executor's network interfaces with EC2 actions that are authorized only on all resources (as AWSLambdaVPCAccessExecutionRole does).",
    });
    for (const child of stack.node.children) {
      if (child.node.id.startsWith('subnet-')) {
        on(child, {
          id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
          reason:
            "Lambda only places the executor's interfaces in this imported subnet; nothing in the stack reads its route table.",
        });
      }
    }
  }
  return found;
}

/** Acknowledges the accepted findings on their constructs. */
export function acknowledgeFindings(stack: HousekeeperStack): void {
  for (const [construct, ack] of acknowledgements(stack)) {
    Validations.of(construct).acknowledge(ack);
  }
}
