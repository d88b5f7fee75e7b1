import type { CliContext } from '../CliContext.js';

/** Prints a response as indented JSON (the generated `toJSON`: protobuf JSON mapping, camelCase). */
export function printJson(context: CliContext, value: unknown): void {
  context.out(JSON.stringify(value, null, 2));
}
