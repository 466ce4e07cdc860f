/**
 * Makes sure the loopback OpenStack is up before the real tier runs: when any of its APIs does
 * not answer, runs the project's own `scripts/openstack/setup-openstack.sh` (idempotent) and
 * fails loudly if the cloud is still not usable afterwards. Never skips.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OSCI_ENDPOINTS, osciEnvPath } from './support.ts';

const SETUP = fileURLToPath(new URL('../../scripts/openstack/setup-openstack.sh', import.meta.url));
/** A fresh machine installs ~370 packages first: allow well beyond the ~5 minutes that takes. */
const SETUP_TIMEOUT_MS = 30 * 60_000;

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return true;
  } catch {
    return false;
  }
}

async function down(): Promise<string[]> {
  const results = await Promise.all(
    OSCI_ENDPOINTS.map(
      async (url): Promise<string | undefined> => ((await answers(url)) ? undefined : url),
    ),
  );
  return results.filter((u): u is string => u !== undefined);
}

/** Vitest global setup. */
export default async function setup(): Promise<void> {
  const missing = await down();
  if (missing.length === 0 && existsSync(osciEnvPath())) return;
  const why =
    missing.length > 0 ? `not answering: ${missing.join(', ')}` : `${osciEnvPath()} missing`;
  console.log(`[openstack tier] cloud not ready (${why}); running ${SETUP} (takes minutes)`);
  const run = spawnSync('bash', [SETUP], { stdio: 'inherit', timeout: SETUP_TIMEOUT_MS });
  if (run.error || run.status !== 0) {
    throw new Error(
      `[openstack tier] ${SETUP} failed (${run.error ? run.error.message : `exit ${run.status}`}); see /var/log/osci/setup.log. It needs root, Debian 12 and the Debian apt repositories.`,
    );
  }
  const still = await down();
  if (still.length > 0 || !existsSync(osciEnvPath())) {
    throw new Error(
      `[openstack tier] setup finished but the cloud is not usable (${still.join(', ') || `${osciEnvPath()} missing`})`,
    );
  }
}
