import type { Component } from './Component.js';
import { StopDeadline } from './StopDeadline.js';

/**
 * Runs components in a declared order: `start` one after the other, `stop` in the reverse order, all
 * sharing one StopDeadline. `null` entries (a part this configuration does without) are skipped, so an
 * optional component is still one line of the assembly.
 */
export class Lifecycle {
  private readonly components: readonly Component[];
  private started: Component[] = [];

  constructor(components: readonly (Component | null)[]) {
    this.components = components.filter((component): component is Component => component !== null);
  }

  /**
   * Starts every component in order. If one fails, those already started are stopped again (in reverse,
   * within `rollbackTimeoutMs`) and the failure is thrown.
   */
  async start(rollbackTimeoutMs: number): Promise<void> {
    for (const component of this.components) {
      try {
        await component.start();
      } catch (error) {
        await this.stop(StopDeadline.after(rollbackTimeoutMs));
        throw error;
      }
      this.started.push(component);
    }
  }

  /**
   * Stops what was started, newest first, each after the previous one finished. Every component is asked
   * to stop even if an earlier one failed to; the first failure is thrown at the end.
   */
  async stop(deadline: StopDeadline): Promise<void> {
    const stopping = this.started.reverse();
    this.started = [];
    const failures: unknown[] = [];
    for (const component of stopping) {
      try {
        await component.stop(deadline);
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}
