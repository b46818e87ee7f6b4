// The Node-API surface of blastkit_native.node: contexts (a thread pool, tensor buffers, a free-list pool,
// scratch), buffer transfer, and one entry point per kernel. Every entry point checks its buffer ids and the
// element ranges it will touch against the buffers' sizes before any kernel runs, so a wrong size computed in
// JavaScript is an Error here, never an out-of-bounds access.

#include <node_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common.h"

#ifndef BLASTKIT_VARIANT
#define BLASTKIT_VARIANT "generic"
#endif

namespace bk {
namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991LL;  // 2^53 - 1
constexpr size_t kPoolLimitBytes = size_t{1} << 30;       // freed buffers kept for reuse, at most

// ---- contexts and buffers -----------------------------------------------------------------------------

struct Buffer {
  void* ptr = nullptr;
  size_t bytes = 0;     // what was asked for: the bounds every access is checked against
  size_t capacity = 0;  // what was allocated: the size class (sizeClass) the pool files it under
};

// The pool's size classes: 64-byte steps up to 4 KiB, then 8 steps per doubling (at most 12.5% unused). A
// tensor that grows by a row per token (the KV cache) then reuses the buffer freed a step or two before instead
// of asking the system for fresh pages every token, and the pool holds a few dozen sizes, not one per length.
size_t sizeClass(size_t bytes) {
  if (bytes <= 4096) return (bytes + 63) / 64 * 64;
  const int top = 63 - __builtin_clzll(bytes);  // 2^top ≤ bytes < 2^(top+1)
  const size_t step = size_t{1} << (top - 3);
  return (bytes + step - 1) / step * step;
}

struct Context {
  bool open = true;
  std::unique_ptr<ThreadPool> pool;
  std::unordered_map<int64_t, Buffer> buffers;
  // freed buffers by exact byte size: a decode step asks for the same sizes every token
  std::unordered_map<size_t, std::vector<void*>> freeList;
  int64_t nextId = 1;
  int64_t liveBytes = 0;
  int64_t peakBytes = 0;
  int64_t pooledBytes = 0;
  int64_t pooledBuffers = 0;
  int64_t allocations = 0;  // fresh allocations from the system (not from the free list)
  Scratch z, w, aux;
  // BLAST factors in the decode layout, by (B, C, D, direction); dropped when any of the three is freed
  std::map<std::tuple<int64_t, int64_t, int64_t, bool>, std::unique_ptr<PackedBlast>> packs;
  std::unordered_set<int64_t> packedIds;
  size_t packedBytes = 0;
};

// Forgets the packed copies made from buffer `id` (it is being freed: a new buffer may reuse the id's memory).
void dropPacks(Context& c, int64_t id) {
  if (c.packedIds.count(id) == 0) return;
  c.packedIds.clear();
  c.packedBytes = 0;
  for (auto it = c.packs.begin(); it != c.packs.end();) {
    const auto& [B, C, D, t] = it->first;
    if (B == id || C == id || D == id) {
      it = c.packs.erase(it);
      continue;
    }
    c.packedIds.insert({B, C, D});
    c.packedBytes += it->second->bytes;
    ++it;
  }
}

const napi_type_tag kContextTag = {0x3c5e1d2b9a7f4e01ULL, 0x8b6d2f0e1c4a7359ULL};

void trimPool(Context& c) {
  for (auto& entry : c.freeList)
    for (void* p : entry.second) alignedFree(p);
  c.freeList.clear();
  c.pooledBytes = c.pooledBuffers = 0;
}

void releaseContext(Context& c) {
  if (!c.open) return;
  c.open = false;
  for (auto& entry : c.buffers) alignedFree(entry.second.ptr);
  c.buffers.clear();
  c.liveBytes = 0;
  c.packs.clear();
  c.packedIds.clear();
  c.packedBytes = 0;
  trimPool(c);
  c.z.release();
  c.w.release();
  c.aux.release();
  c.pool.reset();
}

void finalizeContext(napi_env, void* data, void*) {
  auto* c = static_cast<Context*>(data);
  try {
    releaseContext(*c);
  } catch (...) {
  }
  delete c;
}

int64_t allocBuffer(Context& c, size_t bytes) {
  void* ptr = nullptr;
  const size_t capacity = sizeClass(bytes);
  auto it = c.freeList.find(capacity);
  if (it != c.freeList.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    c.pooledBytes -= static_cast<int64_t>(capacity);
    c.pooledBuffers--;
  } else {
    ptr = alignedAlloc(capacity);
    c.allocations++;
  }
  const int64_t id = c.nextId++;
  c.buffers[id] = Buffer{ptr, bytes, capacity};
  c.liveBytes += static_cast<int64_t>(capacity);
  c.peakBytes = std::max(c.peakBytes, c.liveBytes);
  return id;
}

void freeBuffer(Context& c, int64_t id) {
  auto it = c.buffers.find(id);
  if (it == c.buffers.end()) throw Error("free: buffer #" + std::to_string(id) + " does not exist");
  const Buffer buf = it->second;
  c.buffers.erase(it);
  dropPacks(c, id);
  c.liveBytes -= static_cast<int64_t>(buf.capacity);
  if (static_cast<size_t>(c.pooledBytes) + buf.capacity > kPoolLimitBytes) {
    alignedFree(buf.ptr);
    return;
  }
  c.freeList[buf.capacity].push_back(buf.ptr);
  c.pooledBytes += static_cast<int64_t>(buf.capacity);
  c.pooledBuffers++;
}

// a·b for sizes, refusing anything past 2^53 (no JavaScript size gets there; a wrapped product would)
int64_t mul(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out) || out > kMaxSafeInteger) throw Error("size overflows: " + std::to_string(a) + "·" + std::to_string(b));
  return out;
}
int64_t mul(int64_t a, int64_t b, int64_t c) { return mul(mul(a, b), c); }

