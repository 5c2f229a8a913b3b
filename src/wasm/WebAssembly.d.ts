/**
 * The part of the WebAssembly JS API the WASM backend uses. The project's `lib` has no DOM (where
 * TypeScript declares these), so they are declared here; Node provides them at run time.
 */
declare namespace WebAssembly {
  interface MemoryDescriptor {
    readonly initial: number
    readonly maximum?: number
    readonly shared?: boolean
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor)
    readonly buffer: ArrayBuffer | SharedArrayBuffer
    grow(delta: number): number
  }
  class Module {
    constructor(bytes: Uint8Array)
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, unknown>>)
    readonly exports: Record<string, unknown>
  }
  function validate(bytes: Uint8Array): boolean
}
