/**
 * The planner Lambda's entry point. Module initialisation is the cold start: the configuration
 * and the clients are built here, once, and a bad configuration fails it with the schema's
 * message.
 */
import { plannerHandler } from './planner-handler.ts';
import { plannerRuntimeFromEnv } from './planner-runtime.ts';

/** The handler Lambda invokes. */
export const handler = plannerHandler(plannerRuntimeFromEnv(process.env));
