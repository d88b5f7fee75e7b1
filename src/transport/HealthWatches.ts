import type { Server, ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';

/**
 * The open grpc.health.v1.Health/Watch streams. A Watch never ends on its own, and a graceful stop
 * (`tryShutdown`) waits for every open call: one watching client (a load balancer, a grpc-js channel with
 * health checking) would hold the stop until its in-flight calls are cancelled. The stop ends them once
 * they were told NOT_SERVING (`endAll`), so they end cleanly, with OK.
 */
export class HealthWatches {
  private readonly open = new Set<ServerWritableStream<unknown, unknown>>();

  /** What grpc-health-check's `addToServer` takes: `server`, with every Watch call tracked here. */
  tracking(server: Server): Pick<Server, 'addService'> {
    return {
      addService: (service, implementation: UntypedServiceImplementation) => {
        const watch = implementation.watch as ((call: ServerWritableStream<unknown, unknown>) => void) | undefined;
        if (watch === undefined) {
          server.addService(service, implementation);
          return;
        }
        server.addService(service, {
          ...implementation,
          watch: (call: ServerWritableStream<unknown, unknown>) => {
            this.open.add(call);
            const forget = (): void => void this.open.delete(call);
            call.on('cancelled', forget);
            call.on('finish', forget);
            watch(call);
          },
        });
      },
    };
  }

  /** Ends every open Watch with OK (each has been sent the current status). */
  endAll(): void {
    for (const call of this.open) call.end();
    this.open.clear();
  }
}
