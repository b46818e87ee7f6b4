#include "cublas-loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common.h"

namespace bk {

namespace {

std::vector<std::string> candidates() {
  const char* forced = std::getenv("BLASTKIT_CUBLAS");
  if (forced != nullptr && forced[0] != '\0') return {forced};
  std::vector<std::string> names = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
  std::vector<std::string> dirs;
  const char* home = std::getenv("CUDA_HOME");
  if (home != nullptr && home[0] != '\0') dirs.push_back(std::string(home) + "/lib64/");
  dirs.push_back("/usr/local/cuda/lib64/");
  std::vector<std::string> out = names;
  for (const auto& dir : dirs)
    for (const auto& name : names) out.push_back(dir + name);
  return out;
}

template <typename F>
bool symbol(void* lib, const char* name, F* out, std::string* missing) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  if (*out == nullptr) {
    if (!missing->empty()) *missing += ", ";
    *missing += name;
    return false;
  }
  return true;
}

struct LoadResult {
  bool tried = false;
  bool ok = false;
  CublasApi api;
  std::string why;
};

LoadResult& state() {
  static LoadResult result;
  return result;
}

}  // namespace

const CublasApi* loadCublas(std::string* why) {
  LoadResult& s = state();
  if (!s.tried) {
    s.tried = true;
    std::string tried;
    for (const auto& name : candidates()) {
      // libcublas needs libcublasLt of the same release; when cuBLAS is found by path rather than through
      // the loader's search list, load its Lt from the same folder first so the dependency resolves
      const size_t slash = name.rfind('/');
      const size_t at = name.find("libcublas.so", slash == std::string::npos ? 0 : slash);
      if (slash != std::string::npos && at != std::string::npos) {
        const std::string lt = name.substr(0, at) + "libcublasLt" + name.substr(at + 9);
        if (dlopen(lt.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) (void)dlerror();
      }
      void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib == nullptr) {
        const char* err = dlerror();
        if (!tried.empty()) tried += "; ";
        tried += name + " (" + (err != nullptr ? err : "not found") + ")";
        continue;
      }
      CublasApi api;
      std::string missing;
      bool ok = symbol(lib, "cublasCreate_v2", &api.create, &missing);
      ok = symbol(lib, "cublasDestroy_v2", &api.destroy, &missing) && ok;
      ok = symbol(lib, "cublasSetStream_v2", &api.setStream, &missing) && ok;
      ok = symbol(lib, "cublasSetMathMode", &api.setMathMode, &missing) && ok;
      ok = symbol(lib, "cublasGemmEx", &api.gemmEx, &missing) && ok;
      ok = symbol(lib, "cublasGemmStridedBatchedEx", &api.gemmStridedBatchedEx, &missing) && ok;
      if (!ok) {
        if (!tried.empty()) tried += "; ";
        tried += name + " (missing " + missing + ")";
        dlclose(lib);
        continue;
      }
      std::string ignored;
      symbol(lib, "cublasGetStatusString", &api.getStatusString, &ignored);
      symbol(lib, "cublasGetProperty", &api.getProperty, &ignored);
      api.soname = name;
      if (api.getProperty != nullptr) {
        int major = 0, minor = 0, patch = 0;
        if (api.getProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
            api.getProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
            api.getProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS) {
          api.version = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
        }
      }
      // the library stays open for the life of the process: handles made from it may outlive any backend
      s.api = api;
      s.ok = true;
      break;
    }
    if (!s.ok) s.why = "tried " + tried;
  }
  if (!s.ok) {
    if (why != nullptr) *why = s.why;
    return nullptr;
  }
  return &s.api;
}

std::string cublasStatusText(const CublasApi& api, cublasStatus_t status) {
  const char* name = "CUBLAS_STATUS_UNKNOWN";
  switch (status) {
    case 0: name = "CUBLAS_STATUS_SUCCESS"; break;
    case 1: name = "CUBLAS_STATUS_NOT_INITIALIZED"; break;
    case 3: name = "CUBLAS_STATUS_ALLOC_FAILED"; break;
    case 7: name = "CUBLAS_STATUS_INVALID_VALUE"; break;
    case 8: name = "CUBLAS_STATUS_ARCH_MISMATCH"; break;
    case 11: name = "CUBLAS_STATUS_MAPPING_ERROR"; break;
    case 13: name = "CUBLAS_STATUS_EXECUTION_FAILED"; break;
    case 14: name = "CUBLAS_STATUS_INTERNAL_ERROR"; break;
    case 15: name = "CUBLAS_STATUS_NOT_SUPPORTED"; break;
    case 16: name = "CUBLAS_STATUS_LICENSE_ERROR"; break;
    default: break;
  }
  std::string text = std::string(name) + " (" + std::to_string(status) + ")";
  if (api.getStatusString != nullptr) {
    const char* s = api.getStatusString(status);
    if (s != nullptr) text += ": " + std::string(s);
  }
  return text;
}

void cublasCheck(const CublasApi& api, cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(what + " failed: " + cublasStatusText(api, status));
}

}  // namespace bk
