import { invalidArgument } from '../AppError.js';
import type { Actor } from '../types.js';
import { noUsage, type UsageEntry } from '../UsageTally.js';
import { formatUtcDay, parseUtcDay, utcDayOf } from '../utcDay.js';
import { requireIdentifier } from '../validation.js';
import type { KeyAdministrationDependencies } from './KeyAdministrationDependencies.js';
import { keyNotFound } from './keyNotFound.js';
import { requirePermission } from './requirePermission.js';

/** Most days one GetKeyUsage call covers (a leap year). */
export const MAX_USAGE_DAYS = 366;
/** Days covered when `startDay` is empty, ending with `endDay`. */
export const DEFAULT_USAGE_DAYS = 30;

/** Which key and which UTC days (`YYYY-MM-DD`, both inclusive; empty: the defaults). */
export interface KeyUsageInput {
  readonly keyId: string;
  /** Empty: DEFAULT_USAGE_DAYS − 1 days before `endDay`. */
  readonly startDay: string;
  /** Empty: today (UTC). */
  readonly endDay: string;
}

/** A key's usage, one entry per day from `firstDay` to `lastDay` (days since 1970-01-01), zero days included. */
export interface KeyUsage {
  readonly keyId: string;
  readonly firstDay: number;
  readonly lastDay: number;
  readonly days: readonly UsageEntry[];
}

/**
 * The daily usage history of a key of the actor's organization (either admin role): NOT_FOUND for
 * absent and foreign keys alike. Counts are those flushed so far: each replica writes its counts every
 * LAST_USED_FLUSH_MS, so today's figures trail the traffic by up to that long.
 */
export async function getKeyUsage(
  deps: Pick<KeyAdministrationDependencies, 'repository' | 'clock'>,
  actor: Actor,
  input: KeyUsageInput,
): Promise<KeyUsage> {
  requirePermission(actor, 'read keys');
  const keyId = requireIdentifier(input.keyId, 'key_id');
  const [firstDay, lastDay] = usageRange(input, utcDayOf(deps.clock.now()));
  if ((await deps.repository.findById(actor.organizationId, keyId)) === null) throw keyNotFound(keyId);
  const stored = new Map((await deps.repository.readUsage(keyId, firstDay, lastDay)).map((row) => [row.day, row]));
  const days: UsageEntry[] = [];
  for (let day = firstDay; day <= lastDay; day++) days.push(stored.get(day) ?? { keyId, day, counts: noUsage() });
  return { keyId, firstDay, lastDay, days };
}

function usageRange(input: KeyUsageInput, today: number): [number, number] {
  const lastDay = input.endDay === '' ? today : parseUtcDay(input.endDay, 'end_day');
  const firstDay = input.startDay === '' ? lastDay - DEFAULT_USAGE_DAYS + 1 : parseUtcDay(input.startDay, 'start_day');
  if (firstDay > lastDay) {
    throw invalidArgument(`start_day (${formatUtcDay(firstDay)}) must not be after end_day (${formatUtcDay(lastDay)})`);
  }
  const length = lastDay - firstDay + 1;
  if (length > MAX_USAGE_DAYS) {
    throw invalidArgument(`a usage range covers at most ${MAX_USAGE_DAYS} days, got ${length}`);
  }
  return [firstDay, lastDay];
}
