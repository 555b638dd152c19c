// Video: ffmpeg decode/encode, face tracking with One-Euro smoothing, the frame pipeline (re-exports only).
export { stylizeVideo, stylizeFrames, stylizeFrameStream } from './pipeline.js';
export type { FramePipelineOptions, StylizeFramesOptions, StylizeVideoOptions, StylizeVideoResult, StylizedFrame, VideoProgress } from './pipeline.js';
export { createVideoStylizer, adaptFaceStylizer, batchedFaceStylizer } from './stylizer.js';
export type { FrameStylizer, FrameFaces, FaceStylizerLike, StylizeSteps, VideoStylizerOptions } from './stylizer.js';
export { probeVideo, decodeVideo, startDecode, VideoEncoder, ffmpegPaths, checkFfmpeg } from './ffmpeg.js';
export type { VideoInfo, VideoColor, DecodeOptions, EncoderOptions, FfmpegPaths, StartedDecode } from './ffmpeg.js';
export { readFrameFolder, listFrameFiles, FrameFolderWriter } from './frames.js';
export { FaceTracker, boxIoU, DEFAULT_EVERY } from './tracker.js';
export type { TrackerOptions, TrackedFace } from './tracker.js';
export { OneEuroFilter, FaceSmoother, ONE_EURO_DEFAULTS } from './one-euro.js';
export type { OneEuroOptions } from './one-euro.js';
export { measureVideoFps } from './measure.js';
export type { VideoCpuResult, VideoFpsResult } from './measure.js';
