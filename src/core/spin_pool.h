// A small persistent thread pool for the layers (integer runtime and float baseline): `threads - 1` workers plus the calling
// thread run one function together, with a spinning barrier between the steps of a sequence. Workers
// wait for the next job for about a millisecond (a step of a small LSTM takes microseconds, less than a
// sleeping thread takes to wake), then sleep on a condition variable. Every wait spins for 20 us, then
// yields its core at each try: on a machine with fewer free cores than threads, the thread waited for
// may be queued behind the waiting one. Integer only (no-float check).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace irnn {

class SpinPool {
 public:
  // threads >= 1; with 1 there are no workers and Run calls fn(0) directly.
  explicit SpinPool(int threads);
  ~SpinPool();
  SpinPool(const SpinPool&) = delete;
  SpinPool& operator=(const SpinPool&) = delete;

  int size() const { return n_; }
  // Calls fn(0) on this thread and fn(1) ... fn(size() - 1) on the workers; returns when all returned.
  // Not reentrant: one Run at a time (the caller serializes).
  void Run(const std::function<void(int)>& fn);
  // Inside fn: returns when all size() participants have called it. Writes before it are visible to
  // every participant after it.
  void Barrier();

 private:
  void WorkerLoop(int id);

  int n_ = 1;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* fn_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // bumped once per Run
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> barrier_count_{0};
  std::atomic<uint64_t> barrier_generation_{0};
};

}  // namespace irnn
