// What scripts/validation-error.mjs and scripts/colour-predictability.mjs share: their command line
// (--model, --pairs, --size, and any other --name value) and the built library (dist/) they import.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `--name value` from the command line, or `fallback`. */
export function arg(name, fallback) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

/** The model card (default: the shipped one), the pairs folder and the size, checked. */
export function validationArgs() {
  const modelPath = path.resolve(arg('model', path.join(root, 'models', 'comic-light.json')));
  const pairsDir = path.resolve(arg('pairs', path.join(root, '..', 'shared', 'data', 'pairs', 'comic')));
  const size = Number(arg('size', 256));
  if (!Number.isInteger(size) || size < 8 || size % 8 !== 0) throw new Error(`--size must be a multiple of 8, got ${arg('size')}`);
  return { modelPath, pairsDir, size };
}

/** A module of the built library (dist/; needs `npm install`). */
export const dist = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);
