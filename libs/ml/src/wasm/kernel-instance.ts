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
  return kernelFactory<T>(functions)?.() ?? null;
}

/**
 * Compiles the functions once and makes instances of them, each with a memory of its own
 * that goes with it (a module's memory never shrinks, so a kernel holding a whole X is
 * made per fit); null where WebAssembly (with SIMD) is missing.
 */
export function kernelFactory<T extends { memory: KernelMemory }>(functions: KernelFunction[]): (() => T) | null {
  try {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    if (!wasm) return null;
    const module = new wasm.Module(assembleModule(1, functions));
    new wasm.Instance(module); // fails here, not later, where SIMD is missing
    return () => new wasm.Instance(module).exports as T;
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
