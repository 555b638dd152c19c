// loadGenerator: a trained generator (safetensors + model card) as a graph for any size
// divisible by 8. Accepts the card (.json), the weights (.safetensors, card next to it with the
// same base name), a training checkpoint (.safetensors: its EMA weights), a run folder (generator.safetensors
// + model.json, or a stopped run's checkpoint) or a card object.
// A card names its weights in `weights`; one without it (a run folder's model.json written before
// cards named it) uses <card base>.safetensors, else generator.safetensors beside it.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FacestyleError, argumentError, formatError, readError } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import type { Tensor } from '../graph/tensor.js';
import * as is from '../is.js';
import { resolveModelName } from '../models.js';
import { readSafetensors, readSafetensorsMetadata } from '../train/safetensors.js';
import { type GeneratorConfig, generatorConfig, generatorGraph } from './generator.js';

export interface GeneratorCard {
  name?: string;
  format: 'facestyle-generator';
  generator: GeneratorConfig;
  /**
   * Weights file, relative to the card (default: the card's base name + .safetensors, or when that is
   * missing, generator.safetensors beside the card as in a run folder).
   */
  weights?: string;
  [key: string]: unknown;
}

export interface LoadGeneratorOptions {
  /**
   * Input size, divisible by 8 (default 256): a side, or [width, height] as imageToTensor's size and
   * modelInfo / `--size WxH` take it (before 2026-11-25 a pair here was [height, width]).
   */
  size?: number | [number, number];
  batch?: number;
}

const isFile = (p: string) => fs.stat(p).then((s) => s.isFile(), () => false);
const isDir = (p: string) => fs.stat(p).then((s) => s.isDirectory(), () => false);

async function readCard(file: string): Promise<GeneratorCard> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw readError(e, `Model card '${file}'`) ?? formatError(`Cannot read the model card '${file}': ${(e as Error).message}`, e);
  }
  let card: unknown;
  try {
    card = JSON.parse(text);
  } catch (e) {
    // (The parser's message quotes the text: for a binary file given as a card that is noise.)
    const binary = /[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text.slice(0, 64));
    throw formatError(`Model card '${file}' is not JSON${binary ? ' (a binary file: a model is a card .json, weights .safetensors, a run folder or an .onnx file)' : `: ${(e as Error).message}`}`);
  }
  if (!is.object(card)) throw formatError(`Model card '${file}' is not a JSON object (a card written by facestyle train)`);
  const weights = (card as GeneratorCard).weights;
  if (weights !== undefined && (typeof weights !== 'string' || weights === '')) throw formatError(`Model card '${file}' has a bad "weights" entry ${JSON.stringify(weights)}: expected the weights file's name`);
  return card as GeneratorCard;
}

/**
 * Resolves the card and weights files of a model given as a path: a run folder (its model.json, or
 * for a run that was stopped before writing one, its checkpoint), a model card .json, generator weights
 * .safetensors (card beside it or generator metadata inside), or a training checkpoint .safetensors
 * (its EMA weights, the generator that training samples and exports). `prefix`: the weights' tensor
 * names start with it ('ema.' in a checkpoint).
 */
