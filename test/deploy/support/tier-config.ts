/**
 * The deployments the deploy tier makes in moto: the noop driver (the one Tier 2 runs end to
 * end), and the openstack driver with its credentials imported by ARN (read back in Tier 1:
 * moto's CloudFormation creates no Secrets Manager secret, so only an imported one deploys).
 */

/** The noop deployment: a small pool, short delays, few attempts, so that a run takes seconds. */
export const NOOP_DEPLOYMENT = {
  config: {
    driver: 'noop',
    spare_amphora_pool_size: 3,
    maximum_deploying_amphora_count: 2,
    check_initial_delay: 0,
    check_max_delay: 1,
    task_max_attempts: 3,
    // After the refused creates, creation resumes within seconds rather than a minute.
    create_backoff_initial: 1,
    create_backoff_max: 2,
    executor_timeout: 20,
    executor_batch_size: 5,
    executor_max_concurrency: 2,
    // One preserved amphora, cycled: a second failure evicts the first (the preserved queue).
    maximum_preserved_amphora_count: 1,
    preservation_scheme: 'cycle',
    // Removed records are purged by the next cycle, so the deployed planner's purge runs too.
    amphora_expiry_age: 0,
  },
  stack: { stack_name: 'HousekeeperDeployTier', log_retention_days: 7 },
} as const;

/** The openstack deployment; `credentials_secret.arn` is filled in with a secret made in moto. */
export const OPENSTACK_DEPLOYMENT = {
  config: {
    driver: 'openstack',
    spare_amphora_pool_size: 1,
    openstack: { image_id: 'image-1', flavor_id: 'flavor-1', network_ids: ['net-1'] },
  },
  stack: { stack_name: 'HousekeeperDeployTierOpenstack' },
} as const;

/** The name of the secret the openstack deployment imports. */
export const OPENSTACK_SECRET_NAME = 'housekeeper-deploy-tier/openstack';
