import { create, createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import type { DescFile, DescMessage, DescService, FileRegistry } from '@bufbuild/protobuf';
import { nestedTypes } from '@bufbuild/protobuf/reflect';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

/** `FileDescriptorSet.file` is field 1. */
const FILE_FIELD = 1;

/** One file of a descriptor set: the bytes buf wrote, untouched, and what they declare. */
interface IndexedFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly desc: DescFile;
}

function withoutLeadingDot(name: string): string {
  return name.startsWith('.') ? name.slice(1) : name;
}

/**
 * Splits serialized `FileDescriptorSet`s into the exact bytes of each `FileDescriptorProto`, without
 * decoding and re-encoding them (re-encoding is what makes other reflection servers lossy).
 */
function splitDescriptorSet(set: Uint8Array, source: string): Uint8Array[] {
  const reader = new BinaryReader(set);
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === FILE_FIELD && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType);
  }
  if (files.length === 0) throw new Error(`descriptor set ${source} holds no files`);
  return files;
}

/**
 * Everything server reflection answers, indexed once at start from the descriptor sets buf produced:
 * files by name, the file declaring each fully-qualified symbol, extensions by extendee and number, and
 * the transitive dependencies of each file. Building it validates the sets the way Go's protobuf
 * runtime does (every import present, every type name resolvable), so a broken set fails the start,
 * not the first grpcurl call.
 */
export class DescriptorIndex {
  private readonly files = new Map<string, IndexedFile>();
  private readonly symbols = new Map<string, IndexedFile>();
  private readonly extensions = new Map<string, Map<number, IndexedFile>>();
  private readonly serviceNames = new Set<string>();
  private readonly messageNames = new Set<string>();
  private readonly registry: FileRegistry;

  private constructor(sets: readonly { readonly source: string; readonly bytes: Uint8Array }[]) {
    const raw = new Map<string, { bytes: Uint8Array; proto: FileDescriptorProto }>();
    for (const set of sets) {
      for (const bytes of splitDescriptorSet(set.bytes, set.source)) {
        const proto = fromBinary(FileDescriptorProtoSchema, bytes);
        const known = raw.get(proto.name);
        if (known === undefined) raw.set(proto.name, { bytes, proto });
        else if (Buffer.compare(known.bytes, bytes) !== 0)
          throw new Error(`descriptor sets disagree about ${proto.name} (${set.source} holds another version of it)`);
      }
    }
    this.registry = createFileRegistry(
      create(FileDescriptorSetSchema, { file: [...raw.values()].map((file) => file.proto) }),
    );
    for (const [name, { bytes }] of raw) this.addFile(name, bytes);
  }

  /** Builds the index from serialized `FileDescriptorSet`s (imports included, as `buf build` writes them). */
  static fromDescriptorSets(sets: readonly { readonly source: string; readonly bytes: Uint8Array }[]): DescriptorIndex {
    return new DescriptorIndex(sets);
  }

  private addFile(name: string, bytes: Uint8Array): void {
    const desc = this.registry.getFile(name);
    if (desc === undefined) throw new Error(`descriptor ${name} did not register`);
    const file: IndexedFile = { name, bytes, desc };
    this.files.set(name, file);
    for (const type of nestedTypes(desc)) {
      switch (type.kind) {
        case 'message':
          this.addSymbol(type.typeName, file);
          this.messageNames.add(type.typeName);
          this.addMessageMembers(type, file);
          break;
        case 'enum': {
          this.addSymbol(type.typeName, file);
          // Enum values are siblings of their enum (C++ scoping), as protobuf's own registries name them.
          const scope = type.typeName.slice(0, Math.max(0, type.typeName.lastIndexOf('.')));
          for (const value of type.values) this.addSymbol(scope === '' ? value.name : `${scope}.${value.name}`, file);
          break;
        }
        case 'extension': {
          this.addSymbol(type.typeName, file);
          const byNumber = this.extensions.get(type.extendee.typeName) ?? new Map<number, IndexedFile>();
          byNumber.set(type.number, file);
          this.extensions.set(type.extendee.typeName, byNumber);
          break;
        }
        case 'service':
          this.addService(type, file);
          break;
      }
    }
  }

