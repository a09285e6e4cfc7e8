// SpinPool: see spin_pool.h.

#include "core/spin_pool.h"

#include <chrono>

namespace irnn {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins on `done` with a pause per try; after ~spin_ns yields the core each try (the machine may have
// fewer free cores than threads: a preempted participant must get to run).
template <typename Done>
void SpinWait(Done done, int64_t spin_ns) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; !done(); ++i) {
    CpuRelax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > std::chrono::nanoseconds(spin_ns)) {
      std::this_thread::yield();
    }
  }
}

constexpr int64_t kSpinNs = 1000000;  // 1 ms

}  // namespace

SpinPool::SpinPool(int threads) : n_(threads < 1 ? 1 : threads) {
  for (int i = 1; i < n_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

SpinPool::~SpinPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void SpinPool::Run(const std::function<void(int)>& fn) {
  if (n_ == 1) {
    fn(0);
    return;
  }
  fn_ = &fn;
  pending_.store(n_ - 1, std::memory_order_relaxed);
  {
    // Under the mutex: a worker about to sleep checks the generation under it, so it cannot miss this.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (sleepers_.load() > 0) cv_.notify_all();
  fn(0);
  SpinWait([this] { return pending_.load(std::memory_order_acquire) == 0; }, kSpinNs);
  fn_ = nullptr;
}

void SpinPool::Barrier() {
  if (n_ == 1) return;
  const uint64_t gen = barrier_generation_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_generation_.fetch_add(1, std::memory_order_release);
    return;
  }
  SpinWait([this, gen] { return barrier_generation_.load(std::memory_order_acquire) != gen; }, kSpinNs);
}

void SpinPool::WorkerLoop(int id) {
  uint64_t seen = 0;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0;; ++i) {
      if (stop_.load(std::memory_order_acquire)) return;
      if (generation_.load(std::memory_order_acquire) != seen) break;
      CpuRelax();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > std::chrono::nanoseconds(kSpinNs)) {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lock, [this, seen] { return stop_.load() || generation_.load() != seen; });
        sleepers_.fetch_sub(1);
        break;
      }
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    (*fn_)(id);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace irnn