// The address of elements [offset, offset + count) of buffer `id`, after checking they lie inside it.
float* floats(Context& c, int64_t id, int64_t offset, int64_t count, const std::string& what) {
  auto it = c.buffers.find(id);
  if (it == c.buffers.end())
    throw Error(what + ": buffer #" + std::to_string(id) + " does not exist (freed, or from another context)");
  const int64_t size = static_cast<int64_t>(it->second.bytes / 4);
  if (offset < 0 || count < 0 || offset > size || count > size - offset) {
    throw Error(what + ": elements [" + std::to_string(offset) + ", " + std::to_string(offset + count) +
                ") lie outside buffer #" + std::to_string(id) + " of " + std::to_string(size) + " elements");
  }
  return static_cast<float*>(it->second.ptr) + offset;
}

// Elements a strided view reaches, 1 + Σ (dims[i] − 1)·strides[i] (0 if empty).
int64_t extent(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  int64_t e = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 0) return 0;
    e += mul(dims[i] - 1, strides[i]);
    if (e > kMaxSafeInteger) throw Error("strided view too large");
  }
  return e;
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

  bool has(size_t i) const {
    if (i >= values_.size()) return false;
    napi_valuetype type;
    napiCheck(napi_typeof(env_, values_[i], &type), "napi_typeof");
    return type != napi_undefined && type != napi_null;
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
    if (length > 64) throw Error(fn_ + ": " + name + " has " + std::to_string(length) + " entries (at most 64)");
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

  // A typed array of the given element type: its data and length.
  void* typedArray(size_t i, const char* name, napi_typedarray_type want, size_t* length) const {
    napi_value v = at(i, name);
    bool isTyped = false;
    napiCheck(napi_is_typedarray(env_, v, &isTyped), "napi_is_typedarray");
    if (!isTyped) throw Error(fn_ + ": " + name + " must be a typed array");
    napi_typedarray_type type;
    void* data = nullptr;
    napi_value buffer;
    size_t offset = 0;
    napiCheck(napi_get_typedarray_info(env_, v, &type, length, &data, &buffer, &offset), "napi_get_typedarray_info");
    if (type != want) throw Error(fn_ + ": " + name + " has the wrong element type");
    return data;
  }

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

  Context& context(size_t i) const {
    Context& c = anyContext(i);
    if (!c.open) throw Error(fn_ + ": the backend is closed");
    return c;
  }

 private:
  static constexpr size_t kMax = 24;
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

napi_value objectValue(napi_env env) {
  napi_value v;
  napiCheck(napi_create_object(env, &v), "napi_create_object");
  return v;
}

void setProperty(napi_env env, napi_value obj, const char* key, napi_value value) {
  napiCheck(napi_set_named_property(env, obj, key, value), "napi_set_named_property");
}

// ---- entry points: context and memory ------------------------------------------------------------------

// info() → { variant, eigen, avx2, fma }: what this file was compiled for, and what the CPU has.
napi_value Info(Args& a) {
  napi_env env = a.env();
  napi_value out = objectValue(env);
  setProperty(env, out, "variant", stringValue(env, BLASTKIT_VARIANT));
  setProperty(env, out, "eigen", stringValue(env, eigenVersion()));
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  setProperty(env, out, "avx2", boolValue(env, __builtin_cpu_supports("avx2")));
  setProperty(env, out, "fma", boolValue(env, __builtin_cpu_supports("fma")));
#else
  setProperty(env, out, "avx2", boolValue(env, false));
  setProperty(env, out, "fma", boolValue(env, false));
#endif
  return out;
}

// open(threads) → context
napi_value Open(Args& a) {
  napi_env env = a.env();
  const int64_t threads = a.integer(0, "threads", 1, 1024);
  auto* c = new Context();
  try {
    c->pool = std::make_unique<ThreadPool>(static_cast<int>(threads));
  } catch (...) {
    delete c;
    throw;
  }
  napi_value obj = objectValue(env);
  napi_status st = napi_wrap(env, obj, c, finalizeContext, nullptr, nullptr);
  if (st != napi_ok) {
    delete c;
    napiCheck(st, "napi_wrap");
  }
  napiCheck(napi_type_tag_object(env, obj, &kContextTag), "napi_type_tag_object");
  return obj;
}

napi_value Close(Args& a) {
  releaseContext(a.anyContext(0));
  return undefinedValue(a.env());
}

napi_value Stats(Args& a) {
  napi_env env = a.env();
  Context& c = a.context(0);
  napi_value out = objectValue(env);
  setProperty(env, out, "tensors", numberValue(env, static_cast<double>(c.buffers.size())));
  setProperty(env, out, "bytes", numberValue(env, static_cast<double>(c.liveBytes)));
  setProperty(env, out, "peakBytes", numberValue(env, static_cast<double>(c.peakBytes)));
  setProperty(env, out, "pooledBytes", numberValue(env, static_cast<double>(c.pooledBytes)));
  setProperty(env, out, "pooledBuffers", numberValue(env, static_cast<double>(c.pooledBuffers)));
  const size_t scratch = c.z.bytes() + c.w.bytes() + c.aux.bytes() + c.pool->scratchBytes() + c.packedBytes;
  setProperty(env, out, "scratchBytes", numberValue(env, static_cast<double>(scratch)));
  setProperty(env, out, "allocations", numberValue(env, static_cast<double>(c.allocations)));
  setProperty(env, out, "threads", numberValue(env, c.pool->size()));
  return out;
}

napi_value TrimPool(Args& a) {
  trimPool(a.context(0));
  return undefinedValue(a.env());
}

napi_value Alloc(Args& a) {
  Context& c = a.context(0);
  const int64_t bytes = a.integer(1, "bytes", 0, int64_t{1} << 46);
  if (bytes % 4 != 0) throw Error("alloc: bytes must be a multiple of 4");
  return numberValue(a.env(), static_cast<double>(allocBuffer(c, static_cast<size_t>(bytes))));
}

napi_value Free(Args& a) {
  Context& c = a.context(0);
  freeBuffer(c, a.integer(1, "buffer"));
  return undefinedValue(a.env());
}

// write(ctx, id, Float32Array): the array's values into the start of the buffer.
napi_value Write(Args& a) {
  Context& c = a.context(0);
  const int64_t id = a.integer(1, "buffer");
  size_t length = 0;
  const void* data = a.typedArray(2, "data", napi_float32_array, &length);
  float* dst = floats(c, id, 0, static_cast<int64_t>(length), "write");
  if (length > 0) std::memcpy(dst, data, length * 4);
  return undefinedValue(a.env());
}

// read(ctx, id, count) → a new Float32Array with the first `count` values.
napi_value Read(Args& a) {
  napi_env env = a.env();
  Context& c = a.context(0);
  const int64_t id = a.integer(1, "buffer");
  const int64_t count = a.integer(2, "count");
  const float* src = floats(c, id, 0, count, "read");
  void* data = nullptr;
  napi_value ab;
  napiCheck(napi_create_arraybuffer(env, static_cast<size_t>(count) * 4, &data, &ab), "napi_create_arraybuffer");
  if (count > 0) std::memcpy(data, src, static_cast<size_t>(count) * 4);
  napi_value out;
  napiCheck(napi_create_typedarray(env, napi_float32_array, static_cast<size_t>(count), ab, 0, &out),
            "napi_create_typedarray");
  return out;
}

// firstNonFinite(ctx, id, count) → [index, value] of the first NaN or ±Infinity, or null.
napi_value FirstNonFinite(Args& a) {
  napi_env env = a.env();
  Context& c = a.context(0);
  const int64_t count = a.integer(2, "count");
  const float* x = floats(c, a.integer(1, "buffer"), 0, count, "firstNonFinite");
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(x[i])) {
      napi_value out;
      napiCheck(napi_create_array_with_length(env, 2, &out), "napi_create_array_with_length");
      napiCheck(napi_set_element(env, out, 0, numberValue(env, static_cast<double>(i))), "napi_set_element");
      napiCheck(napi_set_element(env, out, 1, numberValue(env, x[i])), "napi_set_element");
      return out;
    }
  }
  napi_value nul;
  napiCheck(napi_get_null(env, &nul), "napi_get_null");
  return nul;
}

