// Frames the video pipeline decoded itself (stylizeVideo's ffmpeg decoder or frame-folder reader). Only
// these may be blended into in place by the paste step (no new frame per frame: less allocation and
// garbage collection); a frame an app hands to stylizeFrames is never written.
import type { RgbImage } from '../face/types.js';

const owned = new WeakSet<Uint8Array>();

/** Marks every frame of `frames` as the pipeline's own as it passes (closing this closes `frames`). */
export async function* ownFrames(frames: AsyncIterable<RgbImage>): AsyncGenerator<RgbImage, void, undefined> {
  for await (const frame of frames) {
    owned.add(frame.data);
    yield frame;
  }
}

/** True for a frame that passed through ownFrames. */
export const isOwnedFrame = (frame: RgbImage): boolean => owned.has(frame.data);
