import type { Spec } from 'envalid';

/** An envalid spec that also carries its README row: the meaning (`desc`) and the default as shown there. */
export type DocumentedSpec<S> = S & {
  /** The README's "default" column (the parsed default is not always printable, e.g. a file not read). */
  readonly shownDefault: string;
};

/**
 * Documents a variable once, next to its schema and default: `spec.desc` is the README's "meaning" column
 * and `shownDefault` its "default" column. test/unit/config.readme.test.ts checks the README against them.
 */
export function documented<S extends Spec<never> | Spec<unknown>>(spec: S, shownDefault: string): DocumentedSpec<S> {
  return { ...spec, shownDefault };
}
