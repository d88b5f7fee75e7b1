import type { Component } from './Component.js';

/**
 * `component` with its stop bounded by the shutdown budget: for a part that does not know the budget
 * (the change feed waits for a poll in progress, which a dead database can hold for long).
 */
export function boundedStop(component: { start(): unknown; stop(): Promise<void> }): Component {
  return {
    start: () => component.start(),
    stop: async (deadline) => {
      await deadline.bound(component.stop());
    },
  };
}
