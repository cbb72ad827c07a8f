#include "depot/store/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace depot::store {

std::string errno_text(int e) {
  return std::strerror(e);
}

namespace {
std::string with_position(const char* prefix, uint64_t position) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%016llx", prefix, static_cast<unsigned long long>(position));
  return buf;
}
}  // namespace

std::string segment_name(uint64_t position) {
  return with_position("log.", position);
}
std::string snapshot_name(uint64_t position) {
  return with_position("snapshot.", position);
}

std::optional<uint64_t> parse_position(std::string_view file, std::string_view prefix) {
  if (file.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view hex = file.substr(prefix.size());
  if (hex.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : hex) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return std::nullopt;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  return v;
}

DirListing list_dir(const std::string& dir) {
  DirListing out;
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    throw std::runtime_error("cannot read data directory '" + dir + "': " + errno_text(errno));
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      out.temporary.push_back(name);
    } else if (auto p = parse_position(name, "log.")) {
      out.segments.push_back(*p);
    } else if (auto q = parse_position(name, "snapshot.")) {
      out.snapshots.push_back(*q);
    }
  }
  ::closedir(d);
  std::sort(out.segments.begin(), out.segments.end());
  std::sort(out.snapshots.begin(), out.snapshots.end());
  return out;
}

int open_file(const std::string& path, int flags, int mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot open '" + path + "': " + errno_text(errno));
  return fd;
}

void fsync_dir(const std::string& dir) {
  const int fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  const int r = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (r != 0) throw std::runtime_error("cannot fsync directory '" + dir + "': " + errno_text(e));
}

std::string read_file(const std::string& path) {
  const int fd = open_file(path, O_RDONLY);
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw std::runtime_error("cannot read '" + path + "': " + errno_text(e));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

bool write_all(int fd, std::string_view bytes, size_t& written, std::optional<uint64_t> at) {
  written = 0;
  while (written < bytes.size()) {
    const char* from = bytes.data() + written;
    const size_t left = bytes.size() - written;
    const ssize_t n =
        at ? ::pwrite(fd, from, left, static_cast<off_t>(*at + written)) : ::write(fd, from, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) {
      errno = ENOSPC;
      return false;
    }
    written += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace depot::store
