import { invalidArgument } from '../AppError.js';
import type { Actor } from '../types.js';

/** Longest lifetime a key may have: one year. */
export const MAX_LIFETIME_HOURS = 8760;
/** The fixed lifetime of keys made by a Read-Only Admin. */
export const READ_ONLY_LIFETIME_HOURS = 72;
/** Longest grace period of a rotation: one week. */
export const MAX_GRACE_PERIOD_HOURS = 168;
/** Hours are the unit of every lifetime in the API; times are epoch milliseconds. */
export const HOUR_MS = 3_600_000;

/** A requested lifetime: a whole number of hours, 1…8760. */
export function requireLifetimeHours(hours: number): number {
  if (!Number.isInteger(hours) || hours < 1 || hours > MAX_LIFETIME_HOURS) {
    throw invalidArgument(`expires_in_hours must be between 1 and ${MAX_LIFETIME_HOURS} (one year), got ${hours}`);
  }
  return hours;
}

/**
 * The lifetime of a key the actor creates: fixed for a Read-Only Admin (who may only repeat it), otherwise
 * the requested one or the service default.
 */
export function lifetimeHoursFor(actor: Actor, requested: number | undefined, defaultHours: number): number {
  if (actor.role === 'read_only_admin') {
    if (requested !== undefined && requested !== READ_ONLY_LIFETIME_HOURS) {
      throw invalidArgument(
        `keys created by a Read-Only Admin have a fixed lifetime of ${READ_ONLY_LIFETIME_HOURS} hours; omit expires_in_hours (got ${requested})`,
      );
    }
    return READ_ONLY_LIFETIME_HOURS;
  }
  return requested === undefined ? defaultHours : requireLifetimeHours(requested);
}

/** A rotation's grace period: a whole number of hours, 0…168. */
export function requireGracePeriodHours(hours: number): number {
  if (!Number.isInteger(hours) || hours < 0 || hours > MAX_GRACE_PERIOD_HOURS) {
    throw invalidArgument(
      `grace_period_hours must be between 0 and ${MAX_GRACE_PERIOD_HOURS} (0 revokes the old key at once), got ${hours}`,
    );
  }
  return hours;
}
