/**
 * The CDK app: reads the deployment configuration from the context (`housekeeper`,
 * `housekeeper_stack`, or the `housekeeper_file` they live in), refuses a bad value before
 * anything is synthesised (the schema's message, and no template), builds the stack and checks
 * it with cdk-nag's AwsSolutions and Serverless packs.
 */
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ConfigError, type HousekeeperConfig } from '../lib/config/schema.ts';
import { HousekeeperStack } from './housekeeper-stack.ts';
import { acknowledgeFindings } from './nag.ts';
import { type DeploymentConfig, deploymentConfig } from './stack-config.ts';

/** Reads and validates the runtime configuration of an app from its context. */
export function configOf(app: App): HousekeeperConfig {
  return deploymentConfig((key) => app.node.tryGetContext(key)).config;
}

/** An app with its stack, checked by cdk-nag. */
export interface HousekeeperApp {
  readonly app: App;
  readonly stack: HousekeeperStack;
  readonly deployment: DeploymentConfig;
}

/**
 * Builds the app and its stack from the context in `props` (or cdk.json's, under `cdk synth`).
 * @throws ConfigError naming every bad field, value and rule; nothing is built then.
 */
export function buildApp(props: AppProps = {}): HousekeeperApp {
  const app = new App(props);
  const deployment = deploymentConfig((key) => app.node.tryGetContext(key));
  const stack = new HousekeeperStack(app, 'Housekeeper', {
    stackName: deployment.stack.stack_name,
    deployment,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  acknowledgeFindings(stack);
  return { app, stack, deployment };
}

if (import.meta.main) {
  let built: HousekeeperApp;
  try {
    built = buildApp();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`cdk synth refused: ${error.message}\n`);
    process.exit(1);
  }
  built.app.synth();
}
