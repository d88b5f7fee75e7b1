// The part of bloomfilter@1 (Jason Davies, ESM, no types of its own) this service uses.
declare module 'bloomfilter' {
  export class BloomFilter {
    /** `bits` rounded up to a multiple of 32, `hashes` locations per value. */
    constructor(bits: number, hashes: number);
    readonly m: number;
    readonly k: number;
    readonly buckets: Uint32Array;
    add(value: string): void;
    test(value: string): boolean;
  }
}
