// Tahoma's error policy (STYLE.md): exceptions rooted at tahoma::Error for bad input that ends the
// run; result values for expected outcomes (a layout that does not fit); TAHOMA_ASSERT for bugs.
// Library code never prints and never exits; only main() maps errors to exit codes.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace tahoma {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad user input. The message reads "FILE: KEY.PATH: what was wrong (expected ...)[; did you mean X?]".
class InputError : public Error {
 public:
  InputError(std::string where, std::string key_path, std::string problem);
  [[nodiscard]] const std::string& where() const { return where_; }
  [[nodiscard]] const std::string& key_path() const { return key_path_; }
  // What was wrong, without the location: to re-raise the error at another location or key.
  [[nodiscard]] const std::string& problem() const { return problem_; }

 private:
  std::string where_;
  std::string key_path_;
  std::string problem_;
};

// The closest candidate to `word` by edit distance, or "" when none is plausibly a misspelling.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

[[noreturn]] void assert_fail(const char* expr, const char* file, int line);

}  // namespace tahoma

#define TAHOMA_ASSERT(expr) ((expr) ? (void)0 : ::tahoma::assert_fail(#expr, __FILE__, __LINE__))
