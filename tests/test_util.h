// Helpers shared by the tests that write files and run the built tools:
// a temporary folder per test, a tool's path under $COSAL_BUILD_DIR, running
// a command for its exit status and output, reading and writing whole files.
// Header-only and free of LibTorch, so any test can include it.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cosal::test {

namespace fs = std::filesystem;

// A fresh folder <tmp>/<prefix>_<pid>_<test name>, removed with the object:
// parallel test processes and tests of one process never share one.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& prefix) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = fs::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()) +
                                        (info ? std::string("_") + info->name() : ""));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;  // a destructor must not throw
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// $COSAL_BUILD_DIR/tools/<name>, or "" when that is unset or the tool is not
// built (the caller skips).
inline std::string tool_path(const std::string& name) {
  const char* build = std::getenv("COSAL_BUILD_DIR");
  if (!build) return {};
  const fs::path tool = fs::path(build) / "tools" / name;
  return fs::exists(tool) ? tool.string() : std::string();
}

struct RunResult {
  int status = -1;     // exit status; -1 when it did not exit normally
  std::string output;  // stdout and stderr, interleaved
};

// Runs `cmd` through the shell.
inline RunResult run(const std::string& cmd) {
  RunResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `text` to p, creating its folder.
inline void write_text(const fs::path& p, const std::string& text) {
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

}  // namespace cosal::test
