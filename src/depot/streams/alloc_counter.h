// Counts heap allocations: replaces the global operator new and delete (every form but the
// aligned ones) with malloc/free and a counter. For test and benchmark programs that prove a
// path allocates nothing per event: include it in exactly one source file of the program,
// never in a library. Consistent pairs keep AddressSanitizer's mismatch checks quiet.
// noinline: inlined into a caller, free() of a new-ed pointer trips -Wmismatched-new-delete.
#pragma once
#include <atomic>
#include <cstdlib>
#include <new>

namespace depot::stream {
inline std::atomic<long> g_allocations{0};
inline long allocations() {
  return g_allocations.load(std::memory_order_relaxed);
}
}  // namespace depot::stream

inline void* depot_counted_alloc(std::size_t n) noexcept {
  depot::stream::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}

__attribute__((noinline)) void* operator new(std::size_t n) {
  if (void* p = depot_counted_alloc(n)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void* operator new[](std::size_t n) {
  if (void* p = depot_counted_alloc(n)) return p;
  throw std::bad_alloc();
}
__attribute__((noinline)) void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return depot_counted_alloc(n);
}
__attribute__((noinline)) void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return depot_counted_alloc(n);
}
__attribute__((noinline)) void operator delete(void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete[](void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
