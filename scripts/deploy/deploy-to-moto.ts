/**
 * For a developer: deploys the stack into a fresh moto, prints how to point the CLI at it, and
 * keeps moto running until Ctrl-C (then stops it by its PID). The configuration is cdk.json's,
 * or the file given as the first argument (the `housekeeper_file` shape).
 *
 *   npm run deploy:moto [-- deploy/dev.json]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTEXT_KEYS } from '../../cdk/stack-config.ts';
import { bootstrap, deploy } from './cdk-deploy.ts';
import { motoEnvironment, startMoto } from './moto.ts';

const file = process.argv[2];
const content = file
  ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>)
  : {};
const stack = { stack_name: 'AmphoraHousekeeper', ...(content[CONTEXT_KEYS.stack] ?? {}) };
const moto = await startMoto();
const work = mkdtempSync(join(tmpdir(), 'housekeeper-moto-'));
const stop = async (code: number) => {
  await moto.stop();
  rmSync(work, { recursive: true, force: true });
  process.exit(code);
};
process.once('SIGINT', () => stop(0));
process.once('SIGTERM', () => stop(0));
try {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  await bootstrap(moto, log);
  const deployed = await deploy(moto, {
    workDir: work,
    config: content[CONTEXT_KEYS.config] ?? {},
    stack: stack as typeof stack & { stack_name: string },
    log,
  });
  const env = Object.entries(motoEnvironment(moto))
    .map(([k, v]) => `export ${k}=${v}`)
    .join('\n');
  process.stdout.write(
    `\nmoto ${moto.endpoint} (pid ${moto.pid}) holds stack ${deployed.stackName}.\n` +
      `In another shell:\n\n${env}\nnpx housekeeper status --target aws --stack ${deployed.stackName}\n\n` +
      'Nothing runs the functions here (moto runs no code); `housekeeper cycle --target aws --stack …` runs one cycle from the CLI.\nCtrl-C stops moto.\n',
  );
  // moto's process does not hold this one open: wait here until Ctrl-C.
  setInterval(() => {}, 3_600_000);
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  await stop(1);
}
