// alignCrops / pasteBlend for lib/face (align.ts, paste.ts): arguments checked and converted on the main
// thread, the pixel work on a libuv pool thread, a Promise back. sampleDetectorInput (detect.ts) runs synchronously.
//
// The pool thread works on copies the worker owns, made at the call (only what the pass uses: the rows a
// crop reads, the rectangles a paste writes, the crops its faces name), and the results are copied into the
// caller's arrays when the Promise settles, on the main thread: a caller's buffer may be transferred to a
// worker_thread (or detached) while the pass runs, and its memory freed with that worker; reading or
// writing it in place from the pool thread then crashed the process (SIGSEGV). A buffer detached by the
// time the pass ends gets ERR_FACESTYLE_ARGUMENT.
//
// Why not the compute thread (runtime/compute_thread.h) like session runs: that thread exists to keep
// one warm OpenMP team for the kernels, and these loops are single-threaded and take about a
// millisecond per face. Queued there they would wait behind the model run in flight (100 ms and more
// for a batch), which is exactly what the video pipeline overlaps them with. Not graph ops either: the
// IR's tensors are float32, and the point is to read and write the uint8 frame in place of a float copy.
#include "napi/image_ops.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cpu/detector_input.h"
#include "cpu/paste_blend.h"
#include "facestyle/status.h"
#include "napi/coded_worker.h"
#include "napi/convert.h"

namespace facestyle::napi {

namespace {

[[noreturn]] void bad(Napi::Env env, const std::string& message) { throw makeError(env, ErrorCode::Argument, message); }

template <typename T>
T typedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type)
    bad(info.Env(), std::string("Expected ") + what + " for argument " + std::to_string(i));
  return info[i].As<T>();
}

int64_t intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  if (info.Length() <= i || !info[i].IsNumber()) bad(info.Env(), std::string("Expected an integer for ") + name);
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || v != static_cast<double>(static_cast<int64_t>(v)))
    bad(info.Env(), std::string("Expected an integer in [") + std::to_string(lo) + ", " + std::to_string(hi) + "] for " + name + " but received " + std::to_string(v));
  return static_cast<int64_t>(v);
}

CropRange rangeArg(const Napi::CallbackInfo& info, size_t i) {
  const std::string r = info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : "";
  if (r == "unit") return CropRange::Unit;
  if (r == "signed") return CropRange::Signed;
  bad(info.Env(), "Expected range 'unit' or 'signed' but received '" + r + "'");
}

// A copy of n elements from p, made on the main thread before the pool thread reads them.
template <typename T>
std::vector<T> ownedCopy(Napi::Env env, const T* p, size_t n) {
  try {
    return std::vector<T>(p, p + n);
  } catch (const std::bad_alloc&) {
    throw makeError(env, ErrorCode::OutOfMemory, "Out of memory copying the image pass's input (" + std::to_string(n * sizeof(T)) + " bytes)");
  }
}

// An uninitialised buffer of n elements: only the parts a pass uses are copied in, so the pages of the
// rest are never touched (a 1920x1080 frame copied whole for each of a batch's faces doubled its memory).
template <typename T>
std::unique_ptr<T[]> partialBuffer(Napi::Env env, size_t n) {
  std::unique_ptr<T[]> p(new (std::nothrow) T[n]);
  if (!p) throw makeError(env, ErrorCode::OutOfMemory, "Out of memory for the image pass's copy (" + std::to_string(n * sizeof(T)) + " bytes)");
  return p;
}

// Copies the rectangle (x0, y0, w, h) of a width-wide image of `channels` values per pixel from src to dst.
template <typename T>
void copyRect(const T* src, T* dst, int64_t width, int64_t channels, int64_t x0, int64_t y0, int64_t w, int64_t h) {
  for (int64_t y = y0; y < y0 + h; ++y) std::copy_n(src + (y * width + x0) * channels, w * channels, dst + (y * width + x0) * channels);
}

// The caller's array behind `ref`, if it still holds `elements` elements (not transferred or detached since the call).
template <typename A>
bool stillThere(const Napi::ObjectReference& ref, size_t elements, A& out) {
  out = ref.Value().As<A>();
  return !out.ArrayBuffer().IsDetached() && out.ElementLength() == elements;
}

