/**
 * The pools of a deployment, as the metrics name them in their `Pool` dimension. Today a
 * deployment has one pool, `default`; when the configuration gains a `pools` list, their names
 * come from it. Both the CDK stack (per-pool widgets) and tests read the names from here.
 */

/** The `Pool` dimension value of a deployment's single pool. */
export const DEFAULT_POOL_NAME = 'default';

/** The pool names of a configuration: the names of its `pools` list when it has one, else `default`. */
export function poolNames(config: object): readonly string[] {
  const pools = (config as { readonly pools?: unknown }).pools;
  if (!Array.isArray(pools) || pools.length === 0) return [DEFAULT_POOL_NAME];
  return pools.map((p: unknown, i) => {
    const name = (p as { readonly name?: unknown } | null)?.name;
    if (typeof name !== 'string' || name === '') {
      throw new TypeError(`pools[${i}].name = ${JSON.stringify(name)}: must be a non-empty string`);
    }
    return name;
  });
}
