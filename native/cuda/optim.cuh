// Fused optimizer and weight-averaging updates on the GPU (kernels in optim.cu), for the step
// graph's AdamUpdate / SgdMomentumUpdate / EmaUpdate ops and for any caller that holds device
// pointers. Plain C++ (the stream is a cudaStream_t passed as void*), so C++ tests can call them.
// All pointers are device pointers; outputs may alias the matching inputs (elementwise updates).
// Step-dependent scalars are read on the device (fed per step as tiny tensors, never synchronised).
// (No __restrict__ in these kernels: in-place updates are allowed.)
#pragma once
#include <cstdint>

namespace facestyle::cuda {

struct AdamHyper {
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-8f;
  float weightDecay = 0.f;  // decoupled (AdamW): w -= lr * weightDecay * w
};

// AdamW, as native/cpu/optim.cc: g' = g * clip[0] (clip may be null: scale 1);
// m' = b1 m + (1-b1) g'; v' = b2 v + (1-b2) g'^2; w' = w - lr ((m'/bc1) / (sqrt(v'/bc2) + eps) + wd w)
// with schedule = [lr, bc1 = 1 - b1^t, bc2 = 1 - b2^t] on the device.
void launchAdamUpdate(const float* w, const float* g, const float* m, const float* v, const float* schedule, const float* clip, float* wOut,
                      float* mOut, float* vOut, int64_t n, const AdamHyper& hyper, void* stream);

// vel' = momentum vel + g * clip[0] + wd w; w' = w - lr vel', schedule = [lr].
void launchSgdMomentumUpdate(const float* w, const float* g, const float* vel, const float* schedule, const float* clip, float* wOut,
                             float* velOut, int64_t n, float momentum, float weightDecay, void* stream);

// e' = decay e + (1 - decay) w, decay = decayPtr[0] on the device.
void launchEmaUpdate(const float* e, const float* w, const float* decayPtr, float* eOut, int64_t n, void* stream);

}  // namespace facestyle::cuda
