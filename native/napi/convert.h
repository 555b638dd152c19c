// JS <-> plain C++ structs. Everything a worker needs is converted on the main thread before it is
// queued, so Execute() touches native memory only.
#pragma once
#include <napi.h>

#include "facestyle/plan.h"
#include "facestyle/status.h"

namespace facestyle::napi {

// A JS Error with `code` set to ERR_FACESTYLE_<CODE>.
Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message);
Napi::Error makeError(Napi::Env env, const char* code, const std::string& message);

// node::Buffer, behind napi_create_external_arraybuffer, takes at most this many bytes (Node 20) and, past
// that, frees the memory it was handed before failing, which its owner then freed again: the process
// aborted. Results larger than this are handed over by copyArrayBuffer instead.
constexpr size_t kMaxExternalBytes = size_t(1) << 32;

// An array buffer V8 allocates itself (no such limit) holding a copy of `bytes` at `data`; a failed
// allocation is ERR_FACESTYLE_OUT_OF_MEMORY.
Napi::ArrayBuffer copyArrayBuffer(Napi::Env env, const void* data, size_t bytes);

// Converts the object built by lib/runtime/session.ts (see toNativeGraph there). Throws Error.
GraphDesc graphFromJs(const Napi::Object& graph);

}  // namespace facestyle::napi
