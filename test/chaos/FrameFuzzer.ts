import { gzipSync } from 'node:zlib';

/** One fuzzed request message and how it was made (to reproduce a finding). */
export interface FuzzedFrame {
  readonly bytes: Uint8Array;
  readonly mutations: readonly string[];
}

type Mutation = (input: Uint8Array, fuzzer: FrameFuzzer, seeds: readonly Uint8Array[]) => Uint8Array;

const MAX_FRAME = 128 * 1024;
const INT32_EXTREMES = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 99, 8761, 169, 101];

/**
 * Makes protobuf request messages that are almost right and wholly wrong: valid encodings with bits
 * flipped, bytes inserted, deleted, duplicated or truncated, varints and length prefixes that lie, fields
 * of random numbers and wire types (the invalid 6 and 7 included), invalid UTF-8, deeply nested groups
 * and messages, seeds of other methods spliced in, pure noise and oversized messages. Deterministic for a
 * seed, so a failing run can be replayed with FUZZ_SEED.
 */
export class FrameFuzzer {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }

  /** A uniformly random integer in [0, below). mulberry32. */
  int(below: number): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }

  /** A small length, now and then a large one. */
  length(): number {
    const roll = this.int(100);
    return roll < 70 ? this.int(16) : roll < 95 ? this.int(512) : this.int(8192);
  }

  /** The next frame for a method whose valid encodings are `seeds` (`others`: other methods' seeds). */
  next(seeds: readonly Uint8Array[], others: readonly Uint8Array[]): FuzzedFrame {
    const roll = this.int(100);
    if (roll < 4) return { bytes: this.bytes(this.length()), mutations: ['noise'] };
    if (roll < 5) return { bytes: this.bytes(64 * 1024 + this.int(4096)), mutations: ['oversized noise'] };
    let bytes = this.pick(seeds);
    const mutations: string[] = [];
    // A third of the frames still decode, so they reach the handlers' validation rather than the decoder.
    const decodable = roll < 40;
    const count = 1 + this.int(4);
    for (let i = 0; i < count; i++) {
      const [name, mutate] = this.pick(decodable ? DECODABLE : MUTATIONS);
      bytes = mutate(bytes, this, others);
      // Repeats compound; beyond twice the size limit a frame only tests the limit again.
      if (bytes.length > MAX_FRAME) bytes = bytes.subarray(0, MAX_FRAME);
      mutations.push(name);
    }
    return { bytes, mutations };
  }
}

function splice(input: Uint8Array, at: number, remove: number, insert: Uint8Array = new Uint8Array()): Uint8Array {
  const out = new Uint8Array(input.length - remove + insert.length);
  out.set(input.subarray(0, at), 0);
  out.set(insert, at);
  out.set(input.subarray(at + remove), at + insert.length);
  return out;
}

function varint(value: bigint): Uint8Array {
  const out: number[] = [];
  let rest = BigInt.asUintN(64, value);
  do {
    const byte = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest > 0n ? byte | 0x80 : byte);
  } while (rest > 0n);
  return Uint8Array.from(out);
}

