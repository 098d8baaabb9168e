// Hostile text inputs: lines longer than the reader's limit are refused with an error naming
// file and line, after reading no more than the limit, so memory stays bounded even for a
// gigabyte-long line arriving through a pipe.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "lib/input/line_reader.h"
#include "tests/unit/input/input_test_util.h"

namespace sherl::test {
namespace {

// Peak resident memory (VmHWM) in bytes; reset_peak_rss() starts a new peak where the
// kernel allows it (Linux >= 4.0), which the test checks.
int64_t peak_rss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return -1;
}

bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.close();
  return bool(clear);
}

// Writes `head`, then `line_bytes` bytes of 'x' without a newline, into a FIFO, from a
// thread; stops early when the reader closes its end (EPIPE).
class PipeWriter {
 public:
  PipeWriter(const std::string& fifo, std::string head, int64_t line_bytes) {
    if (mkfifo(fifo.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
    old_sigpipe_ = std::signal(SIGPIPE, SIG_IGN);
    thread_ = std::thread([this, fifo, head, line_bytes] {
      // Non-blocking open fails until a reader opens the FIFO; give up after 20 s so that a
      // reader that never opens it cannot hang the test.
      int fd = -1;
      for (int i = 0; i < 20000 && fd < 0; ++i) {
        fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
        if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (fd < 0) return;
      ::fcntl(fd, F_SETFL, 0);  // blocking writes from here on
      std::string block(1 << 20, 'x');
      bool ok = ::write(fd, head.data(), head.size()) == ssize_t(head.size());
      for (int64_t left = line_bytes; ok && left > 0;) {
        ssize_t n = ::write(fd, block.data(), size_t(std::min<int64_t>(left, int64_t(block.size()))));
        ok = n > 0;
        if (ok) {
          left -= n;
          written_ += n;
        }
      }
      ::close(fd);
    });
  }
  ~PipeWriter() { finish(); }
  // Waits for the writer (it stops once the reader has closed the FIFO) and returns the
  // bytes of the long line it wrote.
  int64_t finish() {
    if (thread_.joinable()) {
      thread_.join();
      std::signal(SIGPIPE, old_sigpipe_);
    }
    return written_;
  }

 private:
  std::thread thread_;
  std::atomic<int64_t> written_{0};
  void (*old_sigpipe_)(int) = SIG_DFL;
};

constexpr int64_t kGigabyte = int64_t(1) << 30;

TEST(HostileText, GigabyteLineThroughAPipeIsRefusedInBoundedMemory) {
  for (std::string format : {"tsv", "jsonl"}) {
    SCOPED_TRACE(format);
    ScratchDir dir;
    InputSpec spec;
    spec.path = dir / ("input." + format);
    spec.format = format;
    // A valid first row, then a second line of 1 GB.
    std::string head = format == "tsv" ? "sentence\tlabel\n" : "{\"sentence\": \"a\", \"label\": 0}\n";
    PipeWriter writer(spec.path, head, kGigabyte);
    ASSERT_TRUE(reset_peak_rss());
    int64_t before = peak_rss();
    expect_error([&] { plan_input(spec); },
                 {spec.path + ":2: line longer than " + std::to_string(kMaxLineBytes) + " bytes"});
    int64_t grown = peak_rss() - before;
    EXPECT_LT(grown, int64_t(128) << 20) << "peak RSS grew by " << grown << " bytes";
    // The reader closed the pipe after the limit: the writer stopped with EPIPE.
    EXPECT_LT(writer.finish(), int64_t(64) << 20);
  }
}

TEST(HostileText, ReaderStopsReadingAtTheLimit) {
  ScratchDir dir;
  std::string fifo = dir / "big.tsv";
  PipeWriter writer(fifo, "", kGigabyte);
  {
    LineReader lines(fifo, "big.tsv");
    std::string line;
    expect_error([&] { lines.next(line); }, {"big.tsv:1: line longer than 16777216 bytes: not a text input?"});
  }
  // What was written is the limit plus what the pipe buffered, not the gigabyte offered.
  int64_t written = writer.finish();
  EXPECT_GT(written, int64_t(kMaxLineBytes));
  EXPECT_LT(written, int64_t(kMaxLineBytes) + (int64_t(16) << 20));
}

TEST(HostileText, LineLimitIsExact) {
  ScratchDir dir;
  std::string path = dir / "t.txt";
  write_text(path, "abcd\r\nabcd\nabcde\n");
  LineReader lines(path, "t.txt", 4);
  std::string line;
  ASSERT_TRUE(lines.next(line));  // the CR is not part of the line
  EXPECT_EQ(line, "abcd");
  ASSERT_TRUE(lines.next(line));
  EXPECT_EQ(line, "abcd");
  expect_error([&] { lines.next(line); }, {"t.txt:3: line longer than 4 bytes"});
}

TEST(HostileText, LastLineWithoutNewlineAndEmptyLines) {
  ScratchDir dir;
  std::string path = dir / "t.txt";
  write_text(path, "\n\r\nlast");
  LineReader lines(path, "t.txt", 4);
  std::string line;
  std::vector<std::string> got;
  while (lines.next(line)) got.push_back(line);
  EXPECT_EQ(got, (std::vector<std::string>{"", "", "last"}));
  EXPECT_EQ(lines.line_number(), 3);
}

}  // namespace
}  // namespace sherl::test
