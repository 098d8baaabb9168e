#pragma once
// Runs tasks in submission order on one background thread, with at most `capacity` waiting:
// a producer (forward passes on a GPU or the CPU) overlaps with a slower consumer
// (compression and HDF5 writes) in bounded memory. The first task that throws stops the
// rest; its exception is rethrown, once, by the next submit() or wait().
// Tasks should own what they use (capture shared_ptrs or values): the destructor drops the
// tasks still waiting (an error is unwinding the producer) and joins the running one.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace sherl {

class SerialWorker {
 public:
  explicit SerialWorker(size_t capacity);
  ~SerialWorker();
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  // Queues `task`; blocks while `capacity` tasks wait.
  void submit(std::function<void()> task);
  // Blocks until every submitted task has run.
  void wait();

 private:
  void run();
  void rethrow_error();  // with the lock held

  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> queue_;
  bool running_task_ = false;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace sherl
