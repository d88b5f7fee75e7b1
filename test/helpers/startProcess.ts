import { type ChildProcess, spawn } from 'node:child_process';

/** A service process started the way `npm start` runs it. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly address: string;
  output(): string;
  readonly exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Starts `src/main.ts` as its own process and resolves once it logged its listening address. */
export function startServiceProcess(
  env: Record<string, string>,
  /** Called with everything written so far on each write, before the service listens too. */
  onOutput?: (output: string, child: ChildProcess) => void,
): Promise<ServiceProcess> {
  // Node itself with tsx as a loader (not the tsx binary, a supervisor that relays only SIGINT and
  // SIGTERM), so every signal a test sends reaches the service.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      onOutput?.(output, child);
      const match = /"address":"([^"]+)"/.exec(output);
      if (match?.[1] !== undefined) {
        resolve({
          child,
          address: match[1],
          output: () => output,
          exited,
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${String(code)} before listening:\n${output}`)));
  });
}
