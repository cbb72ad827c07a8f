#include "depot/queue/item_store.h"

#include <cstring>

namespace depot {

uint32_t ItemStore::read_len(const Chunk& c, uint32_t off, uint32_t& hdr) {
  const auto* p = reinterpret_cast<const unsigned char*>(c.data.get() + off);
  uint32_t len = 0;
  hdr = 0;
  for (int shift = 0;; shift += 7) {
    const unsigned char b = p[hdr++];
    len |= static_cast<uint32_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return len;
  }
}

namespace {
// Writes `len` as LEB128 at p; returns the bytes written (1..5).
uint32_t write_len(char* p, uint32_t len) {
  uint32_t n = 0;
  do {
    unsigned char b = len & 0x7f;
    len >>= 7;
    if (len) b |= 0x80;
    p[n++] = static_cast<char>(b);
  } while (len);
  return n;
}
uint32_t len_size(size_t len) {
  return len < (1u << 7)    ? 1
         : len < (1u << 14) ? 2
         : len < (1u << 21) ? 3
         : len < (1u << 28) ? 4
                            : 5;
}
}  // namespace

void ItemStore::push(std::string_view item) {
  const size_t need = len_size(item.size()) + item.size();
  if (chunks_.empty() || chunks_.back().cap - chunks_.back().tail < need) {
    Chunk c;
    if (need <= kChunkBytes && spare_.data) {
      c = std::move(spare_);
      spare_ = Chunk{};
    } else {
      c.cap = static_cast<uint32_t>(need <= kChunkBytes ? kChunkBytes : need);
      c.data = std::make_unique_for_overwrite<char[]>(c.cap);
    }
    c.head = c.tail = 0;
    chunks_.push_back(std::move(c));
  }
  Chunk& c = chunks_.back();
  const auto len = static_cast<uint32_t>(item.size());
  const uint32_t hdr = write_len(c.data.get() + c.tail, len);
  if (len) std::memcpy(c.data.get() + c.tail + hdr, item.data(), len);
  c.tail += static_cast<uint32_t>(need);
  ++count_;
  bytes_ += item.size();
}

std::string_view ItemStore::front() const {
  const Chunk& c = chunks_.front();
  uint32_t hdr = 0;
  const uint32_t len = read_len(c, c.head, hdr);
  return {c.data.get() + c.head + hdr, len};
}

void ItemStore::pop() {
  Chunk& c = chunks_.front();
  uint32_t hdr = 0;
  const uint32_t len = read_len(c, c.head, hdr);
  c.head += hdr + len;
  --count_;
  bytes_ -= len;
  if (c.head == c.tail) {
    if (c.cap == kChunkBytes && !spare_.data) spare_ = std::move(c);
    chunks_.pop_front();
  }
}

void ItemStore::clear() {
  chunks_.clear();
  count_ = 0;
  bytes_ = 0;
}

}  // namespace depot