export async function locateGenerator(p: string): Promise<{ card: GeneratorCard; weights: string; cardFile: string; prefix?: string }> {
  p = resolveModelName(p); // a shipped model by name ('comic-light')
  if (await isDir(p)) {
    if (await isFile(path.join(p, 'model.json'))) {
      const card = await readCard(path.join(p, 'model.json'));
      return { card, weights: path.join(p, card.weights ?? 'generator.safetensors'), cardFile: path.join(p, 'model.json') };
    }
    if (await isFile(path.join(p, 'checkpoint.safetensors'))) return locateGenerator(path.join(p, 'checkpoint.safetensors'));
    throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `No model.json (nor checkpoint.safetensors) in '${p}'`);
  }
  if (p.endsWith('.safetensors')) {
    const cardFile = p.replace(/\.safetensors$/, '.json');
    const metadata = await readSafetensorsMetadata(p); // the header only: loadGenerator reads the tensors
    if (metadata.format === 'facestyle-train-checkpoint') {
      const config = parseMetadataJson(metadata.config, p, 'config');
      return { card: { format: 'facestyle-generator', generator: config?.generator }, weights: p, cardFile: p, prefix: 'ema.' };
    }
    if (await isFile(cardFile)) return { card: await readCard(cardFile), weights: p, cardFile };
    if (metadata.format === 'facestyle-generator' && metadata.generator) return { card: { format: 'facestyle-generator', generator: parseMetadataJson(metadata.generator, p, 'generator') }, weights: p, cardFile: p };
    throw formatError(`'${p}' has no model card next to it (${cardFile}) and no generator metadata`);
  }
  const card = await readCard(p);
  if (card.weights !== undefined) return { card, weights: path.resolve(path.dirname(p), card.weights), cardFile: p };
  const own = path.resolve(path.dirname(p), `${path.basename(p, '.json')}.safetensors`);
  const run = path.resolve(path.dirname(p), 'generator.safetensors');
  return { card, weights: !(await isFile(own)) && (await isFile(run)) ? run : own, cardFile: p };
}

/**
 * The generator graph with its trained weights: input 'image' [N,3,H,W] RGB in [-1,1], output
 * 'stylized' of the same shape and range.
 */
export async function loadGenerator(model: string | (GeneratorCard & { weightsPath: string }), options: LoadGeneratorOptions = {}): Promise<{ graph: Graph; card: GeneratorCard }> {
  is.knownOptions('loadGenerator', options, is.optionKeys<LoadGeneratorOptions>()(['size', 'batch']));
  let card: GeneratorCard, weights: string;
  let cardFile: string | undefined;
  let prefix: string | undefined;
  if (typeof model === 'string') ({ card, weights, cardFile, prefix } = await locateGenerator(model));
  else if (model && typeof model === 'object' && typeof model.weightsPath === 'string') [card, weights] = [model, model.weightsPath];
  else throw argumentError('Expected a model path (card .json, .safetensors or run folder) or a card with weightsPath');
  if (card?.format !== 'facestyle-generator') {
    const named = cardFile !== undefined ? `'${cardFile}'` : `for '${weights}'`;
    throw formatError(`Model card ${named} has ${card?.format === undefined ? 'no format field' : `format ${JSON.stringify(card.format)}`}: expected "format": "facestyle-generator" (a card written by facestyle train)`);
  }
  const size = options.size ?? [256, 256];
  const [w, h] = typeof size === 'number' ? [size, size] : Array.isArray(size) && size.length === 2 ? size : [NaN, NaN];
  if (![w, h].every((v) => Number.isInteger(v) && v >= 8 && v % 8 === 0))
    throw argumentError(`Expected size to be a whole number >= 8 divisible by 8, or [width, height] of such, but received ${JSON.stringify(options.size)}`);
  const batch = options.batch ?? 1;
  if (!(Number.isInteger(batch) && batch >= 1)) throw argumentError(`Expected batch to be a whole number >= 1 but received ${JSON.stringify(batch)}`);
  const config = cardFile === undefined ? generatorConfig(card.generator) : configFromFile(card.generator, prefix ? `Checkpoint '${cardFile}'` : `Model card '${cardFile}'`);
  // The file first: what it holds bounds what is allocated. The graph's parameters are names and shapes
  // until they are checked against it (a card naming a huge architecture fails here, not out of memory).
  const { tensors } = await readSafetensors(weights);
  const graph = generatorGraph(config, { height: h, width: w, batch, initParams: false });
  if (prefix) assignWeights(graph, tensors, `The EMA weights of checkpoint '${weights}'`, { prefix, model: 'its config' });
  else assignWeights(graph, tensors, `Weights '${weights}'`, { model: "the card's architecture" });
  return { graph, card };
}

