// Where results are written (issue 13, item 1): symlinks are followed, FIFOs and devices written
// through, regular files replaced atomically, and no temporary file is ever left behind. The tests
// use a symlink and a FIFO in a temporary directory, never a real device.
#include "../../src/cli/output.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "../test_util.h"

namespace tahoma::cli {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every entry of `dir`, so a test can assert that no temporary file was left.
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Output, NewRegularFileIsCreatedWithTheUsualPermissions) {
  testing::TempDir dir;
  const auto path = dir.path() / "out.json";
  write_output("hello\n", path.string(), "--output");
  EXPECT_EQ(slurp(path), "hello\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);  // not mkstemp's 0600
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out.json"});
}

TEST(Output, RegularFileIsReplacedKeepingItsPermissions) {
  testing::TempDir dir;
  const std::string path = dir.write("out.txt", "old contents that are longer than the new ones\n");
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  write_output("new\n", path, "--output");
  EXPECT_EQ(slurp(path), "new\n");
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_mode & 0777, 0640u);
  EXPECT_NE(after.st_ino, before.st_ino);  // a new file renamed over the old one: atomic for readers
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"out.txt"});
}

TEST(Output, SymlinkIsFollowedAndSurvives) {
  testing::TempDir dir;
  const std::string target = dir.write("real.json", "{}\n");
  fs::create_directories(dir.path() / "links");
  const auto link = dir.path() / "links" / "out.json";
  fs::create_symlink("../real.json", link);  // relative to the link's own directory
  const auto link2 = dir.path() / "out2.json";
  fs::create_symlink(link, link2);  // two levels
  write_output("through the links\n", link2.string(), "--output");
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link2)));
  EXPECT_EQ(slurp(target), "through the links\n");
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"links", "out2.json", "real.json"}));
}

TEST(Output, DanglingSymlinkCreatesItsTarget) {
  testing::TempDir dir;
  const auto link = dir.path() / "out.json";
  fs::create_symlink("made.json", link);
  write_output("x\n", link.string(), "--output");
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
  EXPECT_EQ(slurp(dir.path() / "made.json"), "x\n");
}

TEST(Output, SymlinkLoopIsAnInputError) {
  testing::TempDir dir;
  fs::create_symlink("b", dir.path() / "a");
  fs::create_symlink("a", dir.path() / "b");
  const std::string msg =
      testing::input_error([&] { write_output("x", (dir.path() / "a").string(), "--output"); });
  EXPECT_CONTAINS(msg, "symbolic links");
  EXPECT_CONTAINS(msg, "--output");
}

TEST(Output, FifoIsWrittenThroughNotReplaced) {
  testing::TempDir dir;
  const auto fifo = dir.path() / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = slurp(fifo); });  // opening for writing waits for this reader
  write_output("through the fifo\n", fifo.string(), "--trace");
  reader.join();
  EXPECT_EQ(got, "through the fifo\n");
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"pipe"});
}

TEST(Output, DirectoryIsAnInputErrorAndLeavesNothingBehind) {
  testing::TempDir dir;
  fs::create_directories(dir.path() / "sub");
  const std::string msg = testing::input_error([&] { write_output("x", (dir.path() / "sub").string(), "--output"); });
  EXPECT_CONTAINS(msg, "is a directory");
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"sub"});
  EXPECT_TRUE(fs::is_empty(dir.path() / "sub"));
}

TEST(Output, MissingDirectoryIsAnInputError) {
  testing::TempDir dir;
  const std::string msg =
      testing::input_error([&] { write_output("x", (dir.path() / "no" / "out.json").string(), "--output"); });
  EXPECT_CONTAINS(msg, "cannot create a file in directory");
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{});
}

TEST(Output, UnwritableDirectoryLeavesNoTemporary) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes anywhere";
  testing::TempDir dir;
  fs::create_directories(dir.path() / "ro");
  fs::permissions(dir.path() / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  const std::string msg =
      testing::input_error([&] { write_output("x", (dir.path() / "ro" / "out.json").string(), "--output"); });
  EXPECT_CONTAINS(msg, "cannot create");
  fs::permissions(dir.path() / "ro", fs::perms::owner_all);
  EXPECT_TRUE(fs::is_empty(dir.path() / "ro"));
}

}  // namespace
}  // namespace tahoma::cli
