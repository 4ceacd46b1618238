// Durable atomic writes: after rename(tmp, path) the rename itself must reach
// the disk too, or a crash can leave the old file (or none) after the writer
// reported success. Shared by every atomic writer (PNG maps, weights files,
// training checkpoints); header-only so torch-free libraries can use it.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace cosal {

// fsyncs the folder `dir` (best effort: a folder that cannot be opened is
// left alone; the files in it were already synced by their writers).
inline void sync_dir(const std::string& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// fsyncs the folder that holds `path`.
inline void sync_parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  sync_dir(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace cosal
