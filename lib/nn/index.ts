// Models: the light generator family, the PatchGAN discriminator, model info and loading.
export { buildGenerator, defaultGeneratorConfig, generatorConfig, generatorGraph } from './generator.js';
export type { GeneratorConfig } from './generator.js';
export { buildDiscriminator, defaultDiscriminatorConfig, discriminatorConfig, powerIteration, spectralNorm } from './discriminator.js';
export type { DiscriminatorConfig, DiscriminatorOptions, DiscriminatorScale } from './discriminator.js';
export { modelInfo } from './info.js';
export type { ModelInfo } from './info.js';
export { loadGenerator } from './load.js';
export type { GeneratorCard, LoadGeneratorOptions } from './load.js';
