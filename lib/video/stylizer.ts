// The small interface the video pipeline needs from a face stylizer, and the adapter from lib/face's
// frame-level API. Keeping the pipeline on this interface makes it testable with a fake stylizer.
import { alignFaces, createFaceStylizer, pasteFaces, type AlignedFaces, type FaceStylizer, type ModelEngine } from '../face/index.js';
import type { Face, RgbImage } from '../face/types.js';
import { Tensor } from '../graph/tensor.js';
import type { DeviceName } from '../runtime/session.js';

export interface FrameFaces {
  frame: RgbImage;
  faces: Face[];
}

/** What the pipeline calls: detect faces in a frame; stylize the given faces of several frames at once. */
export interface FrameStylizer {
  /** Faces in a frame (or in a region cut from one), in that image's pixel coordinates. */
  detect(frame: RgbImage): Promise<Face[]>;
  /**
   * New frames with the given faces stylized and pasted back, in order. Several frames come at once so
   * an implementation can run their face crops as one batch.
   */
  stylize(items: FrameFaces[]): Promise<RgbImage[]>;
  /** Frees native resources (called by the pipeline only for stylizers it created). */
  dispose?(): void | Promise<void>;
}

/** The shape of lib/face's frame-level stylizer (createFaceStylizer), as far as video needs it. */
export interface FaceStylizerLike {
  detect(frame: RgbImage): Promise<Face[]>;
  stylizeFaces(frame: RgbImage, faces: Face[]): Promise<RgbImage>;
  /** Optional batched form: many frames' faces in one engine call. */
  stylizeFacesBatch?(items: FrameFaces[]): Promise<RgbImage[]>;
  dispose?(): void | Promise<void>;
}

/** Wraps lib/face's stylizer as a FrameStylizer: its batched call when it has one, else frame by frame. */
export function adaptFaceStylizer(face: FaceStylizerLike): FrameStylizer {
  return {
    detect: (frame) => face.detect(frame),
    stylize: async (items) => {
      if (face.stylizeFacesBatch) return face.stylizeFacesBatch(items);
      const out: RgbImage[] = [];
      // In order, one at a time: the engine runs one call per session at a time anyway.
      for (const { frame, faces } of items) out.push(await face.stylizeFaces(frame, faces));
      return out;
    },
    dispose: () => face.dispose?.(),
  };
}

export interface VideoStylizerOptions {
  /** Style model: .onnx, model card .json or .safetensors (default: the shipped model). */
  model?: string;
  /** Aligned crop size (default: the model's). */
  size?: number;
  /** 0..1 blend of the stylized face over the original (default 1). */
  strength?: number;
  device?: DeviceName;
  /** How .onnx models run: 'native' (default) or 'onnxruntime'. */
  engine?: ModelEngine;
  /** YuNet detector .onnx (default: FACESTYLE_DETECTOR, then the package's models/detection). */
  detector?: string;
  /** Detector score threshold (default 0.5). */
  scoreThreshold?: number;
}

/**
 * A FrameStylizer over lib/face's stylizer that batches across frames: the faces of all frames in one
 * call are aligned per frame, run through the model as ONE batch, and pasted back per frame.
 */
export function batchedFaceStylizer(face: FaceStylizer, options: { strength?: number; device?: DeviceName } = {}): FrameStylizer {
  const strength = options.strength ?? 1;
  const device = options.device ?? 'cpu';
  return {
    detect: (frame) => face.detect(frame),
    async stylize(items) {
      const size = face.size;
      const plane = 3 * size * size;
      const aligned: AlignedFaces[] = [];
      for (const { frame, faces } of items) aligned.push(await alignFaces(frame, faces.map((f) => f.landmarks), { size, device }));
      const total = aligned.reduce((n, a) => n + a.matrices.length, 0);
      const batch = new Tensor([total, 3, size, size]);
      let offset = 0;
      for (const a of aligned) {
        batch.data.set(a.crops.data, offset * plane);
        offset += a.matrices.length;
      }
      const styled = total > 0 ? await face.stylizeCrops(batch) : batch;
      const out: RgbImage[] = [];
      offset = 0;
      for (let i = 0; i < items.length; ++i) {
        const { frame, faces } = items[i];
        // Paste smaller faces first so the larger (nearer) face stays on top where they overlap.
        const order = faces.map((_, k) => k).sort((a, b) => faces[a].box[2] * faces[a].box[3] - faces[b].box[2] * faces[b].box[3]);
        const crops = new Tensor([order.length, 3, size, size]);
        order.forEach((k, j) => crops.data.set(styled.data.subarray((offset + k) * plane, (offset + k + 1) * plane), j * plane));
        out.push(await pasteFaces(frame, crops, order.map((k) => aligned[i].matrices[k]), { strength, device }));
        offset += faces.length;
      }
      return out;
    },
    dispose: () => face.dispose(),
  };
}

/** The real stylizer (lib/face's detector, aligner, model and paste-back) behind the FrameStylizer interface. */
export async function createVideoStylizer(options: VideoStylizerOptions = {}): Promise<FrameStylizer> {
  const face = await createFaceStylizer({
    model: options.model,
    size: options.size,
    strength: options.strength,
    device: options.device,
    engine: options.engine,
    detector: options.detector,
    scoreThreshold: options.scoreThreshold,
  });
  return batchedFaceStylizer(face, { strength: options.strength, device: options.device });
}
