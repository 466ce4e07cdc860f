/**
 * The planner's composition root: the shared core and nothing else. The planner decides and
 * sends tasks; it never calls the cloud, so its bundle carries no driver and no Secrets Manager
 * client.
 */
import { type CoreRuntime, coreFromEnv, type Env } from './aws-runtime.ts';

/** Everything the planner handler uses within one execution environment. */
export type PlannerRuntime = CoreRuntime;

/** Builds the planner's runtime from the environment. @throws ConfigError naming every bad setting. */
export function plannerRuntimeFromEnv(env: Env): PlannerRuntime {
  const { config, store, queue, clock, newId } = coreFromEnv(env);
  return { config, store, queue, clock, newId };
}
