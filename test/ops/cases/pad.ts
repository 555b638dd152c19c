import type { OpCase } from '../case.js';

export const cases: OpCase[] = [];
for (const mode of ['constant', 'reflect', 'edge']) {
  const value: Record<string, number> = mode === 'constant' ? { value: 0.75 } : {};
  cases.push(
    { op: 'Pad', label: `${mode} spatial symmetric`, inputs: [[1, 2, 4, 5]], attrs: { mode, pads: [0, 0, 2, 1, 0, 0, 2, 1], ...value } },
    { op: 'Pad', label: `${mode} asymmetric, odd sizes`, inputs: [[2, 3, 5, 3]], attrs: { mode, pads: [0, 0, 1, 2, 0, 0, 3, 0], ...value } },
    { op: 'Pad', label: `${mode} channel and batch axes`, inputs: [[2, 3, 2, 3]], attrs: { mode, pads: [1, 1, 0, 0, 0, 1, 1, 0], ...value } },
    { op: 'Pad', label: `${mode} negative pads crop first`, inputs: [[1, 2, 6, 7]], attrs: { mode, pads: [0, 0, -2, 2, 0, 0, 1, -3], ...value } },
    { op: 'Pad', label: `${mode} rank 2`, inputs: [[4, 5]], attrs: { mode, pads: [2, 3, 1, 0], ...value } },
    { op: 'Pad', label: `${mode} zero pads`, inputs: [[2, 3, 4]], attrs: { mode, pads: [0, 0, 0, 0, 0, 0], ...value } },
    // NHWC (the last axis not padded: rows of W * C entries), also cropping W, and large enough to split.
    { op: 'Pad', label: `${mode} NHWC spatial`, inputs: [[1, 6, 5, 3]], attrs: { mode, pads: [0, 2, 3, 0, 0, 1, 2, 0], ...value } },
    { op: 'Pad', label: `${mode} NHWC crop W, pad H`, inputs: [[2, 4, 6, 2]], attrs: { mode, pads: [0, 1, -1, 0, 0, 2, 1, 0], ...value } },
    { op: 'Pad', label: `${mode} NHWC large`, inputs: [[1, 150, 150, 3]], attrs: { mode, pads: [0, 3, 3, 0, 0, 3, 3, 0], ...value } },
  );
}
cases.push(
  { op: 'Pad', label: 'edge 1x1 spatial', inputs: [[1, 3, 1, 1]], attrs: { mode: 'edge', pads: [0, 0, 2, 3, 0, 0, 1, 2] } },
  { op: 'Pad', label: 'constant default value 0', inputs: [[1, 1, 3, 3]], attrs: { pads: [0, 0, 1, 1, 0, 0, 1, 1] } },
  { op: 'Pad', label: 'reflect after cropping the other side', inputs: [[1, 1, 3, 3]], attrs: { mode: 'reflect', pads: [0, 0, 2, -1, 0, 0, 2, 1] } },
  { op: 'Pad', label: 'edge crop and pad on both axes', inputs: [[1, 1, 5, 5]], attrs: { mode: 'edge', pads: [0, 0, -1, 3, 0, 0, 2, -2] } },
  { op: 'Pad', label: 'constant crop only', inputs: [[2, 3, 5, 5]], attrs: { pads: [0, -1, -1, 0, -1, 0, -2, -1] } },
);
