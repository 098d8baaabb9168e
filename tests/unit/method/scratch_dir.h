#pragma once
// A fresh scratch directory per test, removed afterwards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace sherl::test {

class ScratchDir {
 public:
  ScratchDir() {
    static int serial = 0;  // several per test are distinct
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::temp_directory_path() /
             ("sherl-method-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" + info->name() +
              "-" + std::to_string(serial++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace sherl::test
