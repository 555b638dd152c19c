// Op schemas of this family register here (see lib/ops/registry.ts).
import { registerOp } from './registry.js';
void registerOp;
