// sampleTile: a tile x tile RGB square resampled from an interleaved uint8 frame, for the face
// detector's second pass (lib/face/detect.ts, which keeps the same loop in TypeScript as the reference
// the tests hold this to, byte for byte). Tile pixel u has its centre at x0 + (u + 0.5) k - 0.5 in the
// frame (k frame pixels per tile pixel), bilinear, clamped at the frame's edges; shrinking (k > 1)
// averages n x n bilinear samples per tile pixel, n = ceil(k), so fine detail does not alias.
// The arithmetic is the TypeScript's: positions and blends in double, the column weights and the
// per-row accumulators rounded to float (its Float32Arrays), the result rounded half up.
// In TypeScript it took 2.2 ms of the JS thread per frame of short_hamilton_clip (bench/video-cpu.mjs).
#pragma once
#include <cstdint>

namespace facestyle::cpu {

// out: tile * tile * 3 bytes. Throws std::bad_alloc if its scratch cannot be had.
void sampleTileRgb(const uint8_t* data, int64_t width, int64_t height, double x0, double y0, double k, int64_t tile, uint8_t* out);

}  // namespace facestyle::cpu
