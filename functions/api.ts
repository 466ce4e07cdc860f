/**
 * The API Lambda's entry point, behind its function URL (AWS_IAM). Module initialisation is the
 * cold start: the configuration and the clients are built here, once.
 */
import { apiHandler } from './api-handler.ts';
import { apiRuntimeFromEnv } from './api-runtime.ts';

/** The handler Lambda invokes. */
export const handler = apiHandler(apiRuntimeFromEnv(process.env));
