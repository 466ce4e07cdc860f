/**
 * The planner Lambda's entry point. Module initialisation is the cold start: the configuration
 * and the clients are built here, once, and a bad configuration fails it with the schema's
 * message.
 */
import { runtimeFromEnv } from './aws-runtime.ts';
import { plannerHandler } from './planner-handler.ts';

/** The handler Lambda invokes. */
export const handler = plannerHandler(runtimeFromEnv(process.env));
