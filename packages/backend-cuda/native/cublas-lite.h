// The few cuBLAS declarations this addon uses, written here because the build machines have no cuBLAS headers:
// cuBLAS is opened with dlopen at run time (cublas-loader.cc), so only these types, values and signatures are
// needed. Values as in cublas_api.h of cuBLAS 12 and 13 (unchanged between them); the data-type values
// (CUDA_R_*) come from CUDA's own library_types.h, which the CUDA runtime headers ship.
#pragma once

#include <library_types.h>  // cudaDataType_t: CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14

#include <cuda_runtime.h>

namespace bk {

struct cublasContext;
typedef cublasContext* cublasHandle_t;

typedef int cublasStatus_t;
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;

typedef int cublasOperation_t;
constexpr cublasOperation_t CUBLAS_OP_N = 0;
constexpr cublasOperation_t CUBLAS_OP_T = 1;

typedef int cublasMath_t;
constexpr cublasMath_t CUBLAS_DEFAULT_MATH = 0;

typedef int cublasComputeType_t;
constexpr cublasComputeType_t CUBLAS_COMPUTE_32F = 68;
constexpr cublasComputeType_t CUBLAS_COMPUTE_32F_FAST_TF32 = 77;

typedef int cublasGemmAlgo_t;
constexpr cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT = -1;
// Deprecated alias of CUBLAS_GEMM_DEFAULT since cuBLAS 11 (tensor cores are chosen by the compute type).
constexpr cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99;

// libraryPropertyType (library_types.h): MAJOR_VERSION = 0, MINOR_VERSION = 1, PATCH_LEVEL = 2.

// The enums above are C enums in cublas_api.h: passed as int in the C calling convention, so int here.
typedef cublasStatus_t (*cublasCreate_t)(cublasHandle_t* handle);
typedef cublasStatus_t (*cublasDestroy_t)(cublasHandle_t handle);
typedef cublasStatus_t (*cublasSetStream_t)(cublasHandle_t handle, cudaStream_t stream);
typedef cublasStatus_t (*cublasSetMathMode_t)(cublasHandle_t handle, cublasMath_t mode);
typedef cublasStatus_t (*cublasGemmEx_t)(cublasHandle_t handle, cublasOperation_t transa,
                                         cublasOperation_t transb, int m, int n, int k, const void* alpha,
                                         const void* A, cudaDataType_t Atype, int lda, const void* B,
                                         cudaDataType_t Btype, int ldb, const void* beta, void* C,
                                         cudaDataType_t Ctype, int ldc, cublasComputeType_t computeType,
                                         cublasGemmAlgo_t algo);
typedef cublasStatus_t (*cublasGemmStridedBatchedEx_t)(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const void* alpha, const void* A, cudaDataType_t Atype, int lda, long long int strideA, const void* B,
    cudaDataType_t Btype, int ldb, long long int strideB, const void* beta, void* C, cudaDataType_t Ctype,
    int ldc, long long int strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
typedef const char* (*cublasGetStatusString_t)(cublasStatus_t status);
typedef cublasStatus_t (*cublasGetProperty_t)(libraryPropertyType type, int* value);

}  // namespace bk
