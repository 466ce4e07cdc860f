/**
 * The settings the domain decides with: the pools (each with its zones and launch spec), the
 * global caps and the timings. The domain owns this type; `lib/config` validates a file and
 * produces a value of it, so no import ever runs from the domain up to the configuration.
 * Option names are the seed's (`spare_amphora_pool_size`, ...), times are in seconds.
 */
import { ANY_ZONE } from './amphora.ts';

/** The pool a record belongs to when it was written before pools existed, or none is named. */
export const DEFAULT_POOL = 'default';

/** One availability zone of a pool: Octavia's name for it, Nova's, and its own networks. */
export interface ZoneSpec {
  /** Octavia's availability-zone name; {@link ANY_ZONE} when the pool names no zone. */
  readonly name: string;
  /** The compute zone sent to Nova; absent: none is requested. */
  readonly compute_zone?: string;
  /** Management networks of this zone, replacing the pool's. */
  readonly network_ids?: readonly string[];
}

/** What a pool's amphorae boot with. The image is by id, or the newest active one with a tag. */
export interface LaunchSpec {
  readonly flavor_id?: string;
  readonly image_id?: string;
  readonly image_tag?: string;
  readonly image_owner_id?: string;
  readonly network_ids: readonly string[];
  readonly security_group_ids: readonly string[];
  readonly key_name?: string;
  readonly server_group_id?: string;
  readonly config_drive: boolean;
  readonly user_data?: string;
}

/** One pool of spares: a kind of amphora kept ready in some zones. */
export interface PoolSpec {
  readonly name: string;
  /** READY spares to keep in each zone. */
  readonly spare_amphora_pool_size: number;
  /** At least one: `[{ name: ANY_ZONE }]` when the pool names no zone. */
  readonly zones: readonly ZoneSpec[];
  readonly launch: LaunchSpec;
  /** This pool's own cap on amphorae in creation, under the global one. */
  readonly maximum_deploying_amphora_count?: number;
  /** This pool's own cap on preserved amphorae, under the global one. */
  readonly maximum_preserved_amphora_count?: number;
  /** Most READY spares on an old image or launch spec replaced at once. */
  readonly rotation_budget: number;
}

/** Everything the planner and the executors decide with. */
export interface Settings {
  readonly pools: readonly PoolSpec[];
  /** Names this deployment; its ownership tag is derived from it unless given. */
  readonly deployment_name: string;
  /** The Nova tag on every server of this deployment: what its sweeps list. */
  readonly ownership_tag: string;
  readonly maximum_deploying_amphora_count: number;
  readonly maximum_preserved_amphora_count: number;
  readonly preservation_scheme: 'keep' | 'cycle';
  readonly preservation_method: 'unplug' | 'snapshot';
  readonly boot_timeout: number;
  readonly amphora_expiry_age: number;
  readonly create_backoff_initial: number;
  readonly create_backoff_max: number;
  readonly orphan_sweep_interval: number;
  readonly orphan_grace_period: number;
  readonly image_refresh_interval: number;
  readonly task_timeout: number;
  readonly task_max_attempts: number;
  readonly delete_max_attempts: number;
  /** First delay between attempts of a failing delete, doubled per attempt. */
  readonly delete_backoff_initial: number;
  /** Cap of that delay. */
  readonly delete_backoff_max: number;
  /** A preservation not done after this long fails, and the amphora is removed. */
  readonly preservation_timeout: number;
  readonly check_initial_delay: number;
  readonly check_max_delay: number;
  readonly planner_lease_ttl: number;
}

/** The pool named `name`, if configured. */
export function poolOf(settings: Pick<Settings, 'pools'>, name: string): PoolSpec | undefined {
  return settings.pools.find((p) => p.name === name);
}

/** The zone `zone` of a pool, if configured. */
export function zoneOf(pool: PoolSpec | undefined, zone: string): ZoneSpec | undefined {
  return pool?.zones.find((z) => z.name === zone);
}

/** Target READY spares of one zone of one pool (0 for a pool or zone no longer configured). */
export function zoneTarget(settings: Pick<Settings, 'pools'>, pool: string, zone: string): number {
  const spec = poolOf(settings, pool);
  return zoneOf(spec, zone) ? spec!.spare_amphora_pool_size : 0;
}

/** Target READY spares of a pool over its zones. */
export function poolTarget(spec: PoolSpec): number {
  return spec.spare_amphora_pool_size * spec.zones.length;
}

/** The deploying cap of a pool: its own, else the global one. */
export function poolDeployingCap(settings: Settings, pool: string): number {
  return (
    poolOf(settings, pool)?.maximum_deploying_amphora_count ??
    settings.maximum_deploying_amphora_count
  );
}

/** The preserved cap of a pool: its own, else the global one. */
export function poolPreservedCap(settings: Settings, pool: string): number {
  return (
    poolOf(settings, pool)?.maximum_preserved_amphora_count ??
    settings.maximum_preserved_amphora_count
  );
}

/** The networks an amphora in `zone` boots on: the zone's own, else the pool's. */
export function zoneNetworks(spec: LaunchSpec, zone: ZoneSpec | undefined): readonly string[] {
  return zone?.network_ids ?? spec.network_ids;
}

/** The compute zone sent to Nova for an Octavia zone, or undefined for none. */
export function computeZoneOf(zone: ZoneSpec | undefined): string | undefined {
  if (!zone || zone.name === ANY_ZONE) return undefined;
  return zone.compute_zone ?? zone.name;
}

/**
 * A short, stable digest of everything an amphora boots with besides its image (flavor,
 * networks, security groups, key, server group, config drive, user data), for one zone. Two
 * specs with the same digest boot the same kind of server; a changed digest makes the READY
 * spares booted before it stale, so rotation replaces them.
 */
export function launchDigest(spec: LaunchSpec, zone: ZoneSpec | undefined): string {
  const canonical = JSON.stringify([
    spec.flavor_id ?? null,
    [...zoneNetworks(spec, zone)],
    [...spec.security_group_ids].sort(),
    spec.key_name ?? null,
    spec.server_group_id ?? null,
    spec.config_drive,
    spec.user_data ?? null,
  ]);
  return fnv1a(canonical);
}

/** FNV-1a, 32 bits, as 8 hex digits: a digest for change detection, not for security. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
