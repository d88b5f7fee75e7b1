/**
 * One field of a partial update: left as it is, or set to a value. "Set to null" is `setTo(null)` and only
 * type-checks where the field allows null, so it cannot be confused with "unchanged", nor written by leaving
 * a property out or passing `undefined`.
 */
export type FieldUpdate<T> = { readonly kind: 'unchanged' } | { readonly kind: 'set'; readonly value: T };

/** The field keeps its current value. */
export const UNCHANGED: FieldUpdate<never> = Object.freeze({ kind: 'unchanged' });

/** The field becomes `value`. */
export function setTo<T>(value: T): FieldUpdate<T> {
  return { kind: 'set', value };
}

/** The value the field has once `update` is applied to `current`. */
export function valueAfter<T>(update: FieldUpdate<T>, current: T): T {
  return update.kind === 'set' ? update.value : current;
}

/** Transforms a set value (validation, normalization); "unchanged" stays unchanged. */
export function mapFieldUpdate<T, U>(update: FieldUpdate<T>, transform: (value: T) => U): FieldUpdate<U> {
  return update.kind === 'set' ? setTo(transform(update.value)) : UNCHANGED;
}
