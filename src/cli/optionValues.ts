import type { OptionValues } from './Command.js';
import { UsageError } from './UsageError.js';

/** A string flag's value, or undefined when absent. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A string flag that must be present. */
export function requiredString(values: OptionValues, name: string, hint = ''): string {
  const value = stringOption(values, name);
  if (value === undefined) throw new UsageError(`--${name} is required${hint === '' ? '' : ` (${hint})`}`);
  return value;
}

/** Whether a boolean flag was given. */
export function flag(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** Every value of a repeatable flag, comma-separated lists split: `--scope a,b --scope c` → [a, b, c]. */
export function listOption(values: OptionValues, name: string): string[] | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const raw = Array.isArray(value) ? value : [value];
  return raw
    .filter((entry): entry is string => typeof entry === 'string')
    .flatMap((entry) => entry.split(','))
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/**
 * Repeated `NAME=VALUE` flags (no comma splitting: values may hold commas) as a map, or undefined when
 * absent; the service validates names and values.
 */
export function metadataOption(values: OptionValues, name: string): Record<string, string> | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const metadata: Record<string, string> = {};
  for (const entry of (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string')) {
    const split = entry.indexOf('=');
    if (split < 1) throw new UsageError(`--${name} must be NAME=VALUE, got ${JSON.stringify(entry.slice(0, 80))}`);
    metadata[entry.slice(0, split).trim()] = entry.slice(split + 1);
  }
  return metadata;
}

/** An integer flag within [min, max], or undefined when absent. */
export function intOption(values: OptionValues, name: string, min: number, max: number): number | undefined {
  const value = stringOption(values, name);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || number < min || number > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return number;
}

/** An ISO 8601 time flag (e.g. 2026-01-31T12:00:00Z or 2026-01-31), or undefined when absent. */
export function timeOption(values: OptionValues, name: string): Date | undefined {
  const value = stringOption(values, name);
  if (value === undefined) return undefined;
  const time = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(time.getTime())) {
    throw new UsageError(
      `--${name} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, got ${JSON.stringify(value)}`,
    );
  }
  return time;
}
