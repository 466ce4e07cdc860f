/**
 * Finds a deployed stack's table, queues and configuration from CloudFormation, for the CLI's
 * `--target aws --stack NAME`: the stack's outputs name the table and queues, and the planner's
 * own environment holds the configuration the functions run with. Part of the composition root:
 * it builds SDK clients (at the endpoints `AWS_ENDPOINT_URL*` name, AWS's own by default).
 */
import {
  CloudFormationClient,
  DescribeStacksCommand,
  type Output,
} from '@aws-sdk/client-cloudformation';
import {
  GetFunctionConfigurationCommand,
  GetFunctionUrlConfigCommand,
  LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { ENV } from '../lib/config/deployment.ts';
import { STACK_OUTPUTS, type StackOutput } from '../lib/config/stack-outputs.ts';
import { HousekeeperError } from '../lib/domain/errors.ts';

/** The clients the lookup uses (tests and the CLI pass their own or take the defaults). */
export interface StackLookupClients {
  readonly cloudformation: Pick<CloudFormationClient, 'send'>;
  readonly lambda: Pick<LambdaClient, 'send'>;
}

const NEEDED: readonly StackOutput[] = [
  'tableName',
  'queueUrl',
  'deadLetterQueueUrl',
  'plannerFunctionName',
];

function outputValue(outputs: readonly Output[], key: StackOutput, stackName: string): string {
  const value = outputs.find((o) => o.OutputKey === STACK_OUTPUTS[key])?.OutputValue;
  if (!value) {
    throw new HousekeeperError(
      `--stack ${stackName}: the stack has no output ${STACK_OUTPUTS[key]}; is it an amphora-housekeeper stack?`,
    );
  }
  return value;
}

/**
 * The claims API's function URL, from the stack's `ApiFunctionName` output; undefined for a
 * stack without the API, or an API function without a URL (moto's CloudFormation creates none).
 */
async function apiUrlOf(
  outputs: readonly Output[],
  lambda: StackLookupClients['lambda'],
  stackName: string,
): Promise<string | undefined> {
  const fn = outputs.find((o) => o.OutputKey === STACK_OUTPUTS.apiFunctionName)?.OutputValue;
  if (!fn) return undefined;
  try {
    const { FunctionUrl } = await lambda.send(
      new GetFunctionUrlConfigCommand({ FunctionName: fn }),
    );
    return FunctionUrl;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw new HousekeeperError(
      `--stack ${stackName}: cannot read the function URL of the claims API ${fn} (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * The variables `--target aws` reads (`HOUSEKEEPER_TABLE_NAME`, `…_QUEUE_URL`, `…_DLQ_URL`,
 * `HOUSEKEEPER_CONFIG`, and `HOUSEKEEPER_API_URL` when the stack's API has a URL), found from
 * the stack named `stackName`.
 * @throws HousekeeperError when the stack or one of its outputs is missing.
 */
export async function stackEnvironment(
  stackName: string,
  clients: StackLookupClients = {
    cloudformation: new CloudFormationClient({}),
    lambda: new LambdaClient({}),
  },
): Promise<Record<string, string>> {
  let outputs: readonly Output[];
  try {
    const { Stacks } = await clients.cloudformation.send(
      new DescribeStacksCommand({ StackName: stackName }),
    );
    outputs = Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    throw new HousekeeperError(
      `--stack ${stackName}: cannot describe the stack (${(error as Error).message})`,
      { cause: error },
    );
  }
  const [tableName, queueUrl, deadLetterQueueUrl, planner] = NEEDED.map((key) =>
    outputValue(outputs, key, stackName),
  ) as [string, string, string, string];
  const fn = await clients.lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: planner }),
  );
  const config = fn.Environment?.Variables?.[ENV.config];
  if (config === undefined) {
    throw new HousekeeperError(
      `--stack ${stackName}: the planner ${planner} has no ${ENV.config} in its environment`,
    );
  }
  const apiUrl = await apiUrlOf(outputs, clients.lambda, stackName);
  return {
    [ENV.tableName]: tableName,
    [ENV.queueUrl]: queueUrl,
    [ENV.deadLetterQueueUrl]: deadLetterQueueUrl,
    [ENV.config]: config,
    ...(apiUrl ? { [ENV.apiUrl]: apiUrl } : {}),
  };
}
