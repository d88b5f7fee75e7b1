import { connect } from 'node:net';

import type { ServiceProcess } from './startProcess.js';

/** Resolves once `service` has written `text` (a log message); rejects after `timeoutMs` or if it exits. */
export async function waitForOutput(service: ServiceProcess, text: string, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  const state = { exited: false };
  void service.exited.then(() => (state.exited = true));
  while (!service.output().includes(text)) {
    if (state.exited) throw new Error(`exited without writing ${JSON.stringify(text)}:\n${service.output()}`);
    if (Date.now() - started > timeoutMs) {
      throw new Error(`not written within ${timeoutMs} ms: ${JSON.stringify(text)}:\n${service.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** How many log lines of `service` contain `text` so far. */
export function countOutput(service: ServiceProcess, text: string): number {
  return service
    .output()
    .split('\n')
    .filter((line) => line.includes(text)).length;
}

/** The operator HTTP address (`METRICS_ADDRESS`) the process logged. */
export function metricsAddressOf(service: ServiceProcess): string {
  const match = /"metricsAddress":"([^"]+)"/.exec(service.output());
  if (match?.[1] === undefined) throw new Error(`no metrics address logged:\n${service.output()}`);
  return match[1];
}

/** The status of `GET /readyz`. */
export async function readyzStatus(service: ServiceProcess): Promise<number> {
  return (await fetch(`http://${metricsAddressOf(service)}/readyz`)).status;
}

/** The port of the gRPC address the process logged. */
export function portOf(service: ServiceProcess): number {
  return Number(service.address.split(':').at(-1));
}

/** Opens a TCP connection to 127.0.0.1:`port`: resolves with `connected` or the error code (ECONNREFUSED). */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
