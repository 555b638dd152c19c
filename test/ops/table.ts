// All op-table rows, one file per family (the same families as lib/ops and native/cpu).
import type { OpCase } from './case.js';
import { cases as elementwise } from './cases/elementwise.js';

export const allCases: OpCase[] = [...elementwise];
