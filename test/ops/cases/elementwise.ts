import type { OpCase } from '../case.js';

export const cases: OpCase[] = [
  { op: 'Add', label: 'same shape', inputs: [[2, 3, 4, 5], [2, 3, 4, 5]] },
  { op: 'Add', label: 'broadcast channel bias', inputs: [[2, 3, 4, 5], [1, 3, 1, 1]] },
  { op: 'Add', label: 'broadcast both ways', inputs: [[4, 1, 5], [3, 1]] },
  { op: 'Add', label: 'scalar', inputs: [[7, 1, 1], []] },
  { op: 'Add', label: '1x1 spatial', inputs: [[1, 8, 1, 1], [1, 8, 1, 1]] },
  { op: 'Relu', label: 'odd size', inputs: [[3, 5, 7]] },
  { op: 'Relu', label: 'empty', inputs: [[0, 4]] },
  { op: 'Identity', label: '4d', inputs: [[2, 3, 4, 5]] },
];
