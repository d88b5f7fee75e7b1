import { makeValidator } from 'envalid';

/** Splits a comma-separated list, trimming entries; an empty string is an empty list. */
export function commaList(input: string): string[] {
  return input.trim() === '' ? [] : input.split(',').map((entry) => entry.trim());
}

/** `host:port`, the host a name, an IPv4 address or a bracketed IPv6 address. */
export function parseHostPort(input: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(input);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) throw new Error('expected host:port, e.g. 127.0.0.1:50051 or [::]:50051');
  return { host: match[1] ?? '', port };
}

/** A validator for `host:port`. */
export const hostPort = makeValidator<{ host: string; port: number }>(parseHostPort);

/** A validator for an integer within [min, max], both stated in the message. */
export function intRange(min: number, max: number) {
  return makeValidator<number>((input) => {
    const value = Number(input);
    if (!/^\d+$/.test(input.trim()) || value < min || value > max)
      throw new Error(`expected an integer from ${min} to ${max}`);
    return value;
  });
}
