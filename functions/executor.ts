/**
 * The executor Lambda's entry point. Module initialisation is the cold start: the configuration
 * and the clients are built here, once, and a bad configuration fails it with the schema's
 * message.
 */
import { executorHandler } from './executor-handler.ts';
import { executorRuntimeFromEnv } from './executor-runtime.ts';

/** The handler Lambda invokes. */
export const handler = executorHandler(executorRuntimeFromEnv(process.env));
