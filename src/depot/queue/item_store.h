// A FIFO of opaque byte strings packed into chunks.
//
// Items are stored back to back as [varint length][bytes] in chunks of kChunkBytes (an item
// larger than that gets a chunk of its own). The length is LEB128: one byte below 128, so a
// 16-byte item costs 17 bytes plus a share of the chunk bookkeeping, against ~64 for a
// std::deque<std::string> (string header + heap block) and ~18 in a Redis listpack. Emptied chunks
// are freed, except one spare kept to avoid malloc churn when a queue oscillates around empty.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string_view>

namespace depot {

class ItemStore {
 public:
  static constexpr uint32_t kChunkBytes = 16 * 1024;

  void push(std::string_view item);
  // The oldest item; the store must not be empty. Valid until the next pop() or clear().
  std::string_view front() const;
  void pop();
  void clear();
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  size_t bytes() const { return bytes_; }  // payload bytes held

  // Calls f(item) for the first n items in order, without removing them.
  template <class F>
  void for_first(size_t n, F&& f) const {
    for (const Chunk& c : chunks_) {
      uint32_t off = c.head;
      while (off < c.tail && n > 0) {
        uint32_t hdr = 0;
        uint32_t len = read_len(c, off, hdr);
        f(std::string_view(c.data.get() + off + hdr, len));
        off += hdr + len;
        --n;
      }
      if (n == 0) return;
    }
  }

 private:
  struct Chunk {
    std::unique_ptr<char[]> data;
    uint32_t cap = 0;
    uint32_t head = 0;  // offset of the oldest item
    uint32_t tail = 0;  // end of the newest item
  };
  // Decodes the length at `off`; `hdr` receives the length's own size in bytes.
  static uint32_t read_len(const Chunk& c, uint32_t off, uint32_t& hdr);
  std::deque<Chunk> chunks_;
  Chunk spare_;
  size_t count_ = 0;
  size_t bytes_ = 0;
};

}  // namespace depot
