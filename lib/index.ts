// The public API: re-exports only.
export { FacestyleError, isFacestyleError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { Tensor, shapeSize } from './graph/tensor.js';
export type { Shape } from './graph/tensor.js';
export type { Graph, Node, Value, Attrs, AttrValue } from './graph/ir.js';
export { GraphBuilder } from './graph/builder.js';
export type { Sym, Conv2dOptions, ParamInit } from './graph/builder.js';
export { getOp, listOps } from './ops/index.js';
export type { OpSchema } from './ops/index.js';
export { compile, Session } from './runtime/session.js';
export type { CompileOptions, Feeds, SessionInfo, DeviceName } from './runtime/session.js';
export { capabilities } from './capabilities.js';
export type { Capabilities } from './capabilities.js';
export { imageToTensor, tensorToImage, saveTensorImage, readImageRgb, rgbToTensor, tensorToRgb } from './image/io.js';
export type { ImageInput, ImageToTensorOptions } from './image/io.js';
