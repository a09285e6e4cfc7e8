// SpinPool: see spin_pool.h.

#include "core/spin_pool.h"

#include <chrono>

namespace irnn {
namespace {

constexpr int64_t kSpinNs = 20000;     // pure spinning, then spinning with a yield per try
constexpr int64_t kIdleNs = 1000000;   // a worker without work sleeps after this long

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins on `done` with a pause per try; after kSpinNs, yields the core at each try: the machine may have
// fewer free cores than threads, and then a participant this thread waits for may be queued behind it
// on its own core.
template <typename Done>
void SpinWait(Done done) {
  const auto start = std::chrono::steady_clock::now();
  bool yielding = false;
  for (int i = 0; !done(); ++i) {
    if (yielding) {
      std::this_thread::yield();
    } else {
      CpuRelax();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > std::chrono::nanoseconds(kSpinNs)) yielding = true;
    }
  }
}

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
  SpinWait([this] { return pending_.load(std::memory_order_acquire) == 0; });
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
  SpinWait([this, gen] { return barrier_generation_.load(std::memory_order_acquire) != gen; });
}

void SpinPool::WorkerLoop(int id) {
  uint64_t seen = 0;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0;; ++i) {
      if (stop_.load(std::memory_order_acquire)) return;
      if (generation_.load(std::memory_order_acquire) != seen) break;
      if ((i & 63) != 63) {
        CpuRelax();
        continue;
      }
      const auto waited = std::chrono::steady_clock::now() - start;
      if (waited > std::chrono::nanoseconds(kSpinNs)) std::this_thread::yield();
      if (waited > std::chrono::nanoseconds(kIdleNs)) {
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
