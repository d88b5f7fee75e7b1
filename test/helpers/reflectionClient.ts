import { createRequire } from 'node:module';

import { type Client, credentials, loadPackageDefinition, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const REFLECTION_PROTO = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');

interface FileDescriptor {
  name: string;
  dependency: string[];
}
/** protobufjs' descriptor extension (CommonJS, untyped for ESM consumers). */
const descriptor = require('protobufjs/ext/descriptor') as {
  FileDescriptorSet: { create(properties: { file: FileDescriptor[] }): unknown };
  FileDescriptorProto: { decode(bytes: Uint8Array): FileDescriptor };
};

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

type ReflectionStream = {
  write(request: Record<string, string>): void;
  end(): void;
  on(event: 'data', listener: (response: ReflectionResponse) => void): void;
  on(event: 'error', listener: (error: ServiceError) => void): void;
};

/**
 * A grpcurl-like reflection client: lists services, downloads the file descriptors that define a
 * symbol (and, transitively, every file they import), and builds a protobufjs root from nothing else.
 */
export class ReflectionClient {
  private readonly client: Client & { serverReflectionInfo(): ReflectionStream };
  private readonly files = new Map<string, Buffer>();

  constructor(address: string) {
    const definition = loadPackageDefinition(loadSync(REFLECTION_PROTO, { keepCase: false })) as unknown as {
      grpc: {
        reflection: { v1: { ServerReflection: new (address: string, creds: unknown) => ReflectionClient['client'] } };
      };
    };
    this.client = new definition.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  private ask(request: Record<string, string>): Promise<ReflectionResponse> {
    return new Promise((resolve, reject) => {
      const stream = this.client.serverReflectionInfo();
      stream.on('data', (response) => {
        resolve(response);
        stream.end();
      });
      stream.on('error', reject);
      stream.write(request);
    });
  }

  /** `grpcurl list`. */
  async listServices(): Promise<string[]> {
    const response = await this.ask({ listServices: '' });
    return (response.listServicesResponse?.service ?? []).map((service) => service.name).sort();
  }

  /**
   * The `file_descriptor_proto` bytes the server answers to one request (`{ fileContainingSymbol: … }`,
   * `{ fileByFilename: … }`), exactly as sent; rejects with the server's message on an error response.
   */
  async rawFiles(request: Record<string, string>): Promise<Buffer[]> {
    const response = await this.ask(request);
    if (response.errorResponse !== undefined)
      throw new Error(`reflection ${response.errorResponse.errorCode}: ${response.errorResponse.errorMessage}`);
    return response.fileDescriptorResponse?.fileDescriptorProto ?? [];
  }

  /** Downloads the files defining `symbol` plus every dependency; fails on any unresolvable import. */
  async loadSymbol(symbol: string): Promise<protobuf.Root> {
    const response = await this.ask({ fileContainingSymbol: symbol });
    if (response.errorResponse !== undefined) throw new Error(`reflection: ${response.errorResponse.errorMessage}`);
    await this.addFiles(response.fileDescriptorResponse?.fileDescriptorProto ?? []);
    const set = descriptor.FileDescriptorSet.create({
      file: [...this.files.values()].map((bytes) => descriptor.FileDescriptorProto.decode(bytes)),
    });
    // keepCase: field names as in the .proto (protobufjs would otherwise take each field's json_name).
    const root = (
      protobuf.Root as unknown as { fromDescriptor(set: unknown, options: { keepCase: boolean }): protobuf.Root }
    ).fromDescriptor(set, { keepCase: true });
    root.resolveAll();
    return root;
  }

  private async addFiles(encoded: Buffer[]): Promise<void> {
    for (const bytes of encoded) {
      const file = descriptor.FileDescriptorProto.decode(bytes);
      if (this.files.has(file.name)) continue;
      this.files.set(file.name, bytes);
      for (const dependency of file.dependency) {
        if (this.files.has(dependency)) continue;
        const response = await this.ask({ fileByFilename: dependency });
        if (response.errorResponse !== undefined) {
          throw new Error(
            `reflection: ${file.name} imports ${dependency}, which the server cannot provide: ${response.errorResponse.errorMessage}`,
          );
        }
        await this.addFiles(response.fileDescriptorResponse?.fileDescriptorProto ?? []);
      }
    }
  }
}
