// Shared by the fuzz targets (issue 13, item 9): the loaders read files, so each input is written
// to a private temporary file first. An input may end in tahoma::Error (bad input, exit 2 in the
// CLI); any other exception, a crash, a sanitizer report or a hang is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace tahoma::fuzz {

// A file named `name` in a per-process directory, rewritten for each input.
inline std::string write_input(const std::uint8_t* data, std::size_t size, const char* name) {
  static const std::string dir = [] {
    std::string d = "/tmp/tahoma-fuzz-" + std::to_string(::getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) std::abort();
    return d;
  }();
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

}  // namespace tahoma::fuzz
