// The models shipped in the package's models/ folder, by name: `comic-light` is models/comic-light.json.
// Every command and function that takes a facestyle model takes such a name too (stylize, video, info,
// check, export, loadGenerator), unless a file or folder of that name is where the path points.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { FacestyleError } from './errors.js';
import { packageRoot } from './native.js';

/** Names of the models shipped in the package's models/ folder (their cards' base names, in file-name order). */
export function shippedModelNames(): string[] {
  try {
    return readdirSync(path.join(packageRoot, 'models')).filter((f) => f.endsWith('.json')).sort().map((f) => f.slice(0, -5));
  } catch {
    return [];
  }
}

/** The card of a shipped model given by name ('comic-light'), or null when `name` is not one. */
export function shippedModelPath(name: string): string | null {
  return /^[\w.-]+$/.test(name) && shippedModelNames().includes(name) ? path.join(packageRoot, 'models', `${name}.json`) : null;
}

/**
 * `source` itself when something exists at that path, else the card of the shipped model of that name, else
 * `source` (the caller's own "not found" names it). A bare name that is neither (no folder, no extension:
 * 'comic-lite') is ERR_FACESTYLE_NOT_FOUND listing the shipped names, as stylize's --model says it.
 */
export function resolveModelName(source: string): string {
  if (existsSync(source)) return source;
  const shipped = shippedModelPath(source);
  if (shipped) return shipped;
  if (/^[\w-]+$/.test(source)) {
    const names = shippedModelNames();
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Model not found: '${source}' is no file or folder here${names.length ? `, nor a shipped model (shipped models, usable by name: ${names.join(', ')})` : ''}`);
  }
  return source;
}
