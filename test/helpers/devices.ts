import { capabilities } from '../../lib/capabilities.js';
import type { DeviceName } from '../../lib/runtime/session.js';

/** Devices present on this machine; CUDA is listed only when compiled in and a GPU is found. */
export function devicesPresent(): DeviceName[] {
  return capabilities().gpu ? ['cpu', 'cuda'] : ['cpu'];
}

/** Why GPU tests are skipped here, or null when they run. */
export function gpuSkipReason(): string | null {
  const c = capabilities();
  if (!c.cuda.compiled) return 'CUDA was not compiled into this build';
  if (c.cuda.devices.length === 0) return `no CUDA device present (${c.cuda.error || 'none found'})`;
  return null;
}
