/**
 * Counts the servers a cloud sends a driver, for the contract suite's "one amphora's lookup
 * never lists the pool": over HTTP for the openstack driver, over the cloud store for noop.
 */
import type { Transport } from '../../lib/drivers/openstack/http.ts';
import type { CloudStateStore } from '../../lib/ports/cloud-state.ts';

/** A running count of servers sent. */
export type ServersSent = () => number;

/** How many servers one Nova answer carries: a listing's entries, or the one server shown. */
function serversIn(method: string, url: string, status: number, body: string): number {
  if (method !== 'GET' || status !== 200) return 0;
  const path = new URL(url).pathname.replace(/\/+$/, '');
  if (/\/servers(\/detail)?$/.test(path)) {
    const servers = (JSON.parse(body) as { servers?: unknown }).servers;
    return Array.isArray(servers) ? servers.length : 0;
  }
  return /\/servers\/[^/]+$/.test(path) ? 1 : 0;
}

/** Wraps a transport so that {@link ServersSent} counts the servers in Nova's answers. */
export function countServersOverHttp(inner: Transport): {
  transport: Transport;
  sent: ServersSent;
} {
  let sent = 0;
  return {
    transport: async (request) => {
      const response = await inner(request);
      sent += serversIn(request.method, request.url, response.status, response.body);
      return response;
    },
    sent: () => sent,
  };
}

/** Wraps the noop driver's cloud store so that {@link ServersSent} counts server entries read. */
export function countServersInStore(inner: CloudStateStore): {
  state: CloudStateStore;
  sent: ServersSent;
} {
  let sent = 0;
  const isServer = (key: string) => key.startsWith('server/');
  return {
    state: {
      get: async (key) => {
        const entry = await inner.get(key);
        if (entry && isServer(key)) sent += 1;
        return entry;
      },
      put: (key, value, expected) => inner.put(key, value, expected),
      delete: (key, expected) => inner.delete(key, expected),
      list: async (prefix) => {
        const entries = await inner.list(prefix);
        sent += entries.filter((e) => isServer(e.key)).length;
        return entries;
      },
    },
    sent: () => sent,
  };
}
