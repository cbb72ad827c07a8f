// depot-check-log: checks a data directory's log segment or snapshot (docs/durability.md), as
// redis-check-aof does for an AOF.
//
//   depot-check-log FILE          reports the intact records and the first damage, if any
//   depot-check-log --fix FILE    truncates a log segment at its first damaged record
//
// Exit codes: 0 the file is intact (or was fixed), 1 it is damaged, 2 usage or I/O error.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "depot/protocol/version.h"
#include "depot/store/files.h"
#include "depot/store/scan.h"

namespace {

const char* kUsage = R"(usage: depot-check-log [--fix] FILE
       depot-check-log --help | --version

Checks a depot-manager log segment (log.<position>) or snapshot (snapshot.<position>): every
record's length and checksum, and for a snapshot its header and END record. With --fix, a log
segment is cut at its first damaged record: that record and everything after it are dropped
(the manager refuses to start on damage in the middle of a log, and says to run this).
Stop the manager that uses the directory first.

Exit codes: 0 intact (or fixed), 1 damaged, 2 usage or I/O error.
)";

}  // namespace

int main(int argc, char** argv) {
  bool fix = false;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--version") {
      std::cout << "depot-check-log " << depot::version() << "\n";
      return 0;
    }
    if (a == "--fix") {
      fix = true;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "depot-check-log: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else if (path.empty()) {
      path = a;
    } else {
      std::cerr << "depot-check-log: one file at a time\n" << kUsage;
      return 2;
    }
  }
  if (path.empty()) {
    std::cerr << "depot-check-log: no FILE given\n" << kUsage;
    return 2;
  }
  std::string bytes;
  try {
    bytes = depot::store::read_file(path);
  } catch (const std::exception& e) {
    std::cerr << "depot-check-log: " << e.what() << "\n";
    return 2;
  }
  const std::string base =
      path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  if (depot::store::parse_position(base, "snapshot.")) {
    uint64_t position = 0, records = 0;
    std::string problem;
    const bool ok = depot::store::scan_snapshot(
        bytes, position, [](const depot::RecordView&, std::string&) { return true; }, problem,
        &records);
    if (ok) {
      std::printf("%s: snapshot at position %llu, %llu records, %zu bytes: intact\n", path.c_str(),
                  static_cast<unsigned long long>(position),
                  static_cast<unsigned long long>(records), bytes.size());
      return 0;
    }
    std::printf("%s: damaged snapshot: %s\n", path.c_str(), problem.c_str());
    if (fix)
      std::printf(
          "a snapshot cannot be cut short (the log before it is gone): restore the data directory "
          "from a backup\n");
    return 1;
  }
  const depot::store::Scan s = depot::store::scan_records(
      bytes, [](const depot::RecordView&, size_t, std::string&) { return true; });
  if (s.end == depot::store::Scan::End::CLEAN) {
    std::printf("%s: %llu records, %zu bytes: intact", path.c_str(),
                static_cast<unsigned long long>(s.records), s.good_bytes);
    if (s.padding)
      std::printf(" (then %zu zero bytes written ahead for the next records)", s.padding);
    std::printf("\n");
    return 0;
  }
  const size_t dropped = s.damaged_bytes;  // zeros written ahead after it are not counted
  const bool torn = s.end == depot::store::Scan::End::TORN_TAIL;
  std::printf(
      "%s: %llu intact records (%zu bytes), then %s at offset %zu; %zu bytes from there to "
      "the last written byte%s\n",
      path.c_str(), static_cast<unsigned long long>(s.records), s.good_bytes, s.problem.c_str(),
      s.good_bytes, dropped,
      torn ? " (a torn last write: the manager drops it by itself at start-up)" : "");
  if (!fix) {
    std::printf("run depot-check-log --fix %s to cut it there\n", path.c_str());
    return 1;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(s.good_bytes)) != 0 || ::fsync(fd) != 0) {
    std::perror(("depot-check-log: cannot truncate " + path).c_str());
    if (fd >= 0) ::close(fd);
    return 2;
  }
  ::close(fd);
  std::printf("truncated %s to %zu bytes, dropping %zu\n", path.c_str(), s.good_bytes, dropped);
  return 0;
}
