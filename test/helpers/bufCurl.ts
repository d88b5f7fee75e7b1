import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The buf CLI `npm ci` installs (a Go binary): its `curl` is a Go reflection client like grpcurl. */
const BUF = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));

/** What one buf invocation printed, and how it ended. */
export interface BufResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `buf …args` (no shell), feeding `input` on stdin; never rejects, the exit code is in the result. */
export function runBuf(args: readonly string[], input = ''): Promise<BufResult> {
  return new Promise((resolve) => {
    const child = execFile(
      BUF,
      args,
      { timeout: 30_000, env: { ...process.env, BUF_CACHE_DIR: process.env.BUF_CACHE_DIR ?? '/tmp/buf-cache' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

/** `buf curl` over plaintext gRPC, the flags every README command uses. */
export const BUF_CURL_GRPC = ['curl', '--protocol', 'grpc', '--http2-prior-knowledge'] as const;
