// The Node-API surface of blastkit_cuda.node: probe, contexts (device + stream + cuBLAS handle), device
// buffers with live-memory accounting, and one entry point per kernel. Every entry point checks its buffer
// ids and the element ranges it will touch against the buffers' sizes before anything is enqueued, so a
// wrong size computed in JavaScript is an Error here, never an out-of-bounds access on the device.
//
// Loading this file must work on a machine without a CUDA driver: the CUDA runtime is linked statically and
// looks for libcuda.so.1 only when first called, and nothing below calls it at load time.

#include <dlfcn.h>
#include <node_api.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"
#include "cublas-loader.h"
#include "kernels.h"

#ifndef BLASTKIT_MIN_SM
#define BLASTKIT_MIN_SM 80
#endif
#ifndef BLASTKIT_ARCHS
#define BLASTKIT_ARCHS "unknown"
#endif

namespace bk {
namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991LL;  // 2^53 - 1: integers JavaScript holds exactly
constexpr int kScratchSlots = 4;
constexpr int kAuxSlot = kScratchSlots - 1;  // host data staged by this file (embedding ids, rope tables)
constexpr size_t kStaticSharedLimit = 48 * 1024;  // dynamic shared memory without an opt-in attribute

// ---- contexts and buffers -----------------------------------------------------------------------------

struct Buffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  bool scratch = false;
};

struct Context {
  int device = 0;
  bool open = false;
  bool tf32 = false;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  const CublasApi* api = nullptr;
  std::unordered_map<int64_t, Buffer> buffers;
  int64_t nextId = 1;
  int64_t scratch[kScratchSlots] = {0, 0, 0, 0};
  // live accounting (scratch buffers counted apart: they persist between operations by design)
  int64_t liveBuffers = 0;
  int64_t liveBytes = 0;
  int64_t peakBytes = 0;
  int64_t scratchBuffers = 0;
  int64_t scratchBytes = 0;
  int64_t mallocs = 0;
  int64_t frees = 0;
};

const napi_type_tag kContextTag = {0x6b2f1c0e5a1d4e3bULL, 0x9d7c2a41f0e8b356ULL};

// Frees everything a context holds; used by close() (throwing=true) and by the finalizer (errors ignored).
void releaseContext(Context& c, bool throwing) {
  if (!c.open) return;
  c.open = false;
  std::string firstError;
  auto note = [&](cudaError_t err, const std::string& what) {
    if (err != cudaSuccess && firstError.empty()) firstError = cudaMessage(what, err);
  };
  note(cudaSetDevice(c.device), "cudaSetDevice");
  if (c.stream != nullptr) note(cudaStreamSynchronize(c.stream), "cudaStreamSynchronize (close)");
  for (auto& entry : c.buffers) {
    if (entry.second.ptr != nullptr) note(cudaFree(entry.second.ptr), "cudaFree (close)");
  }
  c.buffers.clear();
  c.liveBuffers = c.liveBytes = c.scratchBuffers = c.scratchBytes = 0;
  if (c.blas != nullptr && c.api != nullptr) {
    const cublasStatus_t st = c.api->destroy(c.blas);
    if (st != CUBLAS_STATUS_SUCCESS && firstError.empty())
      firstError = "cublasDestroy_v2 failed: " + cublasStatusText(*c.api, st);
  }
  c.blas = nullptr;
  if (c.stream != nullptr) note(cudaStreamDestroy(c.stream), "cudaStreamDestroy");
  c.stream = nullptr;
  (void)cudaGetLastError();
  if (throwing && !firstError.empty()) throw Error("close: " + firstError);
}

void finalizeContext(napi_env /*env*/, void* data, void* /*hint*/) {
  auto* c = static_cast<Context*>(data);
  try {
    releaseContext(*c, false);
  } catch (...) {
    // a finalizer must not throw
  }
  delete c;
}

int64_t allocBuffer(Context& c, size_t bytes, bool scratch) {
  void* ptr = nullptr;
  if (bytes > 0) {
    cudaCheck(cudaMalloc(&ptr, bytes), "cudaMalloc(" + std::to_string(bytes) + " bytes)");
    c.mallocs++;
  }
  const int64_t id = c.nextId++;
  c.buffers[id] = Buffer{ptr, bytes, scratch};
  const auto b = static_cast<int64_t>(bytes);
  if (scratch) {
    c.scratchBuffers++;
    c.scratchBytes += b;
  } else {
    c.liveBuffers++;
    c.liveBytes += b;
    c.peakBytes = std::max(c.peakBytes, c.liveBytes);
  }
  return id;
}

void freeBuffer(Context& c, int64_t id, const char* what) {
  auto it = c.buffers.find(id);
  if (it == c.buffers.end()) throw Error(std::string(what) + ": buffer #" + std::to_string(id) + " does not exist");
  const Buffer buf = it->second;
  c.buffers.erase(it);
  const auto b = static_cast<int64_t>(buf.bytes);
  if (buf.scratch) {
    c.scratchBuffers--;
    c.scratchBytes -= b;
  } else {
    c.liveBuffers--;
    c.liveBytes -= b;
  }
  if (buf.ptr != nullptr) {
    c.frees++;
    // cudaFree waits for the device to finish work that may still read the buffer
    cudaCheck(cudaFree(buf.ptr), std::string(what) + ": cudaFree");
  }
}

// A persistent scratch buffer of at least `bytes`, grown (never shrunk) on demand. Reusing it across
// operations is safe because every operation runs on the context's one stream, in order.
int64_t scratchBuffer(Context& c, int slot, size_t bytes) {
  if (slot < 0 || slot >= kScratchSlots) throw Error("scratch: slot " + std::to_string(slot) + " out of range");
  const int64_t current = c.scratch[slot];
  if (current != 0) {
    auto it = c.buffers.find(current);
    if (it != c.buffers.end() && it->second.bytes >= bytes) return current;
    c.scratch[slot] = 0;
    if (it != c.buffers.end()) freeBuffer(c, current, "scratch");
  }
  // round up so a sequence of slightly growing requests does not reallocate each time
  size_t rounded = 256;
  while (rounded < bytes) rounded *= 2;
  c.scratch[slot] = allocBuffer(c, rounded, true);
  return c.scratch[slot];
}

