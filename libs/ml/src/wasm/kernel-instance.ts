import { assembleModule, type KernelFunction } from "./assemble.js";

/** A kernel module's memory, as far as used here. */
export interface KernelMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The WebAssembly API as far as used here (its types come with the DOM library, which this package does not load). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

/** Instantiates a module of the functions with one memory; null where WebAssembly (with SIMD) is missing. */
export function instantiateKernel<T extends { memory: KernelMemory }>(functions: KernelFunction[]): T | null {
  try {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    return wasm ? (new wasm.Instance(new wasm.Module(assembleModule(1, functions))).exports as T) : null;
  } catch {
    return null;
  }
}

/** The memory as f64, at least `bytes` long (grown if need be, which leaves earlier views stale). */
export function kernelMemory(memory: KernelMemory, bytes: number): Float64Array {
  const have = memory.buffer.byteLength;
  if (have < bytes) memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float64Array(memory.buffer);
}
