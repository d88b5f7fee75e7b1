import { status } from '@grpc/grpc-js';

/** Exit codes of `apikeys`; documented in `apikeys --help` (see EXIT_CODE_HELP). */
export const EXIT = {
  OK: 0,
  /** Something failed on this side: a TLS file cannot be read, an unexpected error. */
  LOCAL_FAILURE: 1,
  /** Unknown command or flag, missing or invalid value. */
  USAGE: 2,
  /** `verify`: the service refused the key. */
  KEY_DENIED: 3,
  /** An RPC failed with gRPC status N: the exit code is RPC_BASE + N. */
  RPC_BASE: 10,
} as const;

/** gRPC status code → its name, e.g. 5 → NOT_FOUND. */
export const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(status)
    .filter(([, code]) => typeof code === 'number')
    .map(([name, code]) => [code, name]),
);

/** The exit code for an RPC that failed with `code`. */
export function exitCodeForStatus(code: number): number {
  return EXIT.RPC_BASE + code;
}

/** The exit-code table printed by `apikeys --help`. */
export const EXIT_CODE_HELP = [
  '  0     success (verify: the key is valid)',
  '  1     local failure (e.g. a TLS file cannot be read)',
  '  2     usage error (unknown command or flag, missing or invalid value)',
  '  3     verify: the key was refused (reason printed)',
  '  10+N  the call failed with gRPC status N, e.g.',
  ...[
    status.INVALID_ARGUMENT,
    status.DEADLINE_EXCEEDED,
    status.NOT_FOUND,
    status.PERMISSION_DENIED,
    status.FAILED_PRECONDITION,
    status.INTERNAL,
    status.UNAVAILABLE,
    status.UNAUTHENTICATED,
  ].map((code) => `          ${exitCodeForStatus(code)} ${STATUS_NAMES[code] ?? String(code)}`),
].join('\n');
