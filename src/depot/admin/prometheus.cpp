// The Prometheus text format writer (prometheus.h).
#include "depot/admin/prometheus.h"

#include <charconv>
#include <cmath>
#include <vector>

namespace depot::admin {

namespace {
// Bytes of the well-formed UTF-8 sequence at in[i], or 0 when there is none.
size_t utf8_length(std::string_view in, size_t i) {
  const auto b = static_cast<unsigned char>(in[i]);
  size_t n;
  uint32_t min;
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) {
    n = 2;
    min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3;
    min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > in.size()) return 0;
  uint32_t cp = b & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(in[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}
}  // namespace

void escape_label_value(std::string_view in, std::string& out) {
  for (size_t i = 0; i < in.size();) {
    const char c = in[i];
    const size_t n = utf8_length(in, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD: the format is UTF-8, names need not be
      ++i;
      continue;
    }
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.append(in.data() + i, n);
    i += n;
  }
}

namespace {
// HELP text: backslash and line feed.
void escape_help(std::string_view in, std::string& out) {
  for (char c : in) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}
void append_u64(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest that reads back the same
  return std::string(buf, r.ptr);
}

void PromWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  escape_help(help, out_);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PromWriter::series(std::string_view name, std::span<const Label> labels,
                        std::string_view extra_key, std::string_view extra_value) {
  out_ += name;
  if (labels.empty() && extra_key.empty()) return;
  out_ += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    escape_label_value(v, out_);
    out_ += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_key.empty()) one(extra_key, extra_value);
  out_ += '}';
}

void PromWriter::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  series(name, std::span<const Label>(labels.begin(), labels.size()), {}, {});
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void PromWriter::sample(std::string_view name, std::initializer_list<Label> labels,
                        uint64_t value) {
  series(name, std::span<const Label>(labels.begin(), labels.size()), {}, {});
  out_ += ' ';
  append_u64(out_, value);
  out_ += '\n';
}

void PromWriter::histogram(std::string_view name, std::initializer_list<Label> labels,
                           std::span<const double> bounds, std::span<const uint64_t> counts,
                           double sum) {
  const std::span<const Label> ls(labels.begin(), labels.size());
  const std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds.size() && i < counts.size(); ++i) {
    cumulative += counts[i];
    series(bucket, ls, "le", i < bounds.size() ? format_value(bounds[i]) : "+Inf");
    out_ += ' ';
    append_u64(out_, cumulative);
    out_ += '\n';
  }
  series(std::string(name) + "_sum", ls, {}, {});
  out_ += ' ';
  out_ += format_value(sum);
  out_ += '\n';
  series(std::string(name) + "_count", ls, {}, {});
  out_ += ' ';
  append_u64(out_, cumulative);
  out_ += '\n';
}

}  // namespace depot::admin