// Frame bytes checked against width x height x 3.
Napi::Uint8Array frameArg(const Napi::CallbackInfo& info, int64_t width, int64_t height) {
  Napi::Uint8Array frame = typedArg<Napi::Uint8Array>(info, 0, napi_uint8_array, "a Uint8Array frame");
  if (static_cast<int64_t>(frame.ElementLength()) != width * height * 3)
    bad(info.Env(), "Expected " + std::to_string(width * height * 3) + " frame bytes for " + std::to_string(width) + "x" + std::to_string(height) + " but received " + std::to_string(frame.ElementLength()));
  return frame;
}

// Workers of the image passes: on the libuv pool thread itself (see CodedWorker), so that they overlap a
// model run on the compute thread instead of queueing behind it.
class ImageWorker : public CodedWorker {
 public:
  explicit ImageWorker(Napi::Env env) : CodedWorker(env) {}
};

class AlignWorker : public ImageWorker {
 public:
  using ImageWorker::ImageWorker;
  std::unique_ptr<uint8_t[]> frame;  // the rows of the caller's frame the crops read (markAlignRows)
  int64_t width = 0, height = 0;
  std::vector<double> matrices;
  int64_t size = 0, outOffset = 0;
  size_t outElements = 0;  // the caller's output, as it was at the call
  CropBorder border = CropBorder::Reflect;
  CropRange range = CropRange::Unit;
  std::vector<float> crops;  // the crops made, copied into the caller's output at outOffset on settling
  Napi::ObjectReference outRef;
  void Work() override {
    const int64_t count = static_cast<int64_t>(matrices.size() / 6);
    crops.resize(static_cast<size_t>(count * 3 * size * size));
    alignCrops(RgbFrame{frame.get(), width, height}, matrices.data(), count, size, border, range, crops.data(), count, 0);
  }
  void OnOK() override {
    Napi::Float32Array out;
    if (!stillThere(outRef, outElements, out))
      return deferred_.Reject(makeError(Env(), ErrorCode::Argument, "The crops' output array was transferred or detached while the faces were being aligned").Value());
    std::copy(crops.begin(), crops.end(), out.Data() + outOffset * 3 * size * size);
    deferred_.Resolve(Env().Undefined());
  }
};

