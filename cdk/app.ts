/**
 * The CDK app. For now it only validates the configuration at synth time (a bad value stops
 * `cdk synth` with the schema's message); the stack's resources arrive with the CDK issue.
 * The configuration comes from the `housekeeper` context key (cdk.json or `-c housekeeper=...`).
 */
import { App } from 'aws-cdk-lib';
import { ConfigError, parseConfig } from '../lib/config/schema.ts';

/** Reads and validates the configuration of an app from its context. */
export function configOf(app: App) {
  const raw: unknown = app.node.tryGetContext('housekeeper');
  return parseConfig(typeof raw === 'string' ? JSON.parse(raw) : (raw ?? {}));
}

if (import.meta.main) {
  const app = new App();
  try {
    configOf(app);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`cdk synth refused: ${error.message}\n`);
    process.exit(1);
  }
  app.synth();
}