  /**
   * Fields and oneofs by the names the `.proto` declares, read from the descriptor itself: protobuf-es'
   * views leave out synthetic oneofs (`_expires_in_hours`) and map entry messages (`StatusesEntry`),
   * which Go's reflection server resolves like any other symbol.
   */
  private addMessageMembers(message: DescMessage, file: IndexedFile): void {
    const { proto, typeName } = message;
    for (const field of proto.field) this.addSymbol(`${typeName}.${field.name}`, file);
    for (const oneof of proto.oneofDecl) this.addSymbol(`${typeName}.${oneof.name}`, file);
    for (const nested of proto.nestedType) {
      if (nested.options?.mapEntry !== true) continue;
      const entry = `${typeName}.${nested.name}`;
      this.addSymbol(entry, file);
      this.messageNames.add(entry);
      for (const field of nested.field) this.addSymbol(`${entry}.${field.name}`, file);
    }
  }

  private addService(service: DescService, file: IndexedFile): void {
    this.addSymbol(service.typeName, file);
    this.serviceNames.add(service.typeName);
    for (const method of service.methods) this.addSymbol(`${service.typeName}.${method.name}`, file);
  }

  private addSymbol(name: string, file: IndexedFile): void {
    const known = this.symbols.get(name);
    if (known !== undefined && known !== file)
      throw new Error(`symbol ${name} is declared by both ${known.name} and ${file.name}`);
    this.symbols.set(name, file);
  }

  /** Whether a service of this fully-qualified name is described. */
  hasService(name: string): boolean {
    return this.serviceNames.has(name);
  }

  /** The descriptor of a message type, for a codec that must follow the same schema (reflection's own). */
  message(typeName: string): DescMessage {
    const message = this.registry.getMessage(typeName);
    if (message === undefined) throw new Error(`message type ${typeName} is not in the descriptor sets`);
    return message;
  }

  /**
   * The file named `name` followed by its transitive dependencies (see `withDependencies`), as exact
   * bytes; `undefined` when no such file is known.
   */
  fileByName(name: string, alreadySent?: Set<string>): Uint8Array[] | undefined {
    const file = this.files.get(name);
    return file === undefined ? undefined : this.withDependencies(file, alreadySent);
  }

  /** The file declaring a fully-qualified symbol (a leading dot is accepted) and its dependencies. */
  fileContainingSymbol(symbol: string, alreadySent?: Set<string>): Uint8Array[] | undefined {
    const file = this.symbols.get(withoutLeadingDot(symbol));
    return file === undefined ? undefined : this.withDependencies(file, alreadySent);
  }

  /** The file declaring extension `number` of message `extendee`, and its dependencies. */
  fileContainingExtension(extendee: string, number: number, alreadySent?: Set<string>): Uint8Array[] | undefined {
    const file = this.extensions.get(withoutLeadingDot(extendee))?.get(number);
    return file === undefined ? undefined : this.withDependencies(file, alreadySent);
  }

  /** Field numbers of every known extension of `messageType`; `undefined` when the type is unknown. */
  extensionNumbersOf(messageType: string): number[] | undefined {
    const name = withoutLeadingDot(messageType);
    if (!this.messageNames.has(name)) return undefined;
    return [...(this.extensions.get(name)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * `root` and then its imports, transitively, each once. With `alreadySent` (one set per reflection
   * stream, as Go's server keeps), imports the stream has already received are left out and the set is
   * updated; `root` itself is always included, because it is what was asked for.
   */
  private withDependencies(root: IndexedFile, alreadySent = new Set<string>()): Uint8Array[] {
    const ordered: Uint8Array[] = [];
    const visited = new Set<string>();
    const pending: DescFile[] = [root.desc];
    for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
      const name = next.proto.name;
      if (visited.has(name)) continue;
      visited.add(name);
      const file = this.files.get(name);
      if (file !== undefined && (file === root || !alreadySent.has(name))) ordered.push(file.bytes);
      alreadySent.add(name);
      pending.push(...next.dependencies);
    }
    return ordered;
  }
}