function tag(field: number, wireType: number): Uint8Array {
  return varint((BigInt(field) << 3n) | BigInt(wireType));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** A field number: mostly the small ones requests use, sometimes anything up to 2^29 - 1. */
function fieldNumber(fuzzer: FrameFuzzer): number {
  return fuzzer.int(4) === 0 ? 1 + fuzzer.int(2 ** 29 - 1) : 1 + fuzzer.int(12);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Text that decodes but that no field should accept as it is. */
function hostileText(fuzzer: FrameFuzzer): string {
  switch (fuzzer.int(8)) {
    case 0:
      return String.fromCodePoint(...Array.from({ length: fuzzer.length() }, () => fuzzer.int(0x110000 - 0x800)));
    case 1:
      return String.fromCharCode(...Array.from({ length: 1 + fuzzer.int(32) }, () => fuzzer.int(0x20)));
    case 2:
      return fuzzer.pick(["'; DROP TABLE api_keys; --", '%00', '../../etc/passwd', '${jndi:ldap://x}', '\u0000']);
    case 3:
      return `tt_${fuzzer.pick(['admin', 'readonly'])}_${Array.from({ length: 30 }, () => BASE62.charAt(fuzzer.int(62))).join('')}`;
    case 4:
      return 'a'.repeat(fuzzer.int(70_000));
    case 5:
      return fuzzer.pick(['tickets:read', 'tickets:write', 'name', 'scopes', '203.0.113.50', '::', '0.0.0.0/0', '']);
    case 6:
      return ` ${'\u3000'.repeat(fuzzer.int(8))}\u202E${fuzzer.int(1000)}`;
    default:
      return Buffer.from(fuzzer.bytes(fuzzer.length())).toString('base64url');
  }
}

/** One well-formed field: a known field number with hostile text or an extreme number, or an unknown one. */
function decodableField(fuzzer: FrameFuzzer): Uint8Array {
  const field = fuzzer.int(5) === 0 ? 8 + fuzzer.int(1000) : 1 + fuzzer.int(7);
  switch (fuzzer.int(4)) {
    case 0:
      return concat(tag(field, 0), varint(BigInt(fuzzer.pick(INT32_EXTREMES))));
    case 1:
      return concat(tag(field, 5), fuzzer.bytes(4));
    default: {
      const text = Buffer.from(hostileText(fuzzer), 'utf8');
      return concat(tag(field, 2), varint(BigInt(text.length)), text);
    }
  }
}

/** One field of a random wire type (0–7: 6 and 7 do not exist), with a payload that may lie. */
function randomField(fuzzer: FrameFuzzer): Uint8Array {
  const field = fieldNumber(fuzzer);
  const wireType = fuzzer.int(8);
  switch (wireType) {
    case 0:
      return concat(tag(field, 0), varint(BigInt(fuzzer.pick(INT32_EXTREMES))));
    case 1:
      return concat(tag(field, 1), fuzzer.bytes(8));
    case 2: {
      const payload = fuzzer.bytes(fuzzer.length());
      const declared = fuzzer.int(5) === 0 ? fuzzer.int(2 ** 31) : payload.length;
      return concat(tag(field, 2), varint(BigInt(declared)), payload);
    }
    case 5:
      return concat(tag(field, 5), fuzzer.bytes(4));
    default:
      return concat(tag(field, wireType), fuzzer.bytes(fuzzer.int(4)));
  }
}

/** Mutations after which the message still decodes (appended fields replace or add to known ones). */
const DECODABLE: readonly (readonly [string, Mutation])[] = [
  ['append a well-formed field', (input, fuzzer) => concat(input, decodableField(fuzzer))],
  [
    'append an actor of well-formed fields',
    (input, fuzzer) => {
      const actor = concat(...Array.from({ length: 1 + fuzzer.int(4) }, () => decodableField(fuzzer)));
      return concat(input, tag(1, 2), varint(BigInt(actor.length)), actor);
    },
  ],
  [
    'append many copies of a well-formed field',
    (input, fuzzer) => {
      const field = decodableField(fuzzer);
      return concat(
        input,
        ...Array.from({ length: 1 + fuzzer.int(Math.floor(60_000 / field.length) + 1) }, () => field),
      );
    },
  ],
];

const MUTATIONS: readonly (readonly [string, Mutation])[] = [
  ...DECODABLE,
  [
    'flip bit',
    (input, fuzzer) => {
      if (input.length === 0) return input;
      const out = Uint8Array.from(input);
      const at = fuzzer.int(out.length);
      out[at] = (out[at] ?? 0) ^ (1 << fuzzer.int(8));
      return out;
    },
  ],
  [
    'set byte',
    (input, fuzzer) => {
      if (input.length === 0) return input;
      const out = Uint8Array.from(input);
      out[fuzzer.int(out.length)] = fuzzer.pick([0x00, 0x7f, 0x80, 0xff, fuzzer.int(256)]);
      return out;
    },
  ],
  ['insert bytes', (input, fuzzer) => splice(input, fuzzer.int(input.length + 1), 0, fuzzer.bytes(1 + fuzzer.int(16)))],
  [
    'delete bytes',
    (input, fuzzer) => {
      const at = fuzzer.int(input.length + 1);
      return splice(input, at, Math.min(input.length - at, 1 + fuzzer.int(16)));
    },
  ],
  ['truncate', (input, fuzzer) => input.subarray(0, fuzzer.int(input.length + 1))],
  [
    'duplicate range',
    (input, fuzzer) => {
      const from = fuzzer.int(input.length + 1);
      const slice = input.subarray(from, from + 1 + fuzzer.int(32));
      return splice(input, fuzzer.int(input.length + 1), 0, slice);
    },
  ],
  ['append random field', (input, fuzzer) => concat(input, randomField(fuzzer))],
  ['prepend random field', (input, fuzzer) => concat(randomField(fuzzer), input)],
  [
    'overwrite with a lying varint',
    (input, fuzzer) => {
      const lie = varint(fuzzer.pick([2n ** 31n, 2n ** 32n - 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(fuzzer.int(4096))]));
      const at = fuzzer.int(input.length + 1);
      return splice(input, at, Math.min(lie.length, input.length - at), lie);
    },
  ],
  [
    'eleven-byte varint',
    (input, fuzzer) => splice(input, fuzzer.int(input.length + 1), 0, new Uint8Array(11).fill(0xff)),
  ],
  [
    'extreme number in a known field',
    (input, fuzzer) => concat(input, tag(1 + fuzzer.int(7), 0), varint(BigInt(fuzzer.pick(INT32_EXTREMES)))),
  ],
  [
    'invalid UTF-8 in a known field',
    (input, fuzzer) => {
      const garbage = fuzzer.pick([
        [0xff, 0xfe],
        [0xc0, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xe2, 0x82],
        [0xf4, 0x90, 0x80, 0x80],
      ]);
      const payload = Uint8Array.from([0x61, ...garbage, 0x62]);
      return concat(input, tag(1 + fuzzer.int(7), 2), varint(BigInt(payload.length)), payload);
    },
  ],
  [
    'nested groups',
    (input, fuzzer) => {
      const depth = 1 + fuzzer.int(5000);
      const open = tag(fieldNumber(fuzzer), 3);
      const parts: Uint8Array[] = [input];
      for (let i = 0; i < depth; i++) parts.push(open);
      return concat(...parts);
    },
  ],
  [
    'nested messages',
    (input, fuzzer) => {
      let out = input;
      const depth = 1 + fuzzer.int(200);
      for (let i = 0; i < depth; i++) out = concat(tag(1 + fuzzer.int(4), 2), varint(BigInt(out.length)), out);
      return out;
    },
  ],
  [
    'splice another method',
    (input, fuzzer, others) => {
      const other = fuzzer.pick(others);
      return concat(input.subarray(0, fuzzer.int(input.length + 1)), other.subarray(fuzzer.int(other.length + 1)));
    },
  ],
  ['repeat', (input, fuzzer) => concat(...Array.from({ length: 2 + fuzzer.int(50) }, () => input))],
  ['gzip as if it were protobuf', (input) => Uint8Array.from(gzipSync(input))],
];
