// N-API functions on face crops and uint8 frames (native/cpu/paste_blend.h): alignCrops, pasteBlend.
#pragma once
#include <napi.h>

namespace facestyle::napi {

// Adds alignCrops and pasteBlend to the addon's exports.
void registerImageOps(Napi::Env env, Napi::Object exports);

}  // namespace facestyle::napi
