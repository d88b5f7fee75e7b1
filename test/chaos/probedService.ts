import { readdirSync } from 'node:fs';

import { metricsAddressOf } from '../helpers/processShutdown.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/startProcess.js';

type MemoryUsage = NodeJS.MemoryUsage;

/** The service as a child process (`src/main.ts`), with an IPC channel for memory readings. */
export interface ProbedService extends ServiceProcess {
  /** Log lines at warn level and above (and anything not a log line), as written. */
  problems(): string[];
  /** `process.memoryUsage()` of the service right after two full garbage collections (memoryProbe.ts). */
  memory(): Promise<MemoryUsage>;
  /** The value of one sample line of its /metrics (`name{labels}` as written there), 0 when absent. */
  metric(series: string): Promise<number>;
  /** How many file descriptors the process has open (Linux /proc). */
  openDescriptors(): number;
}

/** Starts the service process with `env` (over `LOG_LEVEL=info`, a metrics port) and the memory probe. */
export async function startProbedService(env: Record<string, string>): Promise<ProbedService> {
  const service = await startServiceProcess(
    { LISTEN_ADDRESS: '127.0.0.1:0', LOG_LEVEL: 'info', METRICS_ADDRESS: '127.0.0.1:0', ...env },
    { nodeArgs: ['--expose-gc', '--import', './test/chaos/memoryProbe.ts'], ipc: true },
  );
  const { child } = service;
  let requests = 0;
  return {
    ...service,
    problems: () =>
      service
        .output()
        .split('\n')
        .filter((line) => line.trim() !== '')
        .filter((line) => {
          const level = /"level":(\d+)/.exec(line)?.[1];
          return level === undefined || Number(level) >= 40;
        }),
    memory: () =>
      new Promise((answer) => {
        const id = ++requests;
        const onMessage = (message: { type?: string; id?: number; usage?: MemoryUsage }): void => {
          if (message.type !== 'memory' || message.id !== id || message.usage === undefined) return;
          child.off('message', onMessage);
          answer(message.usage);
        };
        child.on('message', onMessage);
        child.send({ type: 'memory', id });
      }),
    metric: async (series) => {
      const body = await (await fetch(`http://${metricsAddressOf(service)}/metrics`)).text();
      const line = body.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? 0 : Number(line.slice(series.length + 1));
    },
    openDescriptors: () => readdirSync(`/proc/${child.pid ?? 0}/fd`).length,
  };
}