// The device address of bytes [offset, offset + count) of buffer `id`, after checking they lie inside it.
char* byteRange(Context& c, int64_t id, int64_t offset, int64_t count, const std::string& what) {
  auto it = c.buffers.find(id);
  if (it == c.buffers.end())
    throw Error(what + ": buffer #" + std::to_string(id) + " does not exist (freed, or from another context)");
  const Buffer& buf = it->second;
  if (offset < 0 || count < 0 || offset > static_cast<int64_t>(buf.bytes) ||
      count > static_cast<int64_t>(buf.bytes) - offset) {
    throw Error(what + ": bytes [" + std::to_string(offset) + ", " + std::to_string(offset + count) +
                ") lie outside buffer #" + std::to_string(id) + " of " + std::to_string(buf.bytes) + " bytes");
  }
  if (count == 0) return nullptr;
  return static_cast<char*>(buf.ptr) + offset;
}

float* floats(Context& c, int64_t id, int64_t offset, int64_t count, const std::string& what) {
  return reinterpret_cast<float*>(byteRange(c, id, offset * 4, count * 4, what));
}

// Elements a strided view reaches past its first one, plus one: 1 + Σ (dims[i] − 1)·strides[i] (0 if empty).
int64_t extent(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  int64_t e = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 0) return 0;
    e += (dims[i] - 1) * strides[i];
  }
  return e;
}

int64_t product(const std::vector<int64_t>& dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

// ---- N-API argument helpers -----------------------------------------------------------------------------

void napiCheck(napi_status status, const char* what) {
  if (status != napi_ok) throw Error(std::string("N-API ") + what + " failed (status " + std::to_string(status) + ")");
}

class Args {
 public:
  Args(napi_env env, napi_callback_info info, const char* fn) : env_(env), fn_(fn) {
    size_t argc = kMax;
    napi_value argv[kMax];
    napiCheck(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "napi_get_cb_info");
    values_.assign(argv, argv + std::min(argc, kMax));
  }

  napi_env env() const { return env_; }
  const std::string& fn() const { return fn_; }

  // Whether argument i was passed and is not undefined.
  bool has(size_t i) const {
    if (i >= values_.size()) return false;
    napi_valuetype type;
    napiCheck(napi_typeof(env_, values_[i], &type), "napi_typeof");
    return type != napi_undefined;
  }

  napi_value at(size_t i, const char* name) const {
    if (i >= values_.size()) throw Error(fn_ + ": missing argument " + name);
    return values_[i];
  }

  double number(size_t i, const char* name) const {
    napi_valuetype type;
    napiCheck(napi_typeof(env_, at(i, name), &type), "napi_typeof");
    if (type != napi_number) throw Error(fn_ + ": " + name + " must be a number");
    double v = 0;
    napiCheck(napi_get_value_double(env_, values_[i], &v), "napi_get_value_double");
    return v;
  }

  // An integer in [lo, hi]; JavaScript numbers are doubles, so anything fractional or out of range is refused.
  int64_t integer(size_t i, const char* name, int64_t lo = 0, int64_t hi = kMaxSafeInteger) const {
    const double v = number(i, name);
    if (!std::isfinite(v) || std::floor(v) != v || v < static_cast<double>(lo) || v > static_cast<double>(hi)) {
      throw Error(fn_ + ": " + name + " = " + std::to_string(v) + " must be an integer in [" + std::to_string(lo) +
                  ", " + std::to_string(hi) + "]");
    }
    return static_cast<int64_t>(v);
  }

  bool flag(size_t i, const char* name) const {
    bool v = false;
    napi_valuetype type;
    napiCheck(napi_typeof(env_, at(i, name), &type), "napi_typeof");
    if (type != napi_boolean) throw Error(fn_ + ": " + name + " must be a boolean");
    napiCheck(napi_get_value_bool(env_, values_[i], &v), "napi_get_value_bool");
    return v;
  }

  std::vector<int64_t> integers(size_t i, const char* name, int64_t lo = 0) const {
    napi_value arr = at(i, name);
    bool isArray = false;
    napiCheck(napi_is_array(env_, arr, &isArray), "napi_is_array");
    if (!isArray) throw Error(fn_ + ": " + name + " must be an array of integers");
    uint32_t length = 0;
    napiCheck(napi_get_array_length(env_, arr, &length), "napi_get_array_length");
    std::vector<int64_t> out(length);
    for (uint32_t k = 0; k < length; ++k) {
      napi_value el;
      napiCheck(napi_get_element(env_, arr, k, &el), "napi_get_element");
      double v = 0;
      if (napi_get_value_double(env_, el, &v) != napi_ok || !std::isfinite(v) || std::floor(v) != v ||
          v < static_cast<double>(lo) || v > static_cast<double>(kMaxSafeInteger)) {
        throw Error(fn_ + ": " + name + "[" + std::to_string(k) + "] must be an integer ≥ " + std::to_string(lo));
      }
      out[k] = static_cast<int64_t>(v);
    }
    return out;
  }

  // The bytes of a typed array argument (any element type); `type` receives its element type.
  void* typedArray(size_t i, const char* name, napi_typedarray_type* type, size_t* length) const {
    napi_value v = at(i, name);
    bool isTyped = false;
    napiCheck(napi_is_typedarray(env_, v, &isTyped), "napi_is_typedarray");
    if (!isTyped) throw Error(fn_ + ": " + name + " must be a typed array");
    void* data = nullptr;
    napi_value buffer;
    size_t offset = 0;
    napiCheck(napi_get_typedarray_info(env_, v, type, length, &data, &buffer, &offset), "napi_get_typedarray_info");
    return data;  // already advanced by the view's byte offset
  }

  // The Context behind a handle made by open(), whether open or closed.
  Context& anyContext(size_t i) const {
    napi_value v = at(i, "context");
    napi_valuetype type;
    napiCheck(napi_typeof(env_, v, &type), "napi_typeof");
    bool tagged = false;
    if (type == napi_object)
      napiCheck(napi_check_object_type_tag(env_, v, &kContextTag, &tagged), "napi_check_object_type_tag");
    if (!tagged) throw Error(fn_ + ": the first argument is not a context of this addon");
    void* data = nullptr;
    napiCheck(napi_unwrap(env_, v, &data), "napi_unwrap");
    return *static_cast<Context*>(data);
  }

  // An open Context, made current on this thread.
  Context& context(size_t i) const {
    Context* c = &anyContext(i);
    if (!c->open) throw Error(fn_ + ": the backend is closed");
    cudaCheck(cudaSetDevice(c->device), fn_ + ": cudaSetDevice(" + std::to_string(c->device) + ")");
    return *c;
  }

 private:
  static constexpr size_t kMax = 32;
  napi_env env_;
  std::string fn_;
  std::vector<napi_value> values_;
};

napi_value undefinedValue(napi_env env) {
  napi_value v;
  napiCheck(napi_get_undefined(env, &v), "napi_get_undefined");
  return v;
}

napi_value numberValue(napi_env env, double x) {
  napi_value v;
  napiCheck(napi_create_double(env, x, &v), "napi_create_double");
  return v;
}

napi_value stringValue(napi_env env, const std::string& s) {
  napi_value v;
  napiCheck(napi_create_string_utf8(env, s.c_str(), s.size(), &v), "napi_create_string_utf8");
  return v;
}

napi_value boolValue(napi_env env, bool b) {
  napi_value v;
  napiCheck(napi_get_boolean(env, b, &v), "napi_get_boolean");
  return v;
}

void setProperty(napi_env env, napi_value obj, const char* key, napi_value value) {
  napiCheck(napi_set_named_property(env, obj, key, value), "napi_set_named_property");
}

StridedShape stridedShape(const std::string& fn, const std::vector<int64_t>& dims, const std::vector<int64_t>& a,
                          const std::vector<int64_t>& b) {
  if (dims.size() > static_cast<size_t>(kMaxRank))
    throw Error(fn + ": rank " + std::to_string(dims.size()) + " exceeds " + std::to_string(kMaxRank));
  if (a.size() != dims.size() || b.size() != dims.size())
    throw Error(fn + ": strides must have one entry per axis");
  StridedShape sh{};
  sh.rank = static_cast<int>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    sh.dims[i] = dims[i];
    sh.strideA[i] = a[i];
    sh.strideB[i] = b[i];
  }
  return sh;
}

