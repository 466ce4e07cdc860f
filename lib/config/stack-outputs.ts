/**
 * The CloudFormation outputs of a deployed stack, by role: the CDK stack writes them and the
 * operator CLI (`housekeeper --target aws --stack NAME`) reads them, so the names live here.
 */
export const STACK_OUTPUTS = {
  tableName: 'TableName',
  queueUrl: 'TaskQueueUrl',
  deadLetterQueueUrl: 'TaskDeadLetterQueueUrl',
  plannerFunctionName: 'PlannerFunctionName',
  executorFunctionName: 'ExecutorFunctionName',
  apiFunctionName: 'ApiFunctionName',
  apiInvokePolicyArn: 'ApiInvokePolicyArn',
  alarmTopicArn: 'AlarmTopicArn',
  dashboardName: 'DashboardName',
  credentialsSecretArn: 'CredentialsSecretArn',
} as const;

/** An output's role, e.g. `tableName`. */
export type StackOutput = keyof typeof STACK_OUTPUTS;
