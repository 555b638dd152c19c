// ONNX: import (loadOnnx), export (exportOnnx), parity with onnxruntime-node, model facts.
export { loadOnnx, readOnnxModel, onnxOpHistogram, MIN_OPSET, MAX_OPSET } from './import.js';
export type { LoadOnnxOptions } from './import.js';
export { exportOnnx, exportOnnxBuffer, exportableOps, EXPORT_MIN_OPSET, EXPORT_MAX_OPSET } from './export.js';
export type { ExportOnnxOptions } from './export.js';
export { checkParity, compareOutput, REL_FLOOR } from './parity.js';
export type { ParityOptions, ParityReport, OutputParity } from './parity.js';
export { modelInfo, countMacs, classify, parseSize, imageInputShapes, declaredInputs, COMPUTE_CLASSES } from './info.js';
export type { ModelInfo, ModelInfoOptions, ComputeClass } from './info.js';
