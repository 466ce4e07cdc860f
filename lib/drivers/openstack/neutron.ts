/** The Neutron (network) calls the driver makes: a server's ports, and deleting them. */
import { malformedResponseError } from './errors.ts';
import { type OpenStackSession, query } from './session.ts';

/** Neutron, through an authenticated session. */
export class NeutronApi {
  private readonly session: OpenStackSession;

  constructor(session: OpenStackSession) {
    this.session = session;
  }

  /** Ids of the ports bound to a device (a server). */
  async portIdsOfDevice(deviceId: string, signal?: AbortSignal): Promise<string[]> {
    const path = `/ports${query({ device_id: deviceId, fields: 'id' })}`;
    const res = await this.session.request('network', { method: 'GET', path, signal });
    const ports = (res.body as { ports?: unknown } | undefined)?.ports;
    if (!Array.isArray(ports)) {
      throw malformedResponseError(
        { service: 'network', method: 'GET', path },
        res.status,
        'no ports list',
      );
    }
    return ports
      .map((p) => (p as { id?: unknown })?.id)
      .filter((id): id is string => typeof id === 'string');
  }

  /** Deletes a port; Neutron does it synchronously. @throws NotFoundError when already gone. */
  async deletePort(portId: string, signal?: AbortSignal): Promise<void> {
    await this.session.request('network', {
      method: 'DELETE',
      path: `/ports/${encodeURIComponent(portId)}`,
      signal,
      isDelete: true,
    });
  }
}
