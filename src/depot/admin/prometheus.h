// A writer of the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): each family once, with its
// # HELP and # TYPE lines, then its samples; label values and help texts escaped as the
// format requires. It only formats: the numbers come from a snapshot taken elsewhere.
//
//   admin::PromWriter w;
//   w.family("depot_queue_puts_total", "counter", "Items put into the queue.");
//   w.sample("depot_queue_puts_total", {{"queue", name}}, 42);
//   std::string text = w.take();
#pragma once
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace depot::admin {

using Label = std::pair<std::string_view, std::string_view>;

class PromWriter {
 public:
  // Starts a family: type is counter, gauge, histogram, summary or untyped.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample line. `name` is the family's, or its _bucket/_sum/_count series.
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);
  // A whole histogram's series from cumulative-per-bucket counts: bounds[i] is bucket i's
  // upper bound (le); counts has one more entry than bounds, the last for +Inf (so counts
  // need not be cumulative: the writer sums them).
  void histogram(std::string_view name, std::initializer_list<Label> labels,
                 std::span<const double> bounds, std::span<const uint64_t> counts, double sum);
  std::string take() { return std::move(out_); }
  const std::string& text() const { return out_; }

 private:
  void series(std::string_view name, std::span<const Label> labels, std::string_view extra_key,
              std::string_view extra_value);
  std::string out_;
};

// Escapes a label value: backslash, double quote and line feed; a byte that is not part of
// well-formed UTF-8 becomes U+FFFD (object names are bytes, the format is UTF-8).
void escape_label_value(std::string_view in, std::string& out);
// Formats a sample value: integers exactly, others with enough digits, +Inf, -Inf, NaN.
std::string format_value(double v);

}  // namespace depot::admin
