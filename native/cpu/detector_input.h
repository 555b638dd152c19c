// The face detector's network input, sampled straight from an interleaved uint8 RGB frame into planar
// BGR floats (lib/face/detect.ts: the letterboxed first pass and the second pass's tiles). One pass
// replaces a resize or a tile copy and a JS loop converting to planes. (Mirror images are the caller's:
// the same values with each row reversed, a cheaper copy than sampling again.)
//
// Output pixel (u, v) has its centre at (x0 + (u + 0.5) kx - 0.5, y0 + (v + 0.5) ky - 0.5) in the frame,
// clamped to the frame's edges. Shrinking (k > 1) averages nx x ny bilinear samples per output pixel
// (n = ceil(k) on each axis) so fine detail does not alias; k = 1 at whole-pixel offsets copies pixels.
// Weights are integers (1/256 steps) and every sum is an exact integer, so the TypeScript fallback
// (sampleDetectorInputJs in lib/face/detect.ts) gives the same values however the compiler vectorises the
// sums; the tap positions are doubles computed as the TypeScript computes them (this file is built for the
// baseline ISA, without FMA to fuse them). The tests hold both to a brute-force sum. Each value is rounded
// to a whole 0-255 level, as a resized uint8 image would be, and stored as a float.
//
// The sum is separable: per output row, the ny bilinear rows are added up column by column over the
// columns the row's samples touch (a straight loop over bytes), then each output pixel takes its nx
// horizontal taps from that one accumulated row. A 160 px tile at k = 3.5: per output row 4 rows of 560
// pixels x 3 channels blended in a loop the compiler vectorises, then 160 x 4 taps, instead of 160 x 16
// scattered bilinear samples.
#pragma once
#include <cstdint>

namespace facestyle::cpu {

struct DetectorSample {
  double x0 = 0, y0 = 0;  // frame position of output pixel (0, 0)'s top-left corner
  double kx = 1, ky = 1;  // frame pixels per output pixel, each in (0, 4096]
  int64_t width = 0, height = 0;  // output pixels written (the rest of the network input stays as it is)
};

// out: the item's planes, B at out, G at out + netW * netH, R after it; row stride netW. Requires
// 1 <= s.width <= netW and 1 <= s.height <= netH (the N-API wrapper checks them). Throws std::bad_alloc if its scratch cannot be had.
void sampleDetectorInput(const uint8_t* frame, int64_t frameWidth, int64_t frameHeight, const DetectorSample& s, float* out, int64_t netW, int64_t netH);

}  // namespace facestyle::cpu