void requireInt32(const std::string& fn, const char* name, int64_t v) {
  if (v > INT_MAX) throw Error(fn + ": " + name + " = " + std::to_string(v) + " exceeds cuBLAS's int range");
}

// ---- entry points ---------------------------------------------------------------------------------------

// probe([device]) → { available, reason?, stage?, device?, … }; never throws for a missing driver or device.
napi_value Probe(Args& a) {
  napi_env env = a.env();
  napi_value out;
  napiCheck(napi_create_object(env, &out), "napi_create_object");
  int64_t device = 0;
  if (a.has(0)) device = a.integer(0, "device", 0, 1024);
  int runtimeVersion = 0;
  if (cudaRuntimeGetVersion(&runtimeVersion) == cudaSuccess)
    setProperty(env, out, "runtimeVersion", numberValue(env, runtimeVersion));
  setProperty(env, out, "archs", stringValue(env, BLASTKIT_ARCHS));
  auto fail = [&](const char* stage, const std::string& reason) {
    setProperty(env, out, "available", boolValue(env, false));
    setProperty(env, out, "stage", stringValue(env, stage));
    setProperty(env, out, "reason", stringValue(env, reason));
    (void)cudaGetLastError();
    return out;
  };
  // the CUDA runtime would report a missing driver too, but dlerror says which file and why
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (driver == nullptr) {
    const char* err = dlerror();
    return fail("driver", std::string("no CUDA driver: dlopen(libcuda.so.1) failed: ") + (err ? err : "unknown error"));
  }
  // (kept open: the CUDA runtime opens the same library)
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorNoDevice) return fail("device", cudaMessage("no CUDA device: cudaGetDeviceCount", err));
  if (err != cudaSuccess) return fail("driver", cudaMessage("no usable CUDA driver: cudaGetDeviceCount", err));
  int driverVersion = 0;
  if (cudaDriverGetVersion(&driverVersion) == cudaSuccess)
    setProperty(env, out, "driverVersion", numberValue(env, driverVersion));
  setProperty(env, out, "deviceCount", numberValue(env, count));
  if (count == 0) return fail("device", "no CUDA device: cudaGetDeviceCount found 0 devices");
  if (device >= count)
    return fail("device", "no CUDA device " + std::to_string(device) + ": only " + std::to_string(count) + " present");
  cudaDeviceProp prop;
  const cudaError_t perr = cudaGetDeviceProperties(&prop, static_cast<int>(device));
  if (perr != cudaSuccess) return fail("device", cudaMessage("cudaGetDeviceProperties", perr));
  const double gib = static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0);
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f", gib);
  const std::string desc = std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
                           std::to_string(prop.minor) + ", " + mem + " GiB)";
  setProperty(env, out, "device", stringValue(env, desc));
  setProperty(env, out, "computeCapability", numberValue(env, prop.major * 10 + prop.minor));
  if (prop.major * 10 + prop.minor < BLASTKIT_MIN_SM) {
    return fail("device", "CUDA device " + desc + " is older than this build's oldest target sm_" +
                              std::to_string(BLASTKIT_MIN_SM) + " (archs " + BLASTKIT_ARCHS + ")");
  }
  std::string why;
  const CublasApi* api = loadCublas(&why);
  if (api == nullptr) return fail("cublas", "no cuBLAS: " + why);
  setProperty(env, out, "cublas", stringValue(env, api->soname + (api->version.empty() ? "" : " " + api->version)));
  setProperty(env, out, "available", boolValue(env, true));
  return out;
}

