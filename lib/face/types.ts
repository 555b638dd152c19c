// Shared face types. Contract between lib/face (detect, align, stylize, paste) and lib/video.

/** Interleaved 8-bit RGB pixels, row-major, width*height*3 bytes. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
  /**
   * Optional opacity, width*height bytes, kept from an input with transparency: `data` is then the
   * image flattened onto black (what detection and the model see), and writing to a format with
   * alpha restores the transparency.
   */
  alpha?: Uint8Array;
}

export type Point = [number, number];

/** Five landmarks in YuNet order: image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner. */
export type Landmarks5 = [Point, Point, Point, Point, Point];

export interface Face {
  /** x, y, width, height in image pixels. */
  box: [number, number, number, number];
  score: number;
  landmarks: Landmarks5;
  /** Optional 68 points (PFLD refinement). */
  landmarks68?: Point[];
}

/** Row-major 2x3 affine matrix [a, b, tx, c, d, ty]: maps source (image) to destination (crop) points. */
export type Affine2x3 = [number, number, number, number, number, number];