/**
 * Checks weights from a file against a generator's parameters (`wanted`: name and shape of each): every
 * one there as `prefix` + name with its shape, and no generator tensor ('g.*' under the prefix) that the
 * model lacks, so that weights of another architecture never load silently (ERR_FACESTYLE_FORMAT); every
 * value finite (ERR_FACESTYLE_NUMERIC naming the tensor). `source` starts the messages ("Weights 'file'"),
 * `model` names what they should fit ("this generator"), `hint` ends the format errors.
 */
export function checkWeightsFit(
  weights: Map<string, Tensor>,
  wanted: readonly { name: string; shape: readonly number[] }[],
  source: string,
  options: { prefix?: string; model?: string; hint?: string } = {},
): void {
  const { prefix = '', model = 'this generator', hint = '' } = options;
  const mine = new Set(wanted.map((w) => prefix + w.name));
  const unused = [...weights.keys()].filter((n) => n.startsWith(`${prefix}g.`) && !mine.has(n));
  if (unused.length) throw formatError(`${source} do not fit ${model}: it has no ${unused.slice(0, 4).map((n) => `'${n}'`).join(', ')}${unused.length > 4 ? ` (${unused.length} tensors in all)` : ''}${hint}`);
  for (const { name, shape } of wanted) {
    const t = weights.get(prefix + name);
    if (!t) throw formatError(`${source} do not fit ${model}: no tensor '${prefix + name}'${hint}`);
    if (t.shape.join(',') !== shape.join(',')) throw formatError(`${source} do not fit ${model}: '${prefix + name}' is [${t.shape}] but it needs [${shape}]${hint}`);
  }
  for (const { name } of wanted) checkFiniteWeights(weights.get(prefix + name)!.data, prefix + name, source);
}

/** checkWeightsFit on the graph's parameters, then gives each its tensor's values. */
export function assignWeights(graph: Graph, weights: Map<string, Tensor>, source: string, options: { prefix?: string; model?: string } = {}): void {
  const params = graph.values.filter((v) => v.kind === 'param');
  checkWeightsFit(weights, params, source, options);
  for (const v of params) v.data = weights.get((options.prefix ?? '') + v.name)!.data;
}

/**
 * generatorConfig of a config read from a file: a bad one is the file's fault, ERR_FACESTYLE_FORMAT naming
 * it (`source`: "Model card 'x'"), not an argument the caller typed.
 */
export function configFromFile(generator: unknown, source: string): GeneratorConfig {
  try {
    return generatorConfig(generator as Partial<GeneratorConfig>);
  } catch (e) {
    throw formatError(`${source} describes a generator this package cannot build: ${(e as Error).message}`, e);
  }
}

/** A JSON string of safetensors metadata, parsed; a coded error naming the file and key when it is not JSON. */
export function parseMetadataJson(text: string | undefined, file: string, key: string): any {
  if (typeof text !== 'string') throw formatError(`'${file}': its metadata has no '${key}' entry (a checkpoint written by facestyle's trainer has one)`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw formatError(`'${file}': its metadata '${key}' is not JSON (${(e as Error).message})`, e);
  }
}

/**
 * Trained weights must be finite: NaN or Inf (a diverged run, a damaged file) would stylize every face
 * to black or NaN, or fail training at its first step, without saying why. ERR_FACESTYLE_NUMERIC naming
 * the tensor; `source` starts the message ("Weights 'file'").
 */
export function checkFiniteWeights(data: Float32Array, name: string, source: string): void {
  for (let i = 0; i < data.length; ++i) {
    const v = data[i];
    if (v - v !== 0) throw new FacestyleError('ERR_FACESTYLE_NUMERIC', `${source}: tensor '${name}' holds ${Number.isNaN(v) ? 'NaN' : 'Inf'} (element ${i}): the weights are broken (a run that diverged, or a damaged file)`);
  }
}
