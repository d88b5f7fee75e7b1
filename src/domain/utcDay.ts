import { invalidArgument } from './AppError.js';

/** Milliseconds in a UTC day (no leap seconds in epoch time). */
export const DAY_MS = 86_400_000;

const DAY_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The UTC day of an instant, as days since 1970-01-01 (the `key_usage.day` column). */
export function utcDayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** A day number as `YYYY-MM-DD`. */
export function formatUtcDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/**
 * Parses `YYYY-MM-DD` (a real calendar date, years 1970–9999) into a day number; INVALID_ARGUMENT naming
 * `field` otherwise.
 */
export function parseUtcDay(text: string, field: string): number {
  const match = DAY_TEXT.exec(text);
  const ms = match === null ? Number.NaN : Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  if (match === null || Number.isNaN(ms) || ms < 0 || formatUtcDay(utcDayOf(ms)) !== text) {
    throw invalidArgument(
      `${field} must be a UTC date written YYYY-MM-DD (e.g. 2026-12-03), got ${JSON.stringify(text.slice(0, 32))}`,
    );
  }
  return utcDayOf(ms);
}