// alignCrops(frame: Uint8Array, width, height, cropToImage: Float64Array [K*6], size, border, range,
//            out: Float32Array [N*3*S*S], outOffset) -> Promise<void>: writes crops outOffset..outOffset+K-1.
Napi::Value AlignCrops(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t width = intArg(info, 1, "width", 1, 1 << 20), height = intArg(info, 2, "height", 1, 1 << 20);
  Napi::Uint8Array frame = frameArg(info, width, height);
  Napi::Float64Array m = typedArg<Napi::Float64Array>(info, 3, napi_float64_array, "a Float64Array of matrices");
  if (m.ElementLength() % 6 != 0) bad(env, "Expected 6 numbers per matrix but received " + std::to_string(m.ElementLength()));
  const int64_t size = intArg(info, 4, "size", 1, 1 << 15);
  const std::string border = info.Length() > 5 && info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "";
  Napi::Float32Array out = typedArg<Napi::Float32Array>(info, 7, napi_float32_array, "a Float32Array output");
  const int64_t crop = 3 * size * size;
  if (static_cast<int64_t>(out.ElementLength()) % crop != 0)
    bad(env, "Expected an output of whole [3," + std::to_string(size) + "," + std::to_string(size) + "] crops but received " + std::to_string(out.ElementLength()) + " floats");
  auto* worker = new AlignWorker(env);
  std::unique_ptr<AlignWorker> guard(worker);
  if (border == "reflect") worker->border = CropBorder::Reflect;
  else if (border == "edge") worker->border = CropBorder::Edge;
  else if (border == "constant") worker->border = CropBorder::Constant;
  else bad(env, "Expected border 'constant', 'reflect' or 'edge' but received '" + border + "'");
  worker->range = rangeArg(info, 6);
  worker->matrices.assign(m.Data(), m.Data() + m.ElementLength());
  worker->size = size;
  const int64_t outFaces = static_cast<int64_t>(out.ElementLength()) / crop;
  worker->outOffset = intArg(info, 8, "outOffset", 0, outFaces);
  if (worker->outOffset + static_cast<int64_t>(worker->matrices.size() / 6) > outFaces)
    bad(env, std::to_string(worker->matrices.size() / 6) + " crops at " + std::to_string(worker->outOffset) + " do not fit an output of " + std::to_string(outFaces));
  worker->frame = partialBuffer<uint8_t>(env, frame.ElementLength());
  std::vector<char> rows;
  markAlignRows(worker->matrices.data(), static_cast<int64_t>(worker->matrices.size() / 6), size, height, worker->border, rows);
  for (int64_t y = 0; y < height; ++y)
    if (rows[static_cast<size_t>(y)]) copyRect(frame.Data(), worker->frame.get(), width, 3, 0, y, width, 1);
  worker->width = width, worker->height = height;
  worker->outElements = out.ElementLength();
  worker->outRef = Napi::Persistent(out.As<Napi::Object>());
  guard.release();
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

class PasteWorker : public ImageWorker {
 public:
  using ImageWorker::ImageWorker;
  int64_t width = 0, height = 0, size = 0, cropCount = 0;
  std::unique_ptr<float[]> crops;  // the crops the faces use, renumbered
  std::vector<float> mask;         // a copy of the caller's
  std::vector<PasteFace> faces;
  double strength = 1;
  CropRange range = CropRange::Unit;
  // The blend reads and writes only the faces' rectangles: in place, only those are copied in and back (so
  // pixels the app writes elsewhere meanwhile, or another paste's faces, are kept); otherwise `result` is a
  // whole copy of the frame, the new frame resolved.
  std::unique_ptr<uint8_t[]> rects;                 // in place: the rectangles of the caller's frame
  std::unique_ptr<std::vector<uint8_t>> result;     // else: a copy of the frame, blended into
  std::unique_ptr<float[]> alpha;                   // with alphaRef: the rectangles of it, raised to the coverage
  Napi::ObjectReference alphaRef;
  bool inPlace = false;            // the caller's frame gets the blended rectangles (copied on settling) and is the result
  Napi::ObjectReference frameRef;  // that frame
  void Work() override {
    pasteBlend(inPlace ? rects.get() : result->data(), width, height, crops.get(), cropCount, size, faces.data(), faces.size(), mask.data(), strength, range, alpha.get());
  }
  void OnOK() override {
    Napi::Env env = Env();
    const size_t pixels = static_cast<size_t>(width * height);
    // Both targets are checked before either is written.
    Napi::Float32Array a;
    Napi::Uint8Array f;
    if (!alphaRef.IsEmpty() && !stillThere(alphaRef, pixels, a))
      return deferred_.Reject(makeError(env, ErrorCode::Argument, "The alpha output array was transferred or detached while the faces were being pasted").Value());
    if (inPlace && !stillThere(frameRef, pixels * 3, f))
      return deferred_.Reject(makeError(env, ErrorCode::Argument, "The frame's buffer was transferred or detached while the faces were being pasted into it").Value());
    for (const PasteFace& p : faces) {
      if (!alphaRef.IsEmpty()) copyRect(alpha.get(), a.Data(), width, 1, p.x0, p.y0, p.w, p.h);
      if (inPlace) copyRect(rects.get(), f.Data(), width, 3, p.x0, p.y0, p.w, p.h);
    }
    if (inPlace) return deferred_.Resolve(f);
    const size_t bytes = result->size();
    if (bytes > kMaxExternalBytes) return deferred_.Resolve(Napi::Uint8Array::New(env, bytes, copyArrayBuffer(env, result->data(), bytes), 0));
    auto* holder = result.release();
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, holder->data(), bytes, [](Napi::Env, void*, std::vector<uint8_t>* h) { delete h; }, holder);
    deferred_.Resolve(Napi::Uint8Array::New(env, bytes, buf, 0));
  }
};

