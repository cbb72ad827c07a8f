// The files of a data directory (docs/durability.md):
//
//   LOCK                      held (flock) by the manager using the directory
//   log.<16 hex digits>       a log segment: records (queue/journal.h) from that position of
//                             the whole log on, back to back, no header
//   snapshot.<16 hex digits>  the state at that position: a header, records, an END record
//   snapshot.<...>.tmp        a snapshot being written (removed at start-up)
//
// A position is a byte offset in the one log of the directory's whole history; segments
// follow each other without gaps, and a snapshot's position is where a segment starts.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace depot::store {

// "log.000000000000002a" <-> 42.
std::string segment_name(uint64_t position);
std::string snapshot_name(uint64_t position);
std::optional<uint64_t> parse_position(std::string_view file, std::string_view prefix);

// A snapshot file: u64 magic "DPOTSNAP", u32 version, u64 position; then records; then an
// END record (payload: u64 records before it).
constexpr uint64_t kSnapshotMagic = 0x50414E53544F5044ull;  // "DPOTSNAP" little-endian
constexpr uint32_t kSnapshotVersion = 1;
constexpr size_t kSnapshotHeader = 20;
constexpr uint8_t kEndRecord = 255;  // Rec values stay below it

struct DirListing {
  std::vector<uint64_t> segments;   // sorted
  std::vector<uint64_t> snapshots;  // sorted, complete names only (no .tmp)
  std::vector<std::string> temporary;
};
// Lists `dir`; throws std::runtime_error naming the directory when it cannot be read.
DirListing list_dir(const std::string& dir);

// Small wrappers over POSIX that throw std::runtime_error naming the file and the error.
int open_file(const std::string& path, int flags, int mode = 0644);
void fsync_dir(const std::string& dir);
std::string read_file(const std::string& path);
// Writes all of `bytes` at fd's file offset (or, with `at`, at that offset of the file, by
// pwrite); returns false (errno set) on a short or failed write, leaving `written` bytes
// written.
bool write_all(int fd, std::string_view bytes, size_t& written, std::optional<uint64_t> at = {});
std::string errno_text(int e);

}  // namespace depot::store
