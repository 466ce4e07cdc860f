/**
 * The deploy tier's one deployment per run: a fresh moto (started by the project's own script,
 * failing loudly when moto_server is missing), `cdk bootstrap`, then `cdk deploy` of the noop
 * and the openstack configurations. The tests read what was deployed through `inject`; moto is
 * stopped by its PID at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { TestProject } from 'vitest/node';
import { bootstrap, type Deployment, deploy } from '../../scripts/deploy/cdk-deploy.ts';
import { type MotoServer, motoEnvironment, startMoto } from '../../scripts/deploy/moto.ts';
import {
  NOOP_DEPLOYMENT,
  OPENSTACK_DEPLOYMENT,
  OPENSTACK_SECRET_NAME,
} from './support/tier-config.ts';

/** What the tests get. */
export interface DeployTier {
  readonly endpoint: string;
  readonly localhostEndpoint: string;
  readonly workDir: string;
  readonly noop: Deployment;
  readonly openstack: Deployment;
  readonly secretArn: string;
  /** Seconds: moto start, bootstrap, each deploy. */
  readonly timings: Readonly<Record<string, number>>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    deployTier: DeployTier;
  }
}

let moto: MotoServer | undefined;
let workDir: string | undefined;

const log = (line: string) => process.stderr.write(`[deploy tier] ${line}\n`);
const seconds = (since: number) => Math.round((Date.now() - since) / 100) / 10;

/** Starts moto, bootstraps it and deploys both configurations; hands the tests what was deployed. */
export async function setup(project: TestProject): Promise<void> {
  workDir = mkdtempSync(join(tmpdir(), 'housekeeper-deploy-'));
  let t = Date.now();
  moto = await startMoto();
  const timings: Record<string, number> = { motoStart: seconds(t) };
  log(`moto ${moto.endpoint} (pid ${moto.pid})`);
  // The SDK clients of this process and of the tests talk to moto too.
  Object.assign(process.env, motoEnvironment(moto));
  t = Date.now();
  await bootstrap(moto);
  timings.bootstrap = seconds(t);
  const secrets = new SecretsManagerClient({});
  const { ARN } = await secrets.send(
    new CreateSecretCommand({
      Name: OPENSTACK_SECRET_NAME,
      SecretString: JSON.stringify({
        auth_type: 'v3applicationcredential',
        auth: {
          auth_url: 'http://127.0.0.1:9/v3',
          application_credential_id: 'deploy-tier',
          application_credential_secret: 'not-a-secret',
        },
      }),
    }),
  );
  secrets.destroy();
  const noop = await deploy(moto, { workDir: join(workDir, 'noop'), ...NOOP_DEPLOYMENT });
  timings.deployNoop = noop.seconds;
  const openstack = await deploy(moto, {
    workDir: join(workDir, 'openstack'),
    config: OPENSTACK_DEPLOYMENT.config,
    stack: { ...OPENSTACK_DEPLOYMENT.stack, credentials_secret: { arn: ARN! } },
  });
  timings.deployOpenstack = openstack.seconds;
  log(`timings (s): ${JSON.stringify(timings)}`);
  project.provide('deployTier', {
    endpoint: moto.endpoint,
    localhostEndpoint: moto.localhostEndpoint,
    workDir,
    noop,
    openstack,
    secretArn: ARN!,
    timings,
  });
}

/** Stops moto by its PID and removes the work directory. */
export async function teardown(): Promise<void> {
  await moto?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}
