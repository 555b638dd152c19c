// Integration tests read ../shared/data (real faces, models, video) beside the repository. When it
// is missing they FAIL with a message, unless FACESTYLE_SKIP_SHARED=1 is set: then they skip
// visibly. FACESTYLE_SHARED_DATA points elsewhere if the data lives in another place.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared data folder (absolute). */
export const sharedRoot = path.resolve(process.env.FACESTYLE_SHARED_DATA ?? path.join(repoRoot, '..', 'shared', 'data'));

/** True when the shared data folder exists. */
export const sharedAvailable = (): boolean => existsSync(sharedRoot);

/** Absolute path of a file under ../shared/data (e.g. 'models/detection/yunet_n_320_320.onnx'). */
export function sharedData(relPath: string): string {
  return path.join(sharedRoot, relPath);
}

const missingMessage = () =>
  `The shared test data folder ${sharedRoot} is missing. Put the data there (or set FACESTYLE_SHARED_DATA), ` +
  `or set FACESTYLE_SKIP_SHARED=1 to skip the integration tests that need it.`;

/**
 * describe() for tests that need ../shared/data: runs them when it is there; otherwise one failing
 * test says what is missing, or (FACESTYLE_SKIP_SHARED=1) the suite is skipped with the reason in its name.
 */
export function describeShared(name: string, fn: () => void): void {
  if (sharedAvailable()) {
    describe(name, fn);
    return;
  }
  if (process.env.FACESTYLE_SKIP_SHARED === '1') {
    describe.skip(`${name} (skipped: ${sharedRoot} missing, FACESTYLE_SKIP_SHARED=1)`, fn);
    return;
  }
  describe(name, () => {
    it('needs the shared test data', () => {
      throw new Error(missingMessage());
    });
  });
}
