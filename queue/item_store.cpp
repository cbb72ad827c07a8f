#include "queue/item_store.h"

#include <cstring>

namespace depot {

uint32_t ItemStore::read_len(const Chunk& c, uint32_t off) {
  uint32_t len;
  std::memcpy(&len, c.data.get() + off, 4);
  return len;
}

void ItemStore::push(std::string_view item) {
  const size_t need = 4 + item.size();
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
  std::memcpy(c.data.get() + c.tail, &len, 4);
  if (len) std::memcpy(c.data.get() + c.tail + 4, item.data(), len);
  c.tail += static_cast<uint32_t>(need);
  ++count_;
  bytes_ += item.size();
}

std::string_view ItemStore::front() const {
  const Chunk& c = chunks_.front();
  return {c.data.get() + c.head + 4, read_len(c, c.head)};
}

void ItemStore::pop() {
  Chunk& c = chunks_.front();
  const uint32_t len = read_len(c, c.head);
  c.head += 4 + len;
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
