// Shared by the addon's translation units: the error type every failure becomes, and the CUDA check.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace bk {

// Every failure on the native side is thrown as this and becomes a JS Error at the N-API boundary; the
// message names the API that failed and what it said.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// "cudaMalloc(4096 bytes) failed: cudaErrorMemoryAllocation (out of memory)"
inline std::string cudaMessage(const std::string& what, cudaError_t err) {
  return what + " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
}

// Throws for anything but cudaSuccess. The runtime's last-error slot is cleared first, so a non-sticky
// error does not resurface in the next unrelated check (a sticky one, e.g. an illegal address, stays: the
// context is unusable after it and every later call reports it).
inline void cudaCheck(cudaError_t err, const std::string& what) {
  if (err == cudaSuccess) return;
  (void)cudaGetLastError();
  throw Error(cudaMessage(what, err));
}

// After a kernel launch: reports a bad launch configuration at once (errors inside the kernel surface at
// the next synchronization, i.e. the next download, naming that call instead).
inline void checkLaunch(const char* kernel) { cudaCheck(cudaGetLastError(), std::string("launch of ") + kernel); }

}  // namespace bk
