// The persistent thread pool and the aligned scratch buffers (see common.h).

#include <cstdlib>
#include <cstring>

#include "common.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define BK_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define BK_PAUSE() __asm__ __volatile__("yield")
#else
#define BK_PAUSE() ((void)0)
#endif

namespace bk {

void* alignedAlloc(size_t bytes) {
  if (bytes == 0) bytes = 64;
  void* p = nullptr;
  // posix_memalign wants a size that is a multiple of nothing in particular; round up for tidiness
  const size_t rounded = (bytes + 63) & ~static_cast<size_t>(63);
  if (posix_memalign(&p, 64, rounded) != 0 || p == nullptr) {
    throw Error("out of memory: could not allocate " + std::to_string(bytes) + " bytes");
  }
  return p;
}

void alignedFree(void* p) { std::free(p); }

Scratch::~Scratch() { release(); }

void Scratch::release() {
  alignedFree(data_);
  data_ = nullptr;
  capacity_ = 0;
}

float* Scratch::floats(size_t count) {
  if (count <= capacity_) return data_;
  // round up so slowly growing requests do not reallocate each time
  size_t cap = 1024;
  while (cap < count) cap *= 2;
  float* fresh = static_cast<float*>(alignedAlloc(cap * sizeof(float)));
  alignedFree(data_);
  data_ = fresh;
  capacity_ = cap;
  return data_;
}

ThreadPool::ThreadPool(int threads) : threads_(threads < 1 ? 1 : threads), scratch_(threads_ * kSlots) {
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

size_t ThreadPool::scratchBytes() const {
  size_t total = 0;
  for (const auto& s : scratch_) total += s.bytes();
  return total;
}

void ThreadPool::runTasks(int worker) {
  const uint64_t gen = generation_.load();
  for (;;) {
    int64_t task;
    const std::function<void(int64_t, int)>* job;
    {
      // claiming under the lock ties a task to its own job: a worker that wakes late for an old job finds
      // the generation moved on and claims nothing
      std::lock_guard<std::mutex> lock(mutex_);
      if (job_ == nullptr || generation_.load() != gen || next_ >= count_) return;
      task = next_++;
      job = job_;
    }
    try {
      (*job)(task, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (++finished_ == count_) done_.notify_all();
  }
}

void ThreadPool::workerLoop(int index) {
  uint64_t seen = generation_.load();
  for (;;) {
    // spin a little first: a decode step issues many short parallel regions back to back. stop_ is checked at
    // every step, so a pool being destroyed never leaves a worker waiting for a generation that will not come
    for (int spin = 0; spin < 20000 && generation_.load(std::memory_order_acquire) == seen && !stop_; ++spin)
      BK_PAUSE();
    if (generation_.load() == seen && !stop_) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen || stop_; });
    }
    if (stop_) return;
    seen = generation_.load();
    runTasks(index);
  }
}

void ThreadPool::parallelFor(int64_t count, const std::function<void(int64_t, int)>& fn) {
  if (count <= 0) return;
  if (threads_ == 1 || count == 1) {
    for (int64_t i = 0; i < count; ++i) fn(i, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    count_ = count;
    next_ = 0;
    finished_ = 0;
    error_ = nullptr;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  runTasks(0);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return finished_ == count_; });
    job_ = nullptr;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace bk
