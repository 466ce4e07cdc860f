/**
 * `--stack NAME`: the variables of `--target aws` found from a stack's outputs, the planner's
 * environment and the claims API's function URL, over fake CloudFormation and Lambda clients.
 */
import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  GetFunctionConfigurationCommand,
  GetFunctionUrlConfigCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { type StackLookupClients, stackEnvironment } from '../../functions/stack-outputs.ts';
import { ENV } from '../../lib/config/deployment.ts';
import { STACK_OUTPUTS } from '../../lib/config/stack-outputs.ts';

const URL = 'https://abc123.lambda-url.eu-west-1.on.aws/';

function clients(options: { api?: boolean; url?: string | Error }): StackLookupClients {
  const outputs = [
    [STACK_OUTPUTS.tableName, 'table-1'],
    [STACK_OUTPUTS.queueUrl, 'https://sqs/q'],
    [STACK_OUTPUTS.deadLetterQueueUrl, 'https://sqs/dlq'],
    [STACK_OUTPUTS.plannerFunctionName, 'planner-fn'],
    ...(options.api === false ? [] : [[STACK_OUTPUTS.apiFunctionName, 'api-fn']]),
  ].map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }));
  return {
    cloudformation: {
      send: async (command: unknown) => {
        expect(command).toBeInstanceOf(DescribeStacksCommand);
        return { Stacks: [{ Outputs: outputs }] };
      },
    } as StackLookupClients['cloudformation'],
    lambda: {
      send: async (command: unknown) => {
        if (command instanceof GetFunctionConfigurationCommand) {
          return { Environment: { Variables: { [ENV.config]: '{}' } } };
        }
        if (command instanceof GetFunctionUrlConfigCommand) {
          expect(command.input.FunctionName).toBe('api-fn');
          if (options.url instanceof Error) throw options.url;
          return { FunctionUrl: options.url };
        }
        throw new Error(`unexpected command ${String(command)}`);
      },
    } as StackLookupClients['lambda'],
  };
}

describe('the variables --stack finds', () => {
  it("include the claims API's function URL, read from its function", async () => {
    const env = await stackEnvironment('S', clients({ url: URL }));

    expect(env).toStrictEqual({
      [ENV.tableName]: 'table-1',
      [ENV.queueUrl]: 'https://sqs/q',
      [ENV.deadLetterQueueUrl]: 'https://sqs/dlq',
      [ENV.config]: '{}',
      [ENV.apiUrl]: URL,
    });
  });

  it.each([
    ['a stack without the API', { api: false }],
    [
      'an API function without a URL',
      {
        url: new ResourceNotFoundException({ message: 'no url', $metadata: {} }),
      },
    ],
  ] as const)('leave the API URL out for %s', async (_case, options) => {
    const env = await stackEnvironment('S', clients(options));

    expect(env[ENV.apiUrl]).toBeUndefined();
    expect(env[ENV.tableName]).toBe('table-1');
  });

  it('name the function when its URL cannot be read', async () => {
    await expect(
      stackEnvironment('S', clients({ url: new Error('AccessDenied: not allowed') })),
    ).rejects.toThrow(
      '--stack S: cannot read the function URL of the claims API api-fn (AccessDenied: not allowed)',
    );
  });
});
