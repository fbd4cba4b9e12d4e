#include "tahoma/error.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace tahoma {

namespace {
std::string compose(const std::string& where, const std::string& key_path, const std::string& problem) {
  std::string out = where;
  if (!key_path.empty()) out += (out.empty() ? "" : ": ") + key_path;
  return out + (out.empty() ? "" : ": ") + problem;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1);
  std::vector<size_t> cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

InputError::InputError(std::string where, std::string key_path, std::string problem)
    : Error(compose(where, key_path, problem)),
      where_(std::move(where)),
      key_path_(std::move(key_path)),
      problem_(std::move(problem)) {}

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = word.size() / 2 + 2;  // beyond this, a suggestion is noise
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d || (d == best_d && !best.empty() && c < best)) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

void assert_fail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "tahoma: internal error: %s failed at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace tahoma
