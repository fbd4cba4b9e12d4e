// Helpers shared by the test programs: unique temporary directories (ctest runs tests in
// parallel), file writing, and a small system YAML with round numbers for closed-form checks.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "tahoma/error.h"

#define EXPECT_CONTAINS(haystack, needle)                          \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) \
      << "message: " << (haystack) << "\nmissing: " << (needle)

namespace tahoma::testing {

// Runs `fn`, expects an InputError, and returns its message (empty when none was thrown).
template <class Fn>
std::string input_error(Fn&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return "";
}

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("tahoma-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Writes `text` to DIR/name and returns the full path.
  [[nodiscard]] std::string write(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p);
    out << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

// One switch level of `chips` chips at `bandwidth` per direction and `latency`, every efficiency 1,
// no kernel overhead: the collective and compute formulas can be checked by hand on it.
inline std::string switch_system_yaml(int chips = 8, const std::string& bandwidth = "100 GB/s",
                                      const std::string& latency = "1 us", const std::string& extra_chip = "") {
  return "name: test-switch\n"
         "description: \"one switch level with round numbers\"\n"
         "chip:\n"
         "  name: TestChip\n"
         "  peak_flops: {bf16: 100 TFLOP/s, fp16: 100 TFLOP/s}\n"
         "  matmul_efficiency: 1.0\n"
         "  hbm_capacity: 80 GB\n"
         "  hbm_bandwidth: 1 TB/s\n"
         "  memory_efficiency: 1.0\n" +
         extra_chip +
         "scale_up:\n"
         "  name: testlink\n"
         "  chips: " +
         std::to_string(chips) +
         "\n"
         "  topology: switch\n"
         "  efficiency: 1.0\n"
         "  levels:\n"
         "    - {name: node, chips: " +
         std::to_string(chips) + ", bandwidth: " + bandwidth + ", latency: " + latency +
         "}\n"
         "scale_out:\n"
         "  name: testnet\n"
         "  bandwidth: 400 Gb/s\n"
         "  latency: 5 us\n"
         "  efficiency: 1.0\n";
}

// The data directory of the source tree.
inline std::string data_path(const std::string& rel) {
  return std::string(TAHOMA_SOURCE_DIR) + "/data/" + rel;
}

}  // namespace tahoma::testing
