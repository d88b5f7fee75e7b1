import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * A replica id, new at every start of a process: `host:pid:random`, readable in logs and metrics (which
 * machine, which process), and unique even when a pid is reused or two containers share a host name.
 */
export function newReplicaId(host: string = hostname(), pid: number = process.pid): string {
  return `${host.slice(0, 120)}:${pid}:${randomBytes(3).toString('hex')}`;
}
