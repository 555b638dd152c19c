// Error type of the native core. The core reports every failure by throwing facestyle::Error;
// the N-API layer turns it into a JS error whose `code` is ERR_FACESTYLE_<CODE>. Nothing in the
// core asserts, aborts or exits.
#pragma once
#include <stdexcept>
#include <string>

namespace facestyle {

enum class ErrorCode {
  Shape,        // a tensor shape is not what an op or a feed requires
  Argument,     // a bad option or attribute value
  Format,       // a file or buffer is not what it claims to be
  Unsupported,  // an op, device or mode that is not compiled in
  OutOfMemory,  // host or device allocation failed
  Disposed,     // the session was disposed
  Cuda,         // a CUDA runtime error
  Numeric,      // NaN or Inf where it is not allowed
  Internal,     // a bug: should never reach users
};

inline const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::Shape: return "ERR_FACESTYLE_SHAPE";
    case ErrorCode::Argument: return "ERR_FACESTYLE_ARGUMENT";
    case ErrorCode::Format: return "ERR_FACESTYLE_FORMAT";
    case ErrorCode::Unsupported: return "ERR_FACESTYLE_UNSUPPORTED";
    case ErrorCode::OutOfMemory: return "ERR_FACESTYLE_OUT_OF_MEMORY";
    case ErrorCode::Disposed: return "ERR_FACESTYLE_DISPOSED";
    case ErrorCode::Cuda: return "ERR_FACESTYLE_CUDA";
    case ErrorCode::Numeric: return "ERR_FACESTYLE_NUMERIC";
    case ErrorCode::Internal: return "ERR_FACESTYLE_INTERNAL";
  }
  return "ERR_FACESTYLE_INTERNAL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Throws Error(code, message) when `condition` is false. Used for every check a kernel relies on
// for memory safety, so a malformed graph is an error, never an out-of-bounds access.
#define FACESTYLE_CHECK(condition, code, message)                                 \
  do {                                                                            \
    if (!(condition)) throw ::facestyle::Error(::facestyle::ErrorCode::code, (message)); \
  } while (0)

}  // namespace facestyle
