/** `start|stop|restart NAME [--wait]` as requests to the daemon: the action, then (with wait) the settled state. */
import type { InstanceStatus } from '../supervisor/types.js';
import { ROUTES, type InstanceAction, type InstancesBody } from '../control/api.js';
import { requestJson } from './control-client.js';

export async function requestInstanceAction(socket: string, action: InstanceAction, name: string, wait: boolean): Promise<InstanceStatus> {
  const { body: status } = await requestJson<InstanceStatus>(socket, 'POST', `${ROUTES.instances}/${encodeURIComponent(name)}/${action}`);
  // A stop returns once the process group is gone: there is nothing left to wait for.
  if (!wait || action === 'stop') return status;
  const waited = await requestJson<InstancesBody>(socket, 'POST', ROUTES.wait, { names: [name] });
  return waited.body.instances[0] ?? status;
}