// ---- entry points: products ----------------------------------------------------------------------------

// matmul(ctx, out, a, b, batch, batchA, batchB, M, N, K, transposeA, transposeB)
napi_value Matmul(Args& a) {
  Context& c = a.context(0);
  const int64_t batch = a.integer(4, "batch"), batchA = a.integer(5, "batchA"), batchB = a.integer(6, "batchB");
  const int64_t M = a.integer(7, "M"), N = a.integer(8, "N"), K = a.integer(9, "K");
  const bool ta = a.flag(10, "transposeA"), tb = a.flag(11, "transposeB");
  if ((batchA != batch && batchA != 1) || (batchB != batch && batchB != 1) || std::max(batchA, batchB) != batch)
    throw Error("matmul: batch sizes " + std::to_string(batchA) + " and " + std::to_string(batchB) + " do not give " +
                std::to_string(batch));
  float* y = floats(c, a.integer(1, "out"), 0, mul(batch, M, N), "matmul out");
  const float* A = floats(c, a.integer(2, "a"), 0, mul(batchA, M, K), "matmul a");
  const float* B = floats(c, a.integer(3, "b"), 0, mul(batchB, K, N), "matmul b");
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  gemmBatch(*c.pool, batch, [&](int64_t t) {
    return Gemm{M, N, K, A + (batchA == 1 ? 0 : t) * M * K, lda, ta, B + (batchB == 1 ? 0 : t) * K * N, ldb, tb,
                y + t * M * N, N, false};
  });
  return undefinedValue(a.env());
}

