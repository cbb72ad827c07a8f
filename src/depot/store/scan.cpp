#include "depot/store/scan.h"

#include "depot/store/files.h"

namespace depot::store {

namespace {

// Whether an intact run of records (two in a row, or one ending at the end) starts at p: what
// follows a bad record in the middle of a log, never what noise looks like by chance.
bool intact_chain_at(std::string_view bytes, size_t p) {
  RecordView a;
  if (read_record(bytes.substr(p), a) != ReadRecord::OK) return false;
  const size_t next = p + a.size;
  if (next == bytes.size()) return true;
  RecordView b;
  return read_record(bytes.substr(next), b) == ReadRecord::OK;
}

bool all_zero(std::string_view bytes) {
  for (char c : bytes)
    if (c != 0) return false;
  return true;
}

}  // namespace

Scan scan_records(std::string_view bytes,
                  const std::function<bool(const RecordView&, size_t, std::string&)>& apply) {
  Scan s;
  size_t off = 0;
  while (off < bytes.size()) {
    RecordView r;
    const ReadRecord how = read_record(bytes.substr(off), r);
    if (how == ReadRecord::OK) {
      if (!apply(r, off, s.problem)) {
        s.end = Scan::End::REFUSED;
        s.good_bytes = off;
        return s;
      }
      ++s.records;
      off += r.size;
      continue;
    }
    s.good_bytes = off;
    const std::string_view rest = bytes.substr(off);
    // Zeros after the last record are space written ahead of the records (store.cpp), or
    // what a file system left after a crash: no record, no damage.
    if (all_zero(rest)) {
      s.padding = rest.size();
      return s;
    }
    // Damage is a torn tail when nothing intact follows it: a crash cut the last write short.
    bool intact_after = false;
    for (size_t p = off + 1; p + kRecordHeader < bytes.size() && !intact_after; ++p)
      intact_after = intact_chain_at(bytes, p);
    const std::string what = how == ReadRecord::TORN
                                 ? "a record of " + std::to_string(r.size) + " bytes with only " +
                                       std::to_string(rest.size()) + " left in the file"
                                 : "a record whose checksum or length is wrong";
    s.end = intact_after ? Scan::End::CORRUPT : Scan::End::TORN_TAIL;
    s.damaged_bytes = rest.find_last_not_of('\0') + 1;
    s.problem = what + (intact_after ? ", with intact records after it" : "");
    return s;
  }
  s.good_bytes = off;
  return s;
}

bool scan_snapshot(std::string_view bytes, uint64_t& position,
                   const std::function<bool(const RecordView&, std::string&)>& apply,
                   std::string& problem, uint64_t* records) {
  if (bytes.size() < kSnapshotHeader) {
    problem = "it is shorter than a snapshot's header";
    return false;
  }
  proto::Reader h(bytes.substr(0, kSnapshotHeader));
  const uint64_t magic = h.u64();
  const uint32_t version = h.u32();
  position = h.u64();
  if (magic != kSnapshotMagic) {
    problem = "it is not a depot snapshot (bad magic)";
    return false;
  }
  if (version != kSnapshotVersion) {
    problem = "it is a version " + std::to_string(version) +
              " snapshot; this manager reads version " + std::to_string(kSnapshotVersion);
    return false;
  }
  uint64_t count = 0;
  size_t off = kSnapshotHeader;
  while (off < bytes.size()) {
    RecordView r;
    if (read_record(bytes.substr(off), r) != ReadRecord::OK) {
      problem = "a damaged record at offset " + std::to_string(off);
      return false;
    }
    if (static_cast<uint8_t>(r.type) == kEndRecord) {
      proto::Reader e(r.payload);
      const uint64_t n = e.u64();
      if (!e.at_end() || n != count || off + r.size != bytes.size()) {
        problem = "its END record at offset " + std::to_string(off) + " does not match it";
        return false;
      }
      if (records) *records = count;
      return true;
    }
    if (!apply(r, problem)) {
      problem = "record at offset " + std::to_string(off) + ": " + problem;
      return false;
    }
    ++count;
    off += r.size;
  }
  problem = "it has no END record: it was not written to the end";
  return false;
}

}  // namespace depot::store
