// Reading log segments and snapshots back, record by record (queue/journal.h), telling a torn
// tail (the crash happened while the last records were written: drop them) from damage in the
// middle (stop and say where). Used by recovery and by depot-check-log.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "depot/queue/journal.h"

namespace depot::store {

struct Scan {
  uint64_t records = 0;
  size_t good_bytes = 0;  // bytes of whole, intact records from the start
  size_t padding = 0;     // zero bytes after them (CLEAN): space written ahead of the records
  enum class End {
    CLEAN,      // every byte belongs to an intact record, or is a zero after the last one
    TORN_TAIL,  // from good_bytes on: part of a record, or damage with nothing intact after it
    CORRUPT,    // a bad record at good_bytes with intact records after it
    REFUSED,    // apply() refused the record at good_bytes (it does not fit the state)
  } end = End::CLEAN;
  std::string problem;       // what is wrong at good_bytes
  size_t damaged_bytes = 0;  // (not CLEAN) from good_bytes to the last non-zero byte: what a
                             // cut there drops; the zeros after it were space written ahead
};

// Calls apply(record, offset) for each intact record of `bytes` in order until the first one
// that is not (or that apply refuses, returning false with a reason in `problem`).
Scan scan_records(
    std::string_view bytes,
    const std::function<bool(const RecordView&, size_t offset, std::string& problem)>& apply);

// A snapshot file: its position, then its records through apply; false with `problem` when
// the header, a record or the END record is wrong.
bool scan_snapshot(std::string_view bytes, uint64_t& position,
                   const std::function<bool(const RecordView&, std::string& problem)>& apply,
                   std::string& problem, uint64_t* records = nullptr);

}  // namespace depot::store
