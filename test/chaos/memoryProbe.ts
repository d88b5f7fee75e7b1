/**
 * Preloaded into the service process by the wire-fuzz test (`node --expose-gc --import tsx --import
 * ./test/chaos/memoryProbe.ts src/main.ts`): answers `{ type: 'memory', id }` on the IPC channel with
 * `process.memoryUsage()` measured right after two full garbage collections, so figures compare across
 * the run instead of following the collector's mood.
 */
process.on('message', (message: unknown) => {
  if (typeof message !== 'object' || message === null) return;
  const { type, id } = message as { type?: unknown; id?: unknown };
  if (type !== 'memory') return;
  gc?.();
  gc?.();
  process.send?.({ type: 'memory', id, usage: process.memoryUsage() });
});
