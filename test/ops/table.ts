// All op-table rows: every file in ./cases exports `cases` (one file per op family, as in lib/ops).
import type { OpCase } from './case.js';

const modules = import.meta.glob<{ cases: OpCase[] }>('./cases/*.ts', { eager: true });

export const allCases: OpCase[] = Object.keys(modules)
  .sort()
  .flatMap((k) => modules[k].cases);
