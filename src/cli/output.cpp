// Output that writes through devices, FIFOs and symlinks and replaces only regular files, atomically.
#include "output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "tahoma/error.h"

namespace tahoma::cli {
namespace {

// POSIX allows SYMLOOP_MAX >= 8; Linux stops at 40 (path_resolution(7)).
constexpr int kMaxSymlinkHops = 40;

std::string errno_text(int err) { return std::strerror(err); }

std::string parent_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Follows `path` through symbolic links to the name that is not one (which may not exist yet).
std::string resolve_links(const std::string& path, std::string_view flag) {
  std::string cur = path;
  for (int hop = 0; hop < kMaxSymlinkHops; ++hop) {
    struct stat st {};
    if (::lstat(cur.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 4096) + 1, '\0');
    const ssize_t n = ::readlink(cur.c_str(), target.data(), target.size());
    if (n < 0) {
      throw InputError(path, std::string(flag), fmt::format("cannot read the symbolic link: {}", errno_text(errno)));
    }
    target.resize(static_cast<size_t>(n));
    cur = !target.empty() && target.front() == '/' ? target : parent_of(cur) + "/" + target;
  }
  throw InputError(path, std::string(flag),
                   fmt::format("more than {} levels of symbolic links (expected a file path)", kMaxSymlinkHops));
}

// Writes all of `text` to `fd`; returns 0 or the errno of the failed write.
int write_all(int fd, std::string_view text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

void write_through(std::string_view text, const std::string& path, std::string_view flag) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw InputError(path, std::string(flag), fmt::format("cannot open for writing: {}", errno_text(errno)));
  const int err = write_all(fd, text);
  const int close_err = ::close(fd) != 0 ? errno : 0;
  if (err != 0 || close_err != 0) {
    throw InputError(path, std::string(flag), fmt::format("cannot write: {}", errno_text(err != 0 ? err : close_err)));
  }
}

// Removes the temporary file unless release() was called.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

void replace_atomically(std::string_view text, const std::string& path, const struct stat* old,
                        std::string_view flag) {
  const std::string dir = parent_of(path);
  std::string tmp = dir + "/." + base_of(path) + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    throw InputError(path, std::string(flag),
                     fmt::format("cannot create a file in directory '{}': {} (check that it exists and is writable)",
                                 dir, errno_text(errno)));
  }
  TempFile guard(tmp);
  // mkstemp creates mode 0600; give the result the old file's bits, or what a new file would get.
  mode_t mode = 0;
  if (old != nullptr) {
    mode = old->st_mode & 07777;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = static_cast<mode_t>(0666 & ~mask);
  }
  int err = ::fchmod(fd, mode) != 0 ? errno : 0;
  if (err == 0) err = write_all(fd, text);
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) throw InputError(path, std::string(flag), fmt::format("cannot write: {}", errno_text(err)));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw InputError(path, std::string(flag), fmt::format("cannot replace the file: {}", errno_text(errno)));
  }
  guard.release();
}

}  // namespace

void write_output(std::string_view text, const std::string& target, std::string_view flag) {
  if (target.empty() || target == "-") {
    if (!text.empty() && std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
      throw InputError("<stdout>", std::string(flag), fmt::format("cannot write: {}", errno_text(errno)));
    }
    if (std::fflush(stdout) != 0) {
      throw InputError("<stdout>", std::string(flag), fmt::format("cannot write: {}", errno_text(errno)));
    }
    return;
  }
  const std::string path = resolve_links(target, flag);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      throw InputError(target, std::string(flag),
                       fmt::format("is a directory (expected a file path, e.g. {}/out.json)", target));
    }
    if (!S_ISREG(st.st_mode)) return write_through(text, path, flag);
    return replace_atomically(text, path, &st, flag);
  }
  if (errno != ENOENT) {
    throw InputError(target, std::string(flag), fmt::format("cannot write here: {}", errno_text(errno)));
  }
  replace_atomically(text, path, nullptr, flag);
}

std::string read_stdin(std::string_view flag, std::size_t limit_bytes) {
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError("<stdin>", std::string(flag), fmt::format("cannot read: {}", errno_text(errno)));
    }
    if (text.size() + static_cast<size_t>(n) > limit_bytes) {
      throw InputError("<stdin>", std::string(flag),
                       fmt::format("more than {} bytes (expected a scenario or CSV file)", limit_bytes));
    }
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace tahoma::cli
