#include "depot/queue/journal.h"

#include <cstring>

#include <boost/crc.hpp>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace depot {

namespace {

// CRC-32C (Castagnoli), the checksum of ext4, iSCSI and LevelDB: the SSE 4.2 instruction
// where the processor has it (a few bytes per cycle, no per-call setup: records are small
// and there is one per change), Boost.CRC's table otherwise. zlib's crc32 was measured at 7%
// of the manager's time on 40-byte records, mostly its per-call setup.
using SoftCrc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

uint32_t crc32c_soft(std::string_view bytes) {
  SoftCrc32c crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_hard(std::string_view bytes) {
  uint64_t crc = 0xFFFFFFFFu;
  const char* p = bytes.data();
  size_t n = bytes.size();
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    crc = _mm_crc32_u64(crc, v);
  }
  auto c = static_cast<uint32_t>(crc);
  for (; n > 0; --n, ++p) c = _mm_crc32_u8(c, static_cast<uint8_t>(*p));
  return c ^ 0xFFFFFFFFu;
}
const bool kHardCrc = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

uint32_t crc32_of(std::string_view bytes) {
#if defined(__x86_64__)
  if (kHardCrc) return crc32c_hard(bytes);
#endif
  return crc32c_soft(bytes);
}

Journal::Record::Record(Journal& j, Rec type) : j_(j), start_(j.buf_.size()) {
  j_.buf_.append(kRecordHeader, '\0');  // length and checksum, patched when finished
  j_.buf_.push_back(static_cast<char>(type));
}

Journal::Record::~Record() {
  std::string& b = j_.buf_;
  const size_t body = b.size() - start_ - kRecordHeader;
  proto::store_u32(b.data() + start_, static_cast<uint32_t>(body));
  proto::store_u32(b.data() + start_ + 4,
                   crc32_of(std::string_view(b.data() + start_ + kRecordHeader, body)));
  ++j_.records_;
  if (b.size() >= j_.spill_bytes_ && j_.spill_) {
    j_.spill_(b);
    j_.base_ += b.size();
    b.clear();
  }
}

ReadRecord read_record(std::string_view bytes, RecordView& out) {
  out = {};
  if (bytes.size() < kRecordHeader + 1) {
    out.size = bytes.size() < kRecordHeader ? 0 : kRecordHeader + 1;
    return ReadRecord::TORN;
  }
  const uint32_t body = proto::load_u32(bytes.data());
  const uint32_t crc = proto::load_u32(bytes.data() + 4);
  if (body == 0) return ReadRecord::CORRUPT;  // every record has a type byte
  out.size = kRecordHeader + body;
  if (bytes.size() - kRecordHeader < body) return ReadRecord::TORN;
  const std::string_view b = bytes.substr(kRecordHeader, body);
  if (crc32_of(b) != crc) return ReadRecord::CORRUPT;
  out.type = static_cast<Rec>(static_cast<uint8_t>(b[0]));
  out.payload = b.substr(1);
  return ReadRecord::OK;
}

}  // namespace depot
