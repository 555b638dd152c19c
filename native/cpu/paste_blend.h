// Face crops between uint8 RGB frames and float NCHW tensors, in one native pass each way:
//
// - alignCrops: bilinear crops [K,3,S,S] sampled straight from an interleaved uint8 frame (what
//   lib/face/align.ts did as uint8 -> float region -> WarpAffine -> [0,1] -> [-1,1] in JS).
// - pasteBlend: stylized crops inverse-warped with the feathered mask and alpha-blended into a uint8
//   frame (what lib/face/paste.ts did as a 4-channel WarpAffine and a JS blend loop).
//
// Same arithmetic as those paths (WarpAffine's bilinear formula in float, the blend in double, rounded
// half up), so results match the JS reference to float rounding. Plain single-threaded loops: a face is
// 10^4-10^5 pixels, about a millisecond (a 256 crop: 0.8 ms to align, 1.6 ms to paste over a 286x287
// region), and the model's OpenMP team keeps the cores.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cpu/bilinear.h"

namespace facestyle {

// How crop values are stored: [0,1], or the generator's [-1,1] (v = 2u - 1).
enum class CropRange { Unit, Signed };

using CropBorder = cpu::SampleBorder;

// An interleaved RGB frame, height x width x 3 bytes.
struct RgbFrame {
  const uint8_t* data;
  int64_t width;
  int64_t height;
};

// Aligned crops of K faces into out[(outOffset + k) * 3*S*S ...], channels RGB. `cropToImage` holds K
// affine matrices (6 doubles each) taking crop pixel centres (x, y) to image coordinates
// (m0 x + m1 y + m2, m3 x + m4 y + m5). Taps outside the frame follow `border` (constant reads 0).
// Throws Error(Argument) on inconsistent sizes.
void alignCrops(const RgbFrame& frame, const double* cropToImage, int64_t count, int64_t size, CropBorder border, CropRange range,
                float* out, int64_t outFaces, int64_t outOffset);

// Marks in rows[0..height) the frame rows alignCrops reads for these crops (border taps included): a caller
// that copies the frame for the pass (napi/image_ops.cc) copies only those. Crop corners are mapped with
// a 2-row margin for the bilinear taps; a non-finite or very large mapping marks every row.
void markAlignRows(const double* cropToImage, int64_t count, int64_t size, int64_t height, CropBorder border, std::vector<char>& rows);

// One face to paste: which crop, the image -> crop matrix, and the frame rectangle to visit.
struct PasteFace {
  int64_t crop;        // index into the crops [N,3,S,S]
  double matrix[6];    // image -> crop: (m0 x + m1 y + m2, m3 x + m4 y + m5)
  int64_t x0, y0, w, h;  // frame rectangle, inside the frame
};

// Blends faces, in order (later over earlier), into `rgb` (the frame's bytes, modified in place). For
// each pixel of a face's rectangle: the crop RGB and `mask` [S*S] are sampled bilinearly (0 outside the
// crop), alpha = clamp01(mask) * strength, and each channel becomes round(old * (1 - alpha) +
// clamp01(crop) * 255 * alpha). NaN in a crop reads as 0 (black at that pixel's alpha), as in the JS
// path. `alphaOut` (optional, width*height) receives the largest alpha per pixel.
// Throws Error(Argument) on inconsistent sizes.
void pasteBlend(uint8_t* rgb, int64_t width, int64_t height, const float* crops, int64_t cropCount, int64_t size, const PasteFace* faces,
                size_t faceCount, const float* mask, double strength, CropRange range, float* alphaOut);

}  // namespace facestyle