// pasteBlend(frame: Uint8Array, width, height, crops: Float32Array [N*3*S*S], size,
//            faces: Float64Array [F*11: crop, m0..m5 (image -> crop), x0, y0, w, h], mask: Float32Array [S*S],
//            strength, range, alphaOut?: Float32Array [W*H], inPlace?: boolean) -> Promise<Uint8Array>: a new
//            frame, or with inPlace the frame itself, its faces' rectangles blended into when the Promise settles.
Napi::Value PasteBlend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t width = intArg(info, 1, "width", 1, 1 << 20), height = intArg(info, 2, "height", 1, 1 << 20);
  Napi::Uint8Array frame = frameArg(info, width, height);
  Napi::Float32Array crops = typedArg<Napi::Float32Array>(info, 3, napi_float32_array, "a Float32Array of crops");
  const int64_t size = intArg(info, 4, "size", 1, 1 << 15);
  const int64_t plane = size * size;
  if (static_cast<int64_t>(crops.ElementLength()) % (3 * plane) != 0)
    bad(env, "Expected whole [3," + std::to_string(size) + "," + std::to_string(size) + "] crops but received " + std::to_string(crops.ElementLength()) + " floats");
  Napi::Float64Array f = typedArg<Napi::Float64Array>(info, 5, napi_float64_array, "a Float64Array of faces");
  if (f.ElementLength() % 11 != 0) bad(env, "Expected 11 numbers per face but received " + std::to_string(f.ElementLength()));
  Napi::Float32Array mask = typedArg<Napi::Float32Array>(info, 6, napi_float32_array, "a Float32Array mask");
  if (static_cast<int64_t>(mask.ElementLength()) != plane) bad(env, "Expected a mask of " + std::to_string(plane) + " floats but received " + std::to_string(mask.ElementLength()));
  if (info.Length() <= 7 || !info[7].IsNumber()) bad(env, "Expected a number for strength");
  auto* worker = new PasteWorker(env);
  std::unique_ptr<PasteWorker> guard(worker);
  worker->strength = info[7].As<Napi::Number>().DoubleValue();
  worker->range = rangeArg(info, 8);
  if (info.Length() > 9 && !info[9].IsUndefined() && !info[9].IsNull()) {
    Napi::Float32Array alpha = typedArg<Napi::Float32Array>(info, 9, napi_float32_array, "a Float32Array alphaOut");
    if (static_cast<int64_t>(alpha.ElementLength()) != width * height)
      bad(env, "Expected alphaOut of " + std::to_string(width * height) + " floats but received " + std::to_string(alpha.ElementLength()));
    worker->alphaRef = Napi::Persistent(alpha.As<Napi::Object>());
  }
  const double* fd = f.Data();
  for (size_t i = 0; i < f.ElementLength() / 11; ++i) {
    const double* r = fd + i * 11;
    PasteFace face{};
    // The crop index and the rectangle are integers (pasteBlend checks their ranges).
    for (int k : {0, 7, 8, 9, 10})
      if (!(std::fabs(r[k]) < 9e15) || r[k] != std::floor(r[k])) bad(env, "Expected an integer crop index and rectangle for face " + std::to_string(i));
    face.crop = static_cast<int64_t>(r[0]);
    for (int k = 0; k < 6; ++k) face.matrix[k] = r[1 + k];
    face.x0 = static_cast<int64_t>(r[7]);
    face.y0 = static_cast<int64_t>(r[8]);
    face.w = static_cast<int64_t>(r[9]);
    face.h = static_cast<int64_t>(r[10]);
    // Checked here too: the rectangles are copied in and out on this thread.
    if (face.x0 < 0 || face.y0 < 0 || face.w < 0 || face.h < 0 || face.x0 + face.w > width || face.y0 + face.h > height)
      bad(env, "Face " + std::to_string(i) + " rectangle is outside the " + std::to_string(width) + "x" + std::to_string(height) + " frame");
    worker->faces.push_back(face);
  }
  if (info.Length() > 10 && info[10].IsBoolean() && info[10].As<Napi::Boolean>().Value()) {
    worker->inPlace = true;
    worker->frameRef = Napi::Persistent(frame.As<Napi::Object>());
  }
  worker->width = width;
  worker->height = height;
  worker->size = size;
  if (worker->inPlace) {
    worker->rects = partialBuffer<uint8_t>(env, frame.ElementLength());
    for (const PasteFace& p : worker->faces) copyRect(frame.Data(), worker->rects.get(), width, 3, p.x0, p.y0, p.w, p.h);
  } else {
    worker->result = std::make_unique<std::vector<uint8_t>>(ownedCopy(env, frame.Data(), frame.ElementLength()));
  }
  if (!worker->alphaRef.IsEmpty()) {
    Napi::Float32Array a = worker->alphaRef.Value().As<Napi::Float32Array>();
    worker->alpha = partialBuffer<float>(env, a.ElementLength());
    for (const PasteFace& p : worker->faces) copyRect(a.Data(), worker->alpha.get(), width, 1, p.x0, p.y0, p.w, p.h);
  }
  // Only the crops the faces use, renumbered: the video pipeline pastes each frame of a batch with the
  // whole batch's crops, and copying them all for every frame made a batch cost frames x batch crops
  // (batch 128 at 256 px: 12.9 GB).
  const int64_t given = static_cast<int64_t>(crops.ElementLength()) / (3 * plane);
  std::vector<int64_t> used;                    // given index of each copied crop
  std::unordered_map<int64_t, int64_t> renumber;  // given index -> copied index
  for (size_t i = 0; i < worker->faces.size(); ++i) {
    PasteFace& face = worker->faces[i];
    if (face.crop < 0 || face.crop >= given) bad(env, "Face " + std::to_string(i) + " names crop " + std::to_string(face.crop) + " of " + std::to_string(given));
    const auto [at, added] = renumber.emplace(face.crop, static_cast<int64_t>(used.size()));
    if (added) used.push_back(face.crop);
    face.crop = at->second;
  }
  worker->cropCount = static_cast<int64_t>(used.size());
  worker->crops = partialBuffer<float>(env, used.size() * 3 * plane);
  for (size_t k = 0; k < used.size(); ++k) std::copy_n(crops.Data() + used[k] * 3 * plane, 3 * plane, worker->crops.get() + k * 3 * plane);
  worker->mask = ownedCopy(env, mask.Data(), mask.ElementLength());
  guard.release();
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