// open(device, tf32) → context (an opaque object)
napi_value Open(Args& a) {
  napi_env env = a.env();
  const int device = static_cast<int>(a.integer(0, "device", 0, 1024));
  const bool tf32 = a.flag(1, "tf32");
  // the driver first (its absence is the likelier reason), then cuBLAS
  cudaCheck(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
  std::string why;
  const CublasApi* api = loadCublas(&why);
  if (api == nullptr) throw Error("no cuBLAS: " + why);
  auto* c = new Context();
  c->device = device;
  c->tf32 = tf32;
  c->api = api;
  c->open = true;
  try {
    cudaCheck(cudaFree(nullptr), "cudaFree(0) (creating the CUDA context)");
    cudaCheck(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    cublasCheck(*api, api->create(&c->blas), "cublasCreate_v2");
    cublasCheck(*api, api->setStream(c->blas, c->stream), "cublasSetStream_v2");
    // default math: no TF32 unless asked for through the compute type of each GEMM
    cublasCheck(*api, api->setMathMode(c->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  } catch (...) {
    releaseContext(*c, false);
    delete c;
    throw;
  }
  // a plain object owning the context (napi_wrap): its finalizer releases what close() was not called for
  napi_value handle;
  napi_status st = napi_create_object(env, &handle);
  if (st == napi_ok) st = napi_wrap(env, handle, c, finalizeContext, nullptr, nullptr);
  if (st != napi_ok) {
    releaseContext(*c, false);
    delete c;
    napiCheck(st, "napi_wrap");
  }
  napiCheck(napi_type_tag_object(env, handle, &kContextTag), "napi_type_tag_object");
  return handle;
}

napi_value Close(Args& a) {
  releaseContext(a.anyContext(0), true);  // a second close is a no-op
  return undefinedValue(a.env());
}

napi_value Stats(Args& a) {
  Context& c = a.context(0);
  napi_env env = a.env();
  napi_value out;
  napiCheck(napi_create_object(env, &out), "napi_create_object");
  setProperty(env, out, "buffers", numberValue(env, static_cast<double>(c.liveBuffers)));
  setProperty(env, out, "bytes", numberValue(env, static_cast<double>(c.liveBytes)));
  setProperty(env, out, "peakBytes", numberValue(env, static_cast<double>(c.peakBytes)));
  setProperty(env, out, "scratchBuffers", numberValue(env, static_cast<double>(c.scratchBuffers)));
  setProperty(env, out, "scratchBytes", numberValue(env, static_cast<double>(c.scratchBytes)));
  setProperty(env, out, "mallocs", numberValue(env, static_cast<double>(c.mallocs)));
  setProperty(env, out, "frees", numberValue(env, static_cast<double>(c.frees)));
  return out;
}

napi_value Alloc(Args& a) {
  Context& c = a.context(0);
  const int64_t bytes = a.integer(1, "bytes");
  return numberValue(a.env(), static_cast<double>(allocBuffer(c, static_cast<size_t>(bytes), false)));
}

napi_value Free(Args& a) {
  Context& c = a.context(0);
  const int64_t id = a.integer(1, "buffer");
  auto it = c.buffers.find(id);
  if (it != c.buffers.end() && it->second.scratch) throw Error("free: buffer #" + std::to_string(id) + " is scratch");
  freeBuffer(c, id, "free");
  return undefinedValue(a.env());
}

napi_value Scratch(Args& a) {
  Context& c = a.context(0);
  const int slot = static_cast<int>(a.integer(1, "slot", 0, kAuxSlot - 1));
  const int64_t bytes = a.integer(2, "bytes");
  return numberValue(a.env(), static_cast<double>(scratchBuffer(c, slot, static_cast<size_t>(bytes))));
}

// Host → device, then waits: the JavaScript array may change as soon as this returns.
void upload(Context& c, char* dst, const void* src, size_t bytes, const std::string& what) {
  if (bytes == 0) return;
  cudaCheck(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c.stream), what + ": cudaMemcpyAsync");
  cudaCheck(cudaStreamSynchronize(c.stream), what + ": cudaStreamSynchronize");
}

// write(ctx, buffer, byteOffset, typedArray)
napi_value Write(Args& a) {
  Context& c = a.context(0);
  const int64_t id = a.integer(1, "buffer");
  const int64_t offset = a.integer(2, "byteOffset");
  napi_typedarray_type type;
  size_t length = 0;
  void* data = a.typedArray(3, "data", &type, &length);
  size_t elem = 1;
  switch (type) {
    case napi_float32_array:
    case napi_int32_array:
    case napi_uint32_array: elem = 4; break;
    case napi_int16_array:
    case napi_uint16_array: elem = 2; break;
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: elem = 1; break;
    default: throw Error("write: data must be a typed array of 1-, 2- or 4-byte elements");
  }
  const auto bytes = static_cast<int64_t>(length * elem);
  char* dst = byteRange(c, id, offset, bytes, "write");
  upload(c, dst, data, static_cast<size_t>(bytes), "write");
  return undefinedValue(a.env());
}

// read(ctx, buffer, elementOffset, count) → Float32Array; waits for all work queued before it.
napi_value Read(Args& a) {
  Context& c = a.context(0);
  const int64_t id = a.integer(1, "buffer");
  const int64_t offset = a.integer(2, "offset");
  const int64_t count = a.integer(3, "count");
  const float* src = floats(c, id, offset, count, "read");
  napi_env env = a.env();
  void* host = nullptr;
  napi_value arrayBuffer;
  napiCheck(napi_create_arraybuffer(env, static_cast<size_t>(count) * 4, &host, &arrayBuffer),
            "napi_create_arraybuffer");
  if (count > 0) {
    cudaCheck(cudaMemcpyAsync(host, src, static_cast<size_t>(count) * 4, cudaMemcpyDeviceToHost, c.stream),
              "read: cudaMemcpyAsync");
  }
  // also where asynchronous errors of earlier kernels surface
  cudaCheck(cudaStreamSynchronize(c.stream), "read: cudaStreamSynchronize");
  napi_value out;
  napiCheck(napi_create_typedarray(env, napi_float32_array, static_cast<size_t>(count), arrayBuffer, 0, &out),
            "napi_create_typedarray");
  return out;
}

// copy(ctx, dst, dstOffset, src, srcOffset, count): float elements, device to device, in stream order.
napi_value Copy(Args& a) {
  Context& c = a.context(0);
  const int64_t count = a.integer(5, "count");
  float* dst = floats(c, a.integer(1, "dst"), a.integer(2, "dstOffset"), count, "copy destination");
  const float* src = floats(c, a.integer(3, "src"), a.integer(4, "srcOffset"), count, "copy source");
  if (count > 0) {
    cudaCheck(cudaMemcpyAsync(dst, src, static_cast<size_t>(count) * 4, cudaMemcpyDeviceToDevice, c.stream),
              "copy: cudaMemcpyAsync");
  }
  return undefinedValue(a.env());
}

napi_value Synchronize(Args& a) {
  Context& c = a.context(0);
  cudaCheck(cudaStreamSynchronize(c.stream), "cudaStreamSynchronize");
  return undefinedValue(a.env());
}

// gemm(ctx, dtype, opA, opB, m, n, k, A, aOffset, lda, strideA, B, bOffset, ldb, strideB,
//      C, cOffset, ldc, strideC, batch, beta)
// Exactly cublasGemmStridedBatchedEx's column-major contract with alpha = 1: C_i = op(A_i)·op(B_i) + β·C_i,
// A and B of `dtype` (0 f32, 2 f16, 14 bf16; offsets and strides in their elements), C always f32, f32
// accumulation (TF32 inputs when the context was opened with tf32 and dtype is f32). Row-major callers
// swap the operands (src/kernels/gemm.ts).
napi_value Gemm(Args& a) {
  Context& c = a.context(0);
  const std::string& fn = a.fn();
  const int dtype = static_cast<int>(a.integer(1, "dtype", 0, 14));
  if (dtype != CUDA_R_32F && dtype != CUDA_R_16F && dtype != CUDA_R_16BF)
    throw Error(fn + ": dtype " + std::to_string(dtype) + " is not f32 (0), f16 (2) or bf16 (14)");
  const int opA = static_cast<int>(a.integer(2, "opA", 0, 1));
  const int opB = static_cast<int>(a.integer(3, "opB", 0, 1));
  const int64_t m = a.integer(4, "m"), n = a.integer(5, "n"), k = a.integer(6, "k");
  const int64_t idA = a.integer(7, "A"), offA = a.integer(8, "aOffset"), lda = a.integer(9, "lda", 1);
  const int64_t strideA = a.integer(10, "strideA");
  const int64_t idB = a.integer(11, "B"), offB = a.integer(12, "bOffset"), ldb = a.integer(13, "ldb", 1);
  const int64_t strideB = a.integer(14, "strideB");
  const int64_t idC = a.integer(15, "C"), offC = a.integer(16, "cOffset"), ldc = a.integer(17, "ldc", 1);
  const int64_t strideC = a.integer(18, "strideC");
  const int64_t batch = a.integer(19, "batch");
  const float beta = static_cast<float>(a.number(20, "beta"));
  for (auto [v, name] : {std::pair<int64_t, const char*>{m, "m"}, {n, "n"}, {k, "k"}, {lda, "lda"}, {ldb, "ldb"},
                         {ldc, "ldc"}, {batch, "batch"}})
    requireInt32(fn, name, v);
  // column-major: op(A) is m×k, op(B) is k×n, C is m×n
  const int64_t rowsA = opA == CUBLAS_OP_N ? m : k, colsA = opA == CUBLAS_OP_N ? k : m;
  const int64_t rowsB = opB == CUBLAS_OP_N ? k : n, colsB = opB == CUBLAS_OP_N ? n : k;
  if (lda < rowsA || ldb < rowsB || ldc < m) {
    throw Error(fn + ": leading dimensions lda=" + std::to_string(lda) + " ldb=" + std::to_string(ldb) +
                " ldc=" + std::to_string(ldc) + " are below the rows " + std::to_string(rowsA) + ", " +
                std::to_string(rowsB) + ", " + std::to_string(m));
  }
  if (m == 0 || n == 0 || batch == 0) return undefinedValue(a.env());
  const int64_t elem = dtype == CUDA_R_32F ? 4 : 2;
  auto reach = [](int64_t b, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
    return rows == 0 || cols == 0 ? 0 : (b - 1) * stride + (cols - 1) * ld + rows;
  };
  const int64_t extentA = reach(batch, strideA, rowsA, colsA, lda);
  const int64_t extentB = reach(batch, strideB, rowsB, colsB, ldb);
  const int64_t extentC = reach(batch, strideC, m, n, ldc);
  char* pa = byteRange(c, idA, offA * elem, extentA * elem, fn + " A");
  char* pb = byteRange(c, idB, offB * elem, extentB * elem, fn + " B");
  float* pc = floats(c, idC, offC, extentC, fn + " C");
  if (batch > 1) {
    // the outputs must not overlap: either one after another, or side by side within each column (the
    // column blocks of a wider row-major output, as the structured forwards write them)
    const bool consecutive = strideC >= ldc * (n - 1) + m;
    const bool sideBySide = strideC >= m && (batch - 1) * strideC + m <= ldc;
    if (!consecutive && !sideBySide) {
      throw Error(fn + ": the " + std::to_string(batch) + " output matrices overlap (m=" + std::to_string(m) +
                  " n=" + std::to_string(n) + " ldc=" + std::to_string(ldc) + " strideC=" + std::to_string(strideC) + ")");
    }
  }
  if (k == 0) {
    launchScaleMatrix(pc, m, n, ldc, strideC, batch, beta, c.stream);
    return undefinedValue(a.env());
  }
  const float alpha = 1.0f;
  const cublasComputeType_t compute =
      dtype == CUDA_R_32F && c.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const auto type = static_cast<cudaDataType_t>(dtype);
  const CublasApi& api = *c.api;
  if (batch == 1) {
    cublasCheck(api,
                api.gemmEx(c.blas, opA, opB, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha,
                           pa, type, static_cast<int>(lda), pb, type, static_cast<int>(ldb), &beta, pc, CUDA_R_32F,
                           static_cast<int>(ldc), compute, CUBLAS_GEMM_DEFAULT),
                "cublasGemmEx");
  } else {
    cublasCheck(api,
                api.gemmStridedBatchedEx(c.blas, opA, opB, static_cast<int>(m), static_cast<int>(n),
                                         static_cast<int>(k), &alpha, pa, type, static_cast<int>(lda), strideA, pb,
                                         type, static_cast<int>(ldb), strideB, &beta, pc, CUDA_R_32F,
                                         static_cast<int>(ldc), strideC, static_cast<int>(batch), compute,
                                         CUBLAS_GEMM_DEFAULT),
                "cublasGemmStridedBatchedEx");
  }
  return undefinedValue(a.env());
}

// addBias(ctx, y, bias, rows, cols)
napi_value AddBias(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(3, "rows"), cols = a.integer(4, "cols");
  float* y = floats(c, a.integer(1, "y"), 0, rows * cols, "addBias y");
  const float* bias = floats(c, a.integer(2, "bias"), 0, cols, "addBias bias");
  launchAddBias(y, bias, rows, cols, c.stream);
  return undefinedValue(a.env());
}

// blastMix(ctx, Z, D, W, b, n, r, transpose)
napi_value BlastMix(Args& a) {
  Context& c = a.context(0);
  const int64_t b = a.integer(4, "b", 1, INT_MAX), n = a.integer(5, "n"), r = a.integer(6, "r");
  const bool transpose = a.flag(7, "transpose");
  const float* z = floats(c, a.integer(1, "Z"), 0, b * n * r, "blastMix Z");
  const float* d = floats(c, a.integer(2, "D"), 0, b * b * r, "blastMix D");
  float* w = floats(c, a.integer(3, "W"), 0, b * n * r, "blastMix W");
  launchBlastMix(z, d, w, b, n, r, transpose, c.stream);
  return undefinedValue(a.env());
}

// binary(ctx, op, out, a, aOffset, b, bOffset, dims, stridesA, stridesB)
napi_value Binary(Args& a) {
  Context& c = a.context(0);
  const int op = static_cast<int>(a.integer(1, "op", 0, 2));
  const auto dims = a.integers(7, "dims");
  const auto sa = a.integers(8, "stridesA");
  const auto sb = a.integers(9, "stridesB");
  const StridedShape sh = stridedShape(a.fn(), dims, sa, sb);
  const int64_t count = product(dims);
  float* out = floats(c, a.integer(2, "out"), 0, count, "binary out");
  const float* pa = floats(c, a.integer(3, "a"), a.integer(4, "aOffset"), extent(dims, sa), "binary a");
  const float* pb = floats(c, a.integer(5, "b"), a.integer(6, "bOffset"), extent(dims, sb), "binary b");
  launchBinary(op, out, pa, pb, count, sh, c.stream);
  return undefinedValue(a.env());
}

// scale(ctx, out, a, count, alpha, beta)
napi_value Scale(Args& a) {
  Context& c = a.context(0);
  const int64_t count = a.integer(3, "count");
  float* out = floats(c, a.integer(1, "out"), 0, count, "scale out");
  const float* x = floats(c, a.integer(2, "a"), 0, count, "scale a");
  launchScale(out, x, count, a.number(4, "alpha"), a.number(5, "beta"), c.stream);
  return undefinedValue(a.env());
}

// unary(ctx, op, out, x, count)
napi_value Unary(Args& a) {
  Context& c = a.context(0);
  const int op = static_cast<int>(a.integer(1, "op", 0, kUnaryOpCount - 1));
  const int64_t count = a.integer(4, "count");
  float* out = floats(c, a.integer(2, "out"), 0, count, "unary out");
  const float* x = floats(c, a.integer(3, "x"), 0, count, "unary x");
  launchUnary(op, out, x, count, c.stream);
  return undefinedValue(a.env());
}

// softmax(ctx, out, x, rows, width)
napi_value Softmax(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(3, "rows"), width = a.integer(4, "width");
  float* out = floats(c, a.integer(1, "out"), 0, rows * width, "softmax out");
  const float* x = floats(c, a.integer(2, "x"), 0, rows * width, "softmax x");
  launchSoftmax(out, x, rows, width, c.stream);
  return undefinedValue(a.env());
}

// rmsNorm(ctx, out, x, weight, rows, width, eps)
napi_value RmsNorm(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(4, "rows"), width = a.integer(5, "width");
  float* out = floats(c, a.integer(1, "out"), 0, rows * width, "rmsNorm out");
  const float* x = floats(c, a.integer(2, "x"), 0, rows * width, "rmsNorm x");
  const float* w = floats(c, a.integer(3, "weight"), 0, width, "rmsNorm weight");
  launchRmsNorm(out, x, w, rows, width, static_cast<float>(a.number(6, "eps")), c.stream);
  return undefinedValue(a.env());
}

// layerNorm(ctx, out, x, weight, bias, rows, width, eps)
napi_value LayerNorm(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(5, "rows"), width = a.integer(6, "width");
  float* out = floats(c, a.integer(1, "out"), 0, rows * width, "layerNorm out");
  const float* x = floats(c, a.integer(2, "x"), 0, rows * width, "layerNorm x");
  const float* w = floats(c, a.integer(3, "weight"), 0, width, "layerNorm weight");
  const float* b = floats(c, a.integer(4, "bias"), 0, width, "layerNorm bias");
  launchLayerNorm(out, x, w, b, rows, width, static_cast<float>(a.number(7, "eps")), c.stream);
  return undefinedValue(a.env());
}

// rope(ctx, out, x, n, heads, headDim, halfDim, interleaved, table: Float32Array [2·n·halfDim])
napi_value Rope(Args& a) {
  Context& c = a.context(0);
  const int64_t n = a.integer(3, "n"), heads = a.integer(4, "heads"), headDim = a.integer(5, "headDim");
  const int64_t halfDim = a.integer(6, "halfDim");
  const bool interleaved = a.flag(7, "interleaved");
  if (2 * halfDim > headDim) throw Error("rope: 2·halfDim exceeds headDim");
  napi_typedarray_type type;
  size_t length = 0;
  const void* table = a.typedArray(8, "table", &type, &length);
  if (type != napi_float32_array || static_cast<int64_t>(length) != 2 * n * halfDim)
    throw Error("rope: table must be a Float32Array of 2·n·halfDim = " + std::to_string(2 * n * halfDim) + " entries");
  const int64_t count = n * heads * headDim;
  float* out = floats(c, a.integer(1, "out"), 0, count, "rope out");
  const float* x = floats(c, a.integer(2, "x"), 0, count, "rope x");
  if (count == 0) return undefinedValue(a.env());
  cudaCheck(cudaMemcpyAsync(out, x, static_cast<size_t>(count) * 4, cudaMemcpyDeviceToDevice, c.stream),
            "rope: cudaMemcpyAsync (copy of x)");
  if (halfDim == 0) return undefinedValue(a.env());
  const size_t tableBytes = length * 4;
  const int64_t aux = scratchBuffer(c, kAuxSlot, tableBytes);
  char* dev = byteRange(c, aux, 0, static_cast<int64_t>(tableBytes), "rope table");
  upload(c, dev, table, tableBytes, "rope table");
  launchRope(out, x, reinterpret_cast<const float*>(dev), n, heads, headDim, halfDim, interleaved, c.stream);
  return undefinedValue(a.env());
}

// embedding(ctx, out, table, vocab, d, ids: Int32Array)
napi_value Embedding(Args& a) {
  Context& c = a.context(0);
  const int64_t vocab = a.integer(3, "vocab"), d = a.integer(4, "d");
  napi_typedarray_type type;
  size_t length = 0;
  const void* idsData = a.typedArray(5, "ids", &type, &length);
  if (type != napi_int32_array) throw Error("embedding: ids must be an Int32Array");
  const auto* ids = static_cast<const int32_t*>(idsData);
  for (size_t t = 0; t < length; ++t) {
    if (ids[t] < 0 || ids[t] >= vocab) {
      throw Error("embedding: id " + std::to_string(ids[t]) + " at position " + std::to_string(t) +
                  " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  const auto count = static_cast<int64_t>(length);
  float* out = floats(c, a.integer(1, "out"), 0, count * d, "embedding out");
  const float* table = floats(c, a.integer(2, "table"), 0, vocab * d, "embedding table");
  if (count * d == 0) return undefinedValue(a.env());
  const int64_t aux = scratchBuffer(c, kAuxSlot, length * 4);
  char* dev = byteRange(c, aux, 0, count * 4, "embedding ids");
  upload(c, dev, ids, length * 4, "embedding ids");
  launchEmbedding(out, table, reinterpret_cast<const int32_t*>(dev), count, d, c.stream);
  return undefinedValue(a.env());
}

// attention(ctx, out, q, k, v, n, hq, s, hkv, d, causal, scale, queryOffset)
napi_value Attention(Args& a) {
  Context& c = a.context(0);
  const int64_t n = a.integer(5, "n"), hq = a.integer(6, "hq"), s = a.integer(7, "s");
  const int64_t hkv = a.integer(8, "hkv", 1), d = a.integer(9, "d");
  const bool causal = a.flag(10, "causal");
  const float scale = static_cast<float>(a.number(11, "scale"));
  const int64_t queryOffset = a.integer(12, "queryOffset", -kMaxSafeInteger);
  if (hq % hkv != 0) throw Error("attention: query heads must be a multiple of key/value heads");
  if (attentionSharedBytes(d) > kStaticSharedLimit)
    throw Error("attention: head size " + std::to_string(d) + " needs more than 48 KiB of shared memory");
  float* out = floats(c, a.integer(1, "out"), 0, n * hq * d, "attention out");
  const float* q = floats(c, a.integer(2, "q"), 0, n * hq * d, "attention q");
  const float* k = floats(c, a.integer(3, "k"), 0, s * hkv * d, "attention k");
  const float* v = floats(c, a.integer(4, "v"), 0, s * hkv * d, "attention v");
  launchAttention(out, q, k, v, n, hq, s, hkv, d, causal, scale, queryOffset, c.stream);
  return undefinedValue(a.env());
}

// stridedCopy(ctx, dst, dstOffset, src, srcOffset, dims, srcStrides, dstStrides)
napi_value StridedCopy(Args& a) {
  Context& c = a.context(0);
  const auto dims = a.integers(5, "dims");
  const auto srcStrides = a.integers(6, "srcStrides");
  const auto dstStrides = a.integers(7, "dstStrides");
  const StridedShape sh = stridedShape(a.fn(), dims, srcStrides, dstStrides);
  float* dst = floats(c, a.integer(1, "dst"), a.integer(2, "dstOffset"), extent(dims, dstStrides), "stridedCopy dst");
  const float* src =
      floats(c, a.integer(3, "src"), a.integer(4, "srcOffset"), extent(dims, srcStrides), "stridedCopy src");
  launchStridedCopy(dst, src, product(dims), sh, c.stream);
  return undefinedValue(a.env());
}

// reduce(ctx, op, out, x, outer, len, inner)
napi_value Reduce(Args& a) {
  Context& c = a.context(0);
  const int op = static_cast<int>(a.integer(1, "op", 0, kReduceOpCount - 1));
  const int64_t outer = a.integer(4, "outer"), len = a.integer(5, "len"), inner = a.integer(6, "inner");
  if (len == 0 && (op == kMax || op == kMin)) throw Error("reduce: max/min of an empty axis");
  float* out = floats(c, a.integer(2, "out"), 0, outer * inner, "reduce out");
  const float* x = floats(c, a.integer(3, "x"), 0, outer * len * inner, "reduce x");
  launchReduce(op, out, x, outer, len, inner, c.stream);
  return undefinedValue(a.env());
}

// argmax(ctx, out, x, rows, width)
napi_value Argmax(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(3, "rows"), width = a.integer(4, "width");
  if (width == 0 && rows > 0) throw Error("argmax: empty last axis");
  float* out = floats(c, a.integer(1, "out"), 0, rows, "argmax out");
  const float* x = floats(c, a.integer(2, "x"), 0, rows * width, "argmax x");
  launchArgmax(out, x, rows, width, c.stream);
  return undefinedValue(a.env());
}

// castHalf(ctx, dtype, dst, src, count): f32 buffer → f16 (2) or bf16 (14) buffer
napi_value CastHalf(Args& a) {
  Context& c = a.context(0);
  const int dtype = static_cast<int>(a.integer(1, "dtype", 0, 14));
  if (dtype != CUDA_R_16F && dtype != CUDA_R_16BF) throw Error("castHalf: dtype must be 2 (f16) or 14 (bf16)");
  const int64_t count = a.integer(4, "count");
  char* dst = byteRange(c, a.integer(2, "dst"), 0, count * 2, "castHalf dst");
  const float* src = floats(c, a.integer(3, "src"), 0, count, "castHalf src");
  launchCastHalf(dtype, dst, src, count, c.stream);
  return undefinedValue(a.env());
}

// ---- registration ---------------------------------------------------------------------------------------

using Impl = napi_value (*)(Args&);

// Runs an entry point, turning any C++ exception into a thrown JS Error with its message.
napi_value guarded(napi_env env, napi_callback_info info, const char* name, Impl impl) {
  try {
    Args args(env, info, name);
    return impl(args);
  } catch (const std::exception& e) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, nullptr, e.what());
  } catch (...) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, nullptr, (std::string(name) + ": unknown native error").c_str());
  }
  return nullptr;
}

#define BK_ENTRIES(X)                                                                                    \
  X(probe, Probe)                                                                                       \
  X(open, Open)                                                                                         \
  X(close, Close)                                                                                       \
  X(stats, Stats)                                                                                       \
  X(alloc, Alloc)                                                                                       \
  X(free, Free)                                                                                         \
  X(scratch, Scratch)                                                                                   \
  X(write, Write)                                                                                       \
  X(read, Read)                                                                                         \
  X(copy, Copy)                                                                                         \
  X(synchronize, Synchronize)                                                                           \
  X(gemm, Gemm)                                                                                         \
  X(addBias, AddBias)                                                                                   \
  X(blastMix, BlastMix)                                                                                 \
  X(binary, Binary)                                                                                     \
  X(scale, Scale)                                                                                       \
  X(unary, Unary)                                                                                       \
  X(softmax, Softmax)                                                                                   \
  X(rmsNorm, RmsNorm)                                                                                   \
  X(layerNorm, LayerNorm)                                                                               \
  X(rope, Rope)                                                                                         \
  X(embedding, Embedding)                                                                               \
  X(attention, Attention)                                                                               \
  X(stridedCopy, StridedCopy)                                                                           \
  X(reduce, Reduce)                                                                                     \
  X(argmax, Argmax)                                                                                     \
  X(castHalf, CastHalf)

#define BK_WRAPPER(js, impl) \
  napi_value impl##Entry(napi_env env, napi_callback_info info) { return guarded(env, info, #js, impl); }
BK_ENTRIES(BK_WRAPPER)
#undef BK_WRAPPER

}  // namespace
}  // namespace bk

NAPI_MODULE_INIT() {
#define BK_PROPERTY(js, impl) {#js, nullptr, bk::impl##Entry, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  const napi_property_descriptor properties[] = {BK_ENTRIES(BK_PROPERTY)};
#undef BK_PROPERTY
  if (napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties) != napi_ok)
    return nullptr;
  napi_value archs;
  if (napi_create_string_utf8(env, BLASTKIT_ARCHS, NAPI_AUTO_LENGTH, &archs) == napi_ok)
    napi_set_named_property(env, exports, "archs", archs);
  return exports;
}
