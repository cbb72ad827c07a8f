#include "depot/queue/journal.h"

#include <zlib.h>

namespace depot {

uint32_t crc32_of(std::string_view bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {  // zlib takes uInt lengths
    const uInt n = left > (1u << 30) ? (1u << 30) : static_cast<uInt>(left);
    crc = ::crc32(crc, p, n);
    p += n;
    left -= n;
  }
  return static_cast<uint32_t>(crc);
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
