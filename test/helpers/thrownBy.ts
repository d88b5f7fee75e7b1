import { expect } from 'vitest';

/** The error of class `type` that `run` throws (fails the test if it throws nothing or something else). */
export function thrownBy<E extends Error>(run: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as E;
  }
  throw new Error('expected a rejection');
}
