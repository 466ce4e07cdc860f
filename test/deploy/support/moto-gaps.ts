/**
 * What moto 5.2.1's CloudFormation does not do, listed so that nothing is skipped unnoticed: the
 * deploy tier asserts that every other resource was created, that these were not (so the list
 * shrinks when moto learns them), and that every property read back matches the template except
 * the ones below, which moto accepts and drops (the read-back asserts they really differ).
 * docs/deploy.md repeats this list; Tier 0 checks these parts of the template instead.
 */

/** Resource types moto's CloudFormation skips ("No Moto CloudFormation support"). */
export const MOTO_UNCREATED_TYPES: Readonly<Record<string, string>> = {
  'AWS::Scheduler::Schedule': 'no Scheduler support in moto CloudFormation',
  'AWS::Scheduler::ScheduleGroup': 'no Scheduler support in moto CloudFormation',
  'AWS::CloudWatch::Alarm': 'moto CloudFormation creates dashboards but not alarms',
  'AWS::SQS::QueuePolicy': 'no queue policies (the SSL-only policies) in moto CloudFormation',
  'AWS::SNS::TopicPolicy': 'no topic policies (the SSL-only policy) in moto CloudFormation',
  'AWS::Lambda::EventInvokeConfig':
    "no asynchronous invocation config (the planner's retries 0, maximum event age)",
  'AWS::Lambda::Url':
    "no function URLs in moto CloudFormation (Tier 2 serves the claims API's URL itself)",
};

/**
 * Resource types moto's CloudFormation would skip that the deployed configurations avoid: a
 * created secret (the openstack tier deployment imports one by ARN instead).
 */
export const MOTO_UNCREATED_AVOIDED: Readonly<Record<string, string>> = {
  'AWS::SecretsManager::Secret': 'no Secrets Manager support in moto CloudFormation',
};

/** Properties moto accepts and drops, by resource type. */
export const MOTO_DROPPED_PROPERTIES: Readonly<Record<string, readonly string[]>> = {
  'AWS::Lambda::Function': ['Architectures', 'LoggingConfig'],
  // SSESpecification: moto reads `Enabled`, the API's name, where CloudFormation says `SSEEnabled`.
  'AWS::DynamoDB::Table': [
    'TimeToLiveSpecification',
    'PointInTimeRecoverySpecification',
    'SSESpecification',
  ],
};

/** Where moto answers differently from AWS, and the read-back accounts for it. */
export const MOTO_QUIRKS: readonly string[] = [
  'Fn::GetAtt LogGroup.Arn resolves to arn:aws:logs:REGION:ACCOUNT:log-group:NAME, without the trailing ":*" CloudFormation documents',
  'GetRolePolicy returns an inline policy created by CloudFormation as Python repr text, not URL-encoded JSON',
  'a stack created from a change set has no outputs: the tier deploys with --method=direct',
  'queue URLs carry the AWS host (sqs.REGION.amazonaws.com): clients are given the endpoint explicitly',
  "moto's own SQS event source mapping ignores batchItemFailures: Tier 2 disables it and polls itself",
];
