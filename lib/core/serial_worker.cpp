#include "lib/core/serial_worker.h"

#include <torch/torch.h>

namespace sherl {

SerialWorker::SerialWorker(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity), thread_([this] { run(); }) {}

SerialWorker::~SerialWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  changed_.notify_all();
  thread_.join();
}

void SerialWorker::rethrow_error() {
  if (!error_) return;
  std::exception_ptr e = error_;
  error_ = nullptr;
  std::rethrow_exception(e);
}

void SerialWorker::submit(std::function<void()> task) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return queue_.size() < capacity_ || error_; });
  rethrow_error();
  queue_.push_back(std::move(task));
  changed_.notify_all();
}

void SerialWorker::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return (queue_.empty() && !running_task_) || error_; });
  rethrow_error();
}

void SerialWorker::run() {
  // The producer's tensors may be inference tensors (sherl-extract runs under
  // InferenceMode); reading them is allowed anywhere, and no task needs gradients.
  c10::InferenceMode inference;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (stopping_) return;
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    running_task_ = true;
    lock.unlock();
    changed_.notify_all();  // room in the queue for a waiting submit()
    std::exception_ptr failure;
    try {
      task();
    } catch (...) {
      failure = std::current_exception();
    }
    task = nullptr;  // what it owned goes now, not with the next task
    lock.lock();
    running_task_ = false;
    if (failure) {
      error_ = failure;
      queue_.clear();
    }
    changed_.notify_all();
  }
}

}  // namespace sherl
