#include "lib/core/serial_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <vector>

namespace {

TEST(SerialWorker, RunsTasksInOrderOffTheCallingThread) {
  std::vector<int> order;
  std::thread::id caller = std::this_thread::get_id(), ran_on;
  sherl::SerialWorker worker(2);
  for (int i = 0; i < 100; ++i)
    worker.submit([&, i] {
      order.push_back(i);
      ran_on = std::this_thread::get_id();
    });
  worker.wait();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
  EXPECT_NE(ran_on, caller);
}

TEST(SerialWorker, BoundsWhatWaits) {
  std::atomic<int> started{0}, submitted{0};
  std::atomic<bool> release{false};
  sherl::SerialWorker worker(2);
  std::thread producer([&] {
    for (int i = 0; i < 6; ++i) {
      worker.submit([&] {
        ++started;
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      });
      ++submitted;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // one task running, two waiting: the fourth submit blocks
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(submitted.load(), 3);
  release = true;
  producer.join();
  worker.wait();
  EXPECT_EQ(started.load(), 6);
}

TEST(SerialWorker, FirstErrorDropsTasksQueuedBehindItAndIsRethrownOnce) {
  std::atomic<bool> release{false};
  int after = 0, errors = 0;
  sherl::SerialWorker worker(8);
  worker.submit([&] {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    throw std::runtime_error("disk full");
  });
  for (int i = 0; i < 5; ++i) worker.submit([&] { ++after; });  // queued behind the failing task
  release = true;
  try {
    worker.wait();
  } catch (const std::runtime_error&) {
    ++errors;
  }
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(after, 0);
  // The error was reported; the worker takes new work again.
  worker.submit([&] { ++after; });
  worker.wait();
  EXPECT_EQ(after, 1);
}

TEST(SerialWorker, ErrorReachesTheProducer) {
  sherl::SerialWorker worker(1);
  worker.submit([] { throw std::runtime_error("write failed"); });
  EXPECT_THROW(worker.wait(), std::runtime_error);
  EXPECT_NO_THROW(worker.wait());
}

TEST(SerialWorker, DestructionDropsWaitingTasksAndReleasesWhatTheyOwn) {
  auto owned = std::make_shared<int>(7);
  std::weak_ptr<int> watch = owned;
  std::atomic<bool> release{false};
  int ran = 0;
  {
    sherl::SerialWorker worker(4);
    worker.submit([&] {
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    worker.submit([&, owned] { ++ran; });
    owned.reset();
    release = true;
  }
  EXPECT_TRUE(watch.expired());
  EXPECT_LE(ran, 1);
}

}  // namespace