// linear(ctx, out, x, weight, bias | null, N, m, n)
napi_value Linear(Args& a) {
  Context& c = a.context(0);
  const int64_t N = a.integer(5, "N"), m = a.integer(6, "m"), n = a.integer(7, "n");
  float* y = floats(c, a.integer(1, "out"), 0, mul(N, m), "linear out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(N, n), "linear x");
  const float* w = floats(c, a.integer(3, "weight"), 0, mul(m, n), "linear weight");
  const bool hasBias = a.has(4);
  if (hasBias) {
    const float* bias = floats(c, a.integer(4, "bias"), 0, m, "linear bias");
    for (int64_t t = 0; t < N; ++t) std::memcpy(y + t * m, bias, static_cast<size_t>(m) * 4);
  }
  gemm(*c.pool, Gemm{N, m, n, x, n, false, w, n, true, y, m, hasBias});
  return undefinedValue(a.env());
}

// blast(ctx, out, x, B, C, D, N, b, p, q, r, transpose, mode)
napi_value Blast(Args& a) {
  Context& c = a.context(0);
  BlastShape s{};
  s.N = a.integer(6, "N");
  s.b = a.integer(7, "b");
  s.p = a.integer(8, "p");
  s.q = a.integer(9, "q");
  s.r = a.integer(10, "r");
  s.transpose = a.flag(11, "transpose");
  const int64_t mode = a.integer(12, "mode", 0, 2);
  const int64_t m = mul(s.b, s.p), n = mul(s.b, s.q);
  float* y = floats(c, a.integer(1, "out"), 0, mul(s.N, s.transpose ? n : m), "blastForward out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(s.N, s.transpose ? m : n), "blastForward x");
  const float* B = floats(c, a.integer(3, "B"), 0, mul(s.b, s.p, s.r), "blastForward B");
  const float* C = floats(c, a.integer(4, "C"), 0, mul(s.b, s.r, s.q), "blastForward C");
  const float* D = floats(c, a.integer(5, "D"), 0, mul(s.b, s.b, s.r), "blastForward D");
  mul(s.N, s.b, s.r);
  if (mode == 1 && s.N > 8) throw Error("blastForward: the fused path takes at most 8 rows, got " + std::to_string(s.N));
  if (mode == 1 || (mode == 0 && s.N <= 8)) {
    // decode: from the factors packed for it on first use (weights do not change: tensors are immutable)
    const auto key = std::make_tuple(a.integer(3, "B"), a.integer(4, "C"), a.integer(5, "D"), s.transpose);
    auto found = c.packs.find(key);
    if (found == c.packs.end()) {
      auto pk = std::make_unique<PackedBlast>();
      packBlast(s, B, C, D, *pk);
      c.packedBytes += pk->bytes;
      c.packedIds.insert({std::get<0>(key), std::get<1>(key), std::get<2>(key)});
      found = c.packs.emplace(key, std::move(pk)).first;
    }
    float* Z = c.z.floats(static_cast<size_t>(mul(s.N, s.b, found->second->r8)) + 16);
    blastDecodePacked(*c.pool, s, *found->second, x, Z, y);
    return undefinedValue(a.env());
  }
  blastForward(*c.pool, c.z, c.w, s, x, B, C, D, y);
  return undefinedValue(a.env());
}

// lowRank(ctx, out, x, U, V, N, m, n, r): y = (x·V)·Uᵀ
napi_value LowRank(Args& a) {
  Context& c = a.context(0);
  const int64_t N = a.integer(5, "N"), m = a.integer(6, "m"), n = a.integer(7, "n"), r = a.integer(8, "r");
  float* y = floats(c, a.integer(1, "out"), 0, mul(N, m), "lowRankForward out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(N, n), "lowRankForward x");
  const float* U = floats(c, a.integer(3, "U"), 0, mul(m, r), "lowRankForward U");
  const float* V = floats(c, a.integer(4, "V"), 0, mul(n, r), "lowRankForward V");
  float* Z = c.z.floats(static_cast<size_t>(mul(N, r)) + 1);
  gemm(*c.pool, Gemm{N, r, n, x, n, false, V, r, false, Z, r, false});
  gemm(*c.pool, Gemm{N, m, r, Z, r, false, U, r, true, y, m, false});
  return undefinedValue(a.env());
}

// monarch(ctx, out, x, L, R, N, b, p, q, br)
napi_value Monarch(Args& a) {
  Context& c = a.context(0);
  const int64_t N = a.integer(5, "N"), b = a.integer(6, "b"), p = a.integer(7, "p"), q = a.integer(8, "q"),
                br = a.integer(9, "br");
  if (b == 0 || br % b != 0) throw Error("monarchForward: br must be a multiple of b ≥ 1");
  float* y = floats(c, a.integer(1, "out"), 0, mul(N, b, p), "monarchForward out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(N, b, q), "monarchForward x");
  const float* L = floats(c, a.integer(3, "L"), 0, mul(b, p, br), "monarchForward L");
  const float* R = floats(c, a.integer(4, "R"), 0, mul(b, br, q), "monarchForward R");
  mul(b, N, br);
  monarchForward(*c.pool, c.z, c.w, N, b, p, q, br, x, L, R, y);
  return undefinedValue(a.env());
}

// blockDiagonal(ctx, out, x, blocks, N, b, p, q)
napi_value BlockDiagonal(Args& a) {
  Context& c = a.context(0);
  const int64_t N = a.integer(4, "N"), b = a.integer(5, "b"), p = a.integer(6, "p"), q = a.integer(7, "q");
  const int64_t m = mul(b, p), n = mul(b, q);
  float* y = floats(c, a.integer(1, "out"), 0, mul(N, m), "blockDiagonalForward out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(N, n), "blockDiagonalForward x");
  const float* blocks = floats(c, a.integer(3, "blocks"), 0, mul(b, p, q), "blockDiagonalForward blocks");
  gemmBatch(*c.pool, b, [&](int64_t i) {
    return Gemm{N, p, q, x + i * q, n, false, blocks + i * p * q, q, true, y + i * p, m, false};
  });
  return undefinedValue(a.env());
}

// ---- entry points: elementwise and rows ---------------------------------------------------------------

// binary(ctx, op, out, a, b, dims, stridesA, stridesB)
napi_value Binary(Args& a) {
  Context& c = a.context(0);
  const int64_t op = a.integer(1, "op", 0, 2);
  const auto dims = a.integers(5, "dims");
  const auto sa = a.integers(6, "stridesA");
  const auto sb = a.integers(7, "stridesB");
  if (sa.size() != dims.size() || sb.size() != dims.size()) throw Error("binary: strides must have one entry per axis");
  int64_t total = 1;
  for (int64_t d : dims) total = mul(total, d);
  float* out = floats(c, a.integer(2, "out"), 0, total, "binary out");
  const float* pa = floats(c, a.integer(3, "a"), 0, dims.empty() ? 1 : extent(dims, sa), "binary a");
  const float* pb = floats(c, a.integer(4, "b"), 0, dims.empty() ? 1 : extent(dims, sb), "binary b");
  binary(static_cast<int>(op), out, pa, pb, dims, sa, sb);
  return undefinedValue(a.env());
}

// scale(ctx, out, a, count, alpha, beta)
napi_value Scale(Args& a) {
  Context& c = a.context(0);
  const int64_t count = a.integer(3, "count");
  float* out = floats(c, a.integer(1, "out"), 0, count, "scale out");
  const float* x = floats(c, a.integer(2, "a"), 0, count, "scale a");
  scale(out, x, count, a.number(4, "alpha"), a.number(5, "beta"));
  return undefinedValue(a.env());
}

// unary(ctx, op, out, x, count)
napi_value Unary(Args& a) {
  Context& c = a.context(0);
  const int64_t op = a.integer(1, "op", 0, 10);
  const int64_t count = a.integer(4, "count");
  float* out = floats(c, a.integer(2, "out"), 0, count, "unary out");
  const float* x = floats(c, a.integer(3, "x"), 0, count, "unary x");
  unary(static_cast<int>(op), out, x, count);
  return undefinedValue(a.env());
}

// softmax(ctx, out, x, rows, width)
napi_value Softmax(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(3, "rows"), width = a.integer(4, "width");
  float* out = floats(c, a.integer(1, "out"), 0, mul(rows, width), "softmax out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(rows, width), "softmax x");
  softmax(out, x, rows, width);
  return undefinedValue(a.env());
}

// rmsNorm(ctx, out, x, weight, rows, width, eps)
napi_value RmsNorm(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(4, "rows"), width = a.integer(5, "width");
  float* out = floats(c, a.integer(1, "out"), 0, mul(rows, width), "rmsNorm out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(rows, width), "rmsNorm x");
  const float* w = floats(c, a.integer(3, "weight"), 0, width, "rmsNorm weight");
  rmsNorm(out, x, w, rows, width, a.number(6, "eps"));
  return undefinedValue(a.env());
}

// layerNorm(ctx, out, x, weight, bias, rows, width, eps)
napi_value LayerNorm(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(5, "rows"), width = a.integer(6, "width");
  float* out = floats(c, a.integer(1, "out"), 0, mul(rows, width), "layerNorm out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(rows, width), "layerNorm x");
  const float* w = floats(c, a.integer(3, "weight"), 0, width, "layerNorm weight");
  const float* bias = floats(c, a.integer(4, "bias"), 0, width, "layerNorm bias");
  layerNorm(out, x, w, bias, rows, width, a.number(7, "eps"));
  return undefinedValue(a.env());
}

// rope(ctx, out, x, N, heads, d, half, interleaved, positions: Int32Array, inv: Float64Array, positionScale)
napi_value Rope(Args& a) {
  Context& c = a.context(0);
  const int64_t N = a.integer(3, "N"), heads = a.integer(4, "heads"), d = a.integer(5, "d"),
                half = a.integer(6, "half");
  const bool interleaved = a.flag(7, "interleaved");
  size_t np = 0, ni = 0;
  const auto* positions = static_cast<const int32_t*>(a.typedArray(8, "positions", napi_int32_array, &np));
  const auto* inv = static_cast<const double*>(a.typedArray(9, "inv", napi_float64_array, &ni));
  if (static_cast<int64_t>(np) != N) throw Error("rope: " + std::to_string(np) + " positions for " + std::to_string(N) + " rows");
  if (static_cast<int64_t>(ni) != half || 2 * half > d) throw Error("rope: inv must have half ≤ d/2 entries");
  const int64_t count = mul(N, heads, d);
  float* out = floats(c, a.integer(1, "out"), 0, count, "rope out");
  const float* x = floats(c, a.integer(2, "x"), 0, count, "rope x");
  rope(out, x, N, heads, d, half, interleaved, positions, inv, a.number(10, "positionScale"));
  return undefinedValue(a.env());
}

// embedding(ctx, out, table, V, d, ids: Int32Array)
napi_value Embedding(Args& a) {
  Context& c = a.context(0);
  const int64_t V = a.integer(3, "V"), d = a.integer(4, "d");
  size_t count = 0;
  const auto* ids = static_cast<const int32_t*>(a.typedArray(5, "ids", napi_int32_array, &count));
  float* out = floats(c, a.integer(1, "out"), 0, mul(static_cast<int64_t>(count), d), "embedding out");
  const float* table = floats(c, a.integer(2, "table"), 0, mul(V, d), "embedding table");
  for (size_t t = 0; t < count; ++t)
    if (ids[t] < 0 || ids[t] >= V) throw Error("embedding: id " + std::to_string(ids[t]) + " outside [0, " + std::to_string(V) + ")");
  for (size_t t = 0; t < count; ++t)
    std::memcpy(out + static_cast<int64_t>(t) * d, table + static_cast<int64_t>(ids[t]) * d, static_cast<size_t>(d) * 4);
  return undefinedValue(a.env());
}

// attention(ctx, out, q, k, v, N, hq, S, hkv, d, causal, scale, queryOffset)
napi_value Attention(Args& a) {
  Context& c = a.context(0);
  const int64_t N = a.integer(5, "N"), hq = a.integer(6, "hq"), S = a.integer(7, "S"), hkv = a.integer(8, "hkv"),
                d = a.integer(9, "d");
  const bool causal = a.flag(10, "causal");
  const double scale = a.number(11, "scale");
  const int64_t offset = a.integer(12, "queryOffset", -kMaxSafeInteger, kMaxSafeInteger);
  if (hkv == 0 || hq % hkv != 0) throw Error("attention: query heads must be a multiple of key/value heads ≥ 1");
  float* out = floats(c, a.integer(1, "out"), 0, mul(N, hq, d), "attention out");
  const float* q = floats(c, a.integer(2, "q"), 0, mul(N, hq, d), "attention q");
  const float* k = floats(c, a.integer(3, "k"), 0, mul(S, hkv, d), "attention k");
  const float* v = floats(c, a.integer(4, "v"), 0, mul(S, hkv, d), "attention v");
  attention(*c.pool, out, q, k, v, N, hq, S, hkv, d, causal, scale, offset);
  return undefinedValue(a.env());
}

// ---- entry points: layout, reductions ------------------------------------------------------------------

// stridedCopy(ctx, dst, dstOffset, src, srcOffset, dims, srcStrides, dstStrides)
napi_value StridedCopy(Args& a) {
  Context& c = a.context(0);
  const auto dims = a.integers(5, "dims");
  const auto ss = a.integers(6, "srcStrides");
  const auto ds = a.integers(7, "dstStrides");
  if (ss.size() != dims.size() || ds.size() != dims.size()) throw Error("stridedCopy: strides must have one entry per axis");
  const int64_t srcExtent = dims.empty() ? 1 : extent(dims, ss);
  const int64_t dstExtent = dims.empty() ? 1 : extent(dims, ds);
  float* dst = floats(c, a.integer(1, "dst"), a.integer(2, "dstOffset"), dstExtent, "stridedCopy dst");
  const float* src = floats(c, a.integer(3, "src"), a.integer(4, "srcOffset"), srcExtent, "stridedCopy src");
  if (dstExtent > 0) stridedCopy(dst, src, dims, ss, ds);
  return undefinedValue(a.env());
}

// reduce(ctx, op, out, x, outer, len, inner)
napi_value Reduce(Args& a) {
  Context& c = a.context(0);
  const int64_t op = a.integer(1, "op", 0, 4);
  const int64_t outer = a.integer(4, "outer"), len = a.integer(5, "len"), inner = a.integer(6, "inner");
  if (len == 0 && (op == 2 || op == 3) && outer * inner > 0) throw Error("reduce: max/min of an empty axis");
  float* out = floats(c, a.integer(2, "out"), 0, mul(outer, inner), "reduce out");
  const float* x = floats(c, a.integer(3, "x"), 0, mul(outer, len, inner), "reduce x");
  reduce(static_cast<int>(op), out, x, outer, len, inner);
  return undefinedValue(a.env());
}

// argmax(ctx, out, x, rows, width)
napi_value Argmax(Args& a) {
  Context& c = a.context(0);
  const int64_t rows = a.integer(3, "rows"), width = a.integer(4, "width");
  if (rows > 0 && width == 0) throw Error("argmax: empty last axis");
  float* out = floats(c, a.integer(1, "out"), 0, rows, "argmax out");
  const float* x = floats(c, a.integer(2, "x"), 0, mul(rows, width), "argmax x");
  argmax(out, x, rows, width);
  return undefinedValue(a.env());
}

// ---- entry points: factorization ------------------------------------------------------------------------

// choleskySolve(ctx, out, A, B, batch, r, c) → null, or { system, pivot, value } of the first failing system
napi_value CholeskySolve(Args& a) {
  napi_env env = a.env();
  Context& c = a.context(0);
  const int64_t batch = a.integer(4, "batch"), r = a.integer(5, "r"), cols = a.integer(6, "c");
  float* X = floats(c, a.integer(1, "out"), 0, mul(batch, r, cols), "choleskySolve out");
  const float* A = floats(c, a.integer(2, "A"), 0, mul(batch, r, r), "choleskySolve A");
  const float* B = floats(c, a.integer(3, "B"), 0, mul(batch, r, cols), "choleskySolve B");
  const PivotFailure f = choleskySolve(*c.pool, A, B, X, batch, r, cols);
  if (f.system < 0) {
    napi_value nul;
    napiCheck(napi_get_null(env, &nul), "napi_get_null");
    return nul;
  }
  napi_value out = objectValue(env);
  setProperty(env, out, "system", numberValue(env, static_cast<double>(f.system)));
  setProperty(env, out, "pivot", numberValue(env, static_cast<double>(f.pivot)));
  setProperty(env, out, "value", numberValue(env, f.value));
  return out;
}

// eigh(ctx, values, vectors, A, n)
napi_value Eigh(Args& a) {
  Context& c = a.context(0);
  const int64_t n = a.integer(4, "n", 0, 1 << 20);
  float* values = floats(c, a.integer(1, "values"), 0, n, "eigh values");
  float* vectors = floats(c, a.integer(2, "vectors"), 0, mul(n, n), "eigh vectors");
  const float* A = floats(c, a.integer(3, "A"), 0, mul(n, n), "eigh A");
  eigh(A, n, values, vectors);
  return undefinedValue(a.env());
}

// truncatedSvd(ctx, U, S, V, A, m, n, k)
napi_value TruncatedSvd(Args& a) {
  Context& c = a.context(0);
  const int64_t m = a.integer(5, "m", 0, 1 << 24), n = a.integer(6, "n", 0, 1 << 24), k = a.integer(7, "k", 1);
  if (k > std::min(m, n)) throw Error("truncatedSvd: k exceeds min(m, n)");
  mul(m, n, 1);
  float* U = floats(c, a.integer(1, "U"), 0, mul(m, k), "truncatedSvd U");
  float* S = floats(c, a.integer(2, "S"), 0, k, "truncatedSvd S");
  float* V = floats(c, a.integer(3, "V"), 0, mul(n, k), "truncatedSvd V");
  const float* A = floats(c, a.integer(4, "A"), 0, mul(m, n), "truncatedSvd A");
  truncatedSvd(A, m, n, k, U, S, V);
  return undefinedValue(a.env());
}

// ---- registration ---------------------------------------------------------------------------------------

using Entry = napi_value (*)(Args&);

template <Entry F>
napi_value call(napi_env env, napi_callback_info info, const char* name) {
  try {
    Args args(env, info, name);
    return F(args);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  } catch (...) {
    napi_throw_error(env, nullptr, (std::string(name) + ": unknown native error").c_str());
  }
  return nullptr;
}

#define BK_ENTRY(js, fn) \
  {js, nullptr, [](napi_env env, napi_callback_info info) { return call<fn>(env, info, js); }, nullptr, nullptr, nullptr, napi_default, nullptr}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      BK_ENTRY("info", Info),
      BK_ENTRY("open", Open),
      BK_ENTRY("close", Close),
      BK_ENTRY("stats", Stats),
      BK_ENTRY("trimPool", TrimPool),
      BK_ENTRY("alloc", Alloc),
      BK_ENTRY("free", Free),
      BK_ENTRY("write", Write),
      BK_ENTRY("read", Read),
      BK_ENTRY("firstNonFinite", FirstNonFinite),
      BK_ENTRY("matmul", Matmul),
      BK_ENTRY("linear", Linear),
      BK_ENTRY("blast", Blast),
      BK_ENTRY("lowRank", LowRank),
      BK_ENTRY("monarch", Monarch),
      BK_ENTRY("blockDiagonal", BlockDiagonal),
      BK_ENTRY("binary", Binary),
      BK_ENTRY("scale", Scale),
      BK_ENTRY("unary", Unary),
      BK_ENTRY("softmax", Softmax),
      BK_ENTRY("rmsNorm", RmsNorm),
      BK_ENTRY("layerNorm", LayerNorm),
      BK_ENTRY("rope", Rope),
      BK_ENTRY("embedding", Embedding),
      BK_ENTRY("attention", Attention),
      BK_ENTRY("stridedCopy", StridedCopy),
      BK_ENTRY("reduce", Reduce),
      BK_ENTRY("argmax", Argmax),
      BK_ENTRY("choleskySolve", CholeskySolve),
      BK_ENTRY("eigh", Eigh),
      BK_ENTRY("truncatedSvd", TruncatedSvd),
  };
  napiCheck(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props), "napi_define_properties");
  return exports;
}

}  // namespace
}  // namespace bk

extern "C" {
NAPI_MODULE_INIT() {
  try {
    return bk::Init(env, exports);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
}
}
