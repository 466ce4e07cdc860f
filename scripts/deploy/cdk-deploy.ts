/**
 * A real `cdk bootstrap` and `cdk deploy` of this app into moto, with the project's own CDK CLI.
 * `--method=direct` (CreateStack rather than a change set) because moto drops a stack's outputs
 * when it is created from a change set, and the CLI finds the deployed stack by its outputs.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../cdk/bundling.ts';
import { CONTEXT_KEYS } from '../../cdk/stack-config.ts';
import { MOTO_ACCOUNT, MOTO_REGION, type MotoServer, motoEnvironment } from './moto.ts';

const CDK_CLI = createRequire(import.meta.url).resolve('aws-cdk/bin/cdk');

/** One deployed stack. */
export interface Deployment {
  readonly stackName: string;
  /** The synthesised template the deploy used. */
  readonly templatePath: string;
  /** The cloud assembly directory (its assets are what was uploaded). */
  readonly assemblyDir: string;
  /** The stack's outputs, by output key. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Seconds the deploy took (synth, asset upload, stack creation). */
  readonly seconds: number;
}

/** Runs the CDK CLI in the project root against moto; resolves with its output, rejects on failure. */
export function runCdk(
  moto: MotoServer,
  args: readonly string[],
  options: { log?: (line: string) => void } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CDK_CLI, ...args], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        ...motoEnvironment(moto),
        CDK_DISABLE_VERSION_CHECK: '1',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      for (const line of text.split('\n')) if (line.trim()) options.log?.(line);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(output);
      else
        reject(new Error(`cdk ${args.join(' ')} failed (exit ${code}):\n${output.slice(-6_000)}`));
    });
  });
}

/** Bootstraps moto's account and region (the CDK's staging bucket, roles and version parameter). */
export async function bootstrap(moto: MotoServer, log?: (line: string) => void): Promise<void> {
  await runCdk(moto, ['bootstrap', `aws://${MOTO_ACCOUNT}/${MOTO_REGION}`], log ? { log } : {});
}

/**
 * Deploys the app with this deployment configuration (written as the `housekeeper_file` the
 * context names) into moto, synthesising into `workDir`.
 */
export async function deploy(
  moto: MotoServer,
  options: {
    readonly workDir: string;
    readonly config: Record<string, unknown>;
    readonly stack: Record<string, unknown> & { readonly stack_name: string };
    readonly log?: (line: string) => void;
  },
): Promise<Deployment> {
  const started = Date.now();
  mkdirSync(options.workDir, { recursive: true });
  const configFile = join(options.workDir, 'deployment.json');
  writeFileSync(
    configFile,
    JSON.stringify({ [CONTEXT_KEYS.config]: options.config, [CONTEXT_KEYS.stack]: options.stack }),
  );
  const assemblyDir = join(options.workDir, 'cdk.out');
  const outputsFile = join(options.workDir, 'outputs.json');
  await runCdk(
    moto,
    [
      'deploy',
      '--require-approval',
      'never',
      '--method=direct',
      '--output',
      assemblyDir,
      '--outputs-file',
      outputsFile,
      '-c',
      `${CONTEXT_KEYS.file}=${configFile}`,
    ],
    options.log ? { log: options.log } : {},
  );
  const stackName = options.stack.stack_name;
  const outputs = JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<
    string,
    Record<string, string>
  >;
  const manifest = JSON.parse(readFileSync(join(assemblyDir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<
      string,
      { type: string; properties?: { templateFile?: string; stackName?: string } }
    >;
  };
  const artifact = Object.values(manifest.artifacts).find(
    (a) => a.type === 'aws:cloudformation:stack' && a.properties?.stackName === stackName,
  );
  if (!artifact?.properties?.templateFile) {
    throw new Error(`the cloud assembly in ${assemblyDir} has no stack named ${stackName}`);
  }
  return {
    stackName,
    templatePath: join(assemblyDir, artifact.properties.templateFile),
    assemblyDir,
    outputs: Object.values(outputs)[0] ?? {},
    seconds: (Date.now() - started) / 1000,
  };
}
