/**
 * How the functions are bundled, in one place: the stack passes these to `NodejsFunction`, and the
 * cold-start benchmark builds its bare comparison handler with the same esbuild flags.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in `cdk/`). */
export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The Lambda entry points, by function. */
export const ENTRY_POINTS = {
  planner: join(PROJECT_ROOT, 'functions', 'planner.ts'),
  executor: join(PROJECT_ROOT, 'functions', 'executor.ts'),
  api: join(PROJECT_ROOT, 'functions', 'api.ts'),
} as const;

/** The exported handler of every entry point. */
export const HANDLER_EXPORT = 'handler';

/**
 * The bundling every function gets. The SDK is bundled, not taken from the runtime: the version
 * that runs is the one tested, and a bundled client imports faster than the runtime's copy
 * (TOOLCHAIN.md: 108 ms against 155 ms cold).
 */
export const BUNDLING = {
  /** esbuild's `--target`: the Lambda runtime's Node major. */
  target: 'node22',
  minify: true,
  sourceMap: true,
  /** Stack traces map back to the sources without shipping them. */
  sourcesContent: false,
  bundleAwsSDK: true,
} as const;
