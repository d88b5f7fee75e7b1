import { status } from '@grpc/grpc-js';

const NAMES = Object.fromEntries(Object.entries(status).map(([name, code]) => [code, name])) as Record<number, string>;

/** `status.NOT_FOUND` → `NOT_FOUND`: the name logs and metrics labels use. */
export function statusName(code: status): string {
  return NAMES[code] ?? String(code);
}
