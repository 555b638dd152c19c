// Faces: detection, alignment, stylization and paste-back (re-exports only).
export type { RgbImage, Point, Landmarks5, Face, Affine2x3 } from './types.js';
export { detectFaces, FaceDetector, LandmarkModel, landmarks5From68, landmarksOption, resolveDetectorPath, nms, iou } from './detect.js';
export type { DetectOptions, DetectorRunOptions } from './detect.js';
export type { DetectorEngine } from './detector-engine.js';
export { alignFace, alignFaces, alignmentMatrix, ffhqTransform, ffhqKeyPoints5, ffhqKeyPoints68, ffhqTemplate, arcfaceTemplate, similarityTransform, invertAffine, applyAffine, ALIGN_TEMPLATES } from './align.js';
export type { AlignOptions, AlignedFaces, AlignTemplate, FaceLandmarks, FfhqKeyPoints } from './align.js';
export { featherMask, pasteFaces, cropRegion } from './paste.js';
export type { PasteOptions, FeatherOptions } from './paste.js';
export { loadFaceGenerator, graphGenerator, mirrorAveraged, mirrorImages, onnxRuntimeGenerator } from './model.js';
export type { FaceGenerator, GeneratorRunOptions, ModelSource, ModelOptions, ModelEngine } from './model.js';
export { createFaceStylizer, stylize, stylizeFile, stylizeAlignedImage } from './stylize.js';
export type { FaceStylizer, FaceStylizerOptions, FacesOption, StylizeOptions, FrameResult, StageTimings } from './stylize.js';
export { toRgbImage, writeRgbImage, encodeRgbImage } from './image.js';
export type { WriteOptions, OutputFormat, ToRgbImageOptions } from './image.js';
export { drawFaces, sideBySide } from './draw.js';
export { warpAffine, clearWarpCache } from './warp.js';
