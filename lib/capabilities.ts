import { loadNative } from './native.js';

export interface Capabilities {
  version: string;
  /** SIMD path the kernels use (detected, optionally lowered by FACESTYLE_SIMD). */
  simd: 'scalar' | 'avx2' | 'avx512';
  /** What the CPU supports. */
  simdDetected: 'scalar' | 'avx2' | 'avx512';
  threads: number;
  openmp: boolean;
  cuda: { compiled: boolean; runtimeVersion: string; devices: { name: string; totalMemory: number; freeMemory: number; computeCapability: number }[]; error: string };
  /** True when CUDA is compiled in and a device is present. */
  gpu: boolean;
  /** Which ops have a kernel on which device. */
  ops: { name: string; cpu: boolean; cuda: boolean }[];
}

/** What this build and machine can do: version, SIMD level, threads, CUDA compiled in, GPU present. */
export function capabilities(): Capabilities {
  const c = loadNative().capabilities();
  return { ...c, gpu: c.cuda.compiled && c.cuda.devices.length > 0 };
}
