// cuBLAS opened at run time with dlopen, so the addon loads (and reports why it cannot run) on machines
// without cuBLAS, and builds on machines without its headers.
#pragma once

#include <string>

#include "cublas-lite.h"

namespace bk {

struct CublasApi {
  cublasCreate_t create = nullptr;
  cublasDestroy_t destroy = nullptr;
  cublasSetStream_t setStream = nullptr;
  cublasSetMathMode_t setMathMode = nullptr;
  cublasGemmEx_t gemmEx = nullptr;
  cublasGemmStridedBatchedEx_t gemmStridedBatchedEx = nullptr;
  // optional: absent from old releases
  cublasGetStatusString_t getStatusString = nullptr;
  cublasGetProperty_t getProperty = nullptr;
  // the file that answered, e.g. "libcublas.so.13", and its version "13.0.2" when cublasGetProperty exists
  std::string soname;
  std::string version;
};

// The loaded API, or nullptr with `why` saying which files were tried and what dlopen/dlsym said. Tried once
// per process; later calls return the same answer. BLASTKIT_CUBLAS (a path or soname) replaces the default
// list: libcublas.so.13, libcublas.so.12, libcublas.so, then the same under $CUDA_HOME/lib64 and
// /usr/local/cuda/lib64.
const CublasApi* loadCublas(std::string* why);

// "CUBLAS_STATUS_INVALID_VALUE (…)" for error messages.
std::string cublasStatusText(const CublasApi& api, cublasStatus_t status);

// Throws bk::Error naming the call unless status is CUBLAS_STATUS_SUCCESS.
void cublasCheck(const CublasApi& api, cublasStatus_t status, const std::string& what);

}  // namespace bk
