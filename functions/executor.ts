/**
 * The executor Lambda's entry point. Module initialisation is the cold start: the configuration
 * and the clients are built here, once, and a bad configuration fails it with the schema's
 * message.
 */
import { runtimeFromEnv } from './aws-runtime.ts';
import { executorHandler } from './executor-handler.ts';

/** The handler Lambda invokes. */
export const handler = executorHandler(runtimeFromEnv(process.env));
