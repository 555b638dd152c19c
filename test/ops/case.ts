// One row of the op table (ggml's test-backend-ops is the model): an op, input shapes, attributes.
import type { Attrs } from '../../lib/graph/ir.js';

export interface InputSpec {
  shape: number[];
  /** Uniform range of the random values (default [-1, 1]). */
  range?: [number, number];
  /** Fixed values instead of random ones. */
  data?: number[];
  /** Feed as a constant rather than a graph input (e.g. weights). Default false. */
  constant?: boolean;
}

export interface OpCase {
  op: string;
  /** A short label to tell rows of the same op apart. */
  label: string;
  /** Input shapes (or specs); null for an omitted optional input. */
  inputs: (number[] | InputSpec | null)[];
  attrs?: Attrs;
  atol?: number;
  rtol?: number;
  /** A CPU-only op (an inference fusion the CUDA kernels refuse): on CUDA the row checks that the run is refused with this message. */
  cudaRefuses?: RegExp;
}
