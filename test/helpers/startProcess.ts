import { type ChildProcess, spawn } from 'node:child_process';

/** A service process started the way `npm start` runs it. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly address: string;
  output(): string;
  readonly exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** How to start the service process. */
export interface ServiceProcessOptions {
  /** Called with everything written so far on each write, before the service listens too. */
  readonly onOutput?: (output: string, child: ChildProcess) => void;
  /** Extra arguments for node before the entry point (`--expose-gc`, another `--import`). */
  readonly nodeArgs?: readonly string[];
  /** Opens an IPC channel to the child (`child.send`, `child.on('message')`). */
  readonly ipc?: boolean;
}

/** What a process that ran to its end wrote, and how it ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `src/main.ts` as its own process with `env` over this process's environment. Node itself with tsx
 * as a loader (not the tsx binary, a supervisor that relays only SIGINT and SIGTERM), so every signal
 * a test sends reaches the service.
 */
function spawnService(env: Record<string, string>, options: ServiceProcessOptions): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ...(options.nodeArgs ?? []), 'src/main.ts'], {
    env: { ...process.env, ...env },
    stdio: options.ipc === true ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves with the exit code once `child` exited. */
function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

/**
 * Starts `src/main.ts` as its own process and resolves once it logged its listening address. Without a
 * drain period unless `env` sets SHUTDOWN_DRAIN_MS: its default would add 5 s to every test's stop, and
 * only the drain tests are about it.
 */
export function startServiceProcess(
  env: Record<string, string>,
  options: ServiceProcessOptions = {},
): Promise<ServiceProcess> {
  const child = spawnService({ LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '0', ...env }, options);
  let output = '';
  const exited = exitOf(child);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      options.onOutput?.(output, child);
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
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${String(code)} before listening:\n${output}`)));
  });
}

/**
 * Runs `src/main.ts` expecting it to exit on its own (a refused start); resolves with the exit code and
 * everything it wrote. A process still running after `timeoutMs` is killed (and the code is null).
 */
export async function runServiceToExit(env: Record<string, string>, timeoutMs = 20_000): Promise<ProcessExit> {
  const child = spawnService(env, {});
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exitOf(child);
  clearTimeout(timer);
  return { code, stdout, stderr };
}