// sampleDetectorInput(frame: Uint8Array, width, height, x0, y0, kx, ky, outW, outH, out: Float32Array,
//                     offset, netW, netH): writes planar BGR into out at offset
// (cpu/detector_input.h). Synchronous: a 640x360 frame or a 160 px tile takes a fraction of a
// millisecond, less than a hop to a pool thread and back (a 1920x1080 photo shrunk to 640 px: 3.5 ms).
Napi::Value SampleDetectorInput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t width = intArg(info, 1, "width", 1, 1 << 20), height = intArg(info, 2, "height", 1, 1 << 20);
  Napi::Uint8Array frame = frameArg(info, width, height);
  auto number = [&](size_t i, const char* name) {
    if (info.Length() <= i || !info[i].IsNumber()) bad(env, std::string("Expected a number for ") + name);
    const double v = info[i].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(v)) bad(env, std::string("Expected a finite number for ") + name);
    return v;
  };
  cpu::DetectorSample s;
  s.x0 = number(3, "x0");
  s.y0 = number(4, "y0");
  s.kx = number(5, "kx");
  s.ky = number(6, "ky");
  if (!(s.kx > 0 && s.kx <= 4096 && s.ky > 0 && s.ky <= 4096)) bad(env, "Expected kx and ky in (0, 4096] but received " + std::to_string(s.kx) + ", " + std::to_string(s.ky));
  s.width = intArg(info, 7, "outW", 1, 8192);
  s.height = intArg(info, 8, "outH", 1, 8192);
  // Samples per axis (pixels x ceil(k)): their tap tables and the work grow with them. 2^22 is a
  // 4096 px input shrunk 1024-fold, far past any detector input.
  for (const auto& [n, k, name] : {std::tuple{s.width, s.kx, "outW x ceil(kx)"}, std::tuple{s.height, s.ky, "outH x ceil(ky)"}})
    if (static_cast<double>(n) * std::ceil(k) > static_cast<double>(1 << 22)) bad(env, std::string("Expected at most 4194304 samples per axis (") + name + ") but received " + std::to_string(static_cast<double>(n) * std::ceil(k)));
  Napi::Float32Array out = typedArg<Napi::Float32Array>(info, 9, napi_float32_array, "a Float32Array out");
  const int64_t netW = intArg(info, 11, "netW", s.width, 8192), netH = intArg(info, 12, "netH", s.height, 8192);
  const int64_t offset = intArg(info, 10, "offset", 0, static_cast<int64_t>(out.ElementLength()));
  if (offset + 3 * netW * netH > static_cast<int64_t>(out.ElementLength()))
    bad(env, "Expected room for 3 x " + std::to_string(netW) + " x " + std::to_string(netH) + " floats after offset " + std::to_string(offset) + " but out holds " + std::to_string(out.ElementLength()));
  try {
    cpu::sampleDetectorInput(frame.Data(), width, height, s, out.Data() + offset, netW, netH);
  } catch (const std::bad_alloc&) {
    throw makeError(env, ErrorCode::OutOfMemory, "Out of memory sampling the face detector's input");
  }
  return env.Undefined();
}

}  // namespace

void registerImageOps(Napi::Env env, Napi::Object exports) {
  exports.Set("alignCrops", Napi::Function::New(env, AlignCrops));
  exports.Set("pasteBlend", Napi::Function::New(env, PasteBlend));
  exports.Set("sampleDetectorInput", Napi::Function::New(env, SampleDetectorInput));
}

}  // namespace facestyle::napi
