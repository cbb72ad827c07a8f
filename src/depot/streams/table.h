// A small columnar batch: named columns of doubles, made from a batch of records (what
// partition(n) emits) by naming the fields to keep, streamz's to_batch().to_dataframe() in
// its simplest form:
//
//   stream.partition(5)
//       .map([](const std::vector<Rec>& rows) {
//         return to_table(rows, column("value", &Rec::value));
//       })
//       .map([](const Table& t) { return t["value"].mean(); })
//
// Deliberately small: numeric columns only, no index, no joins.
#pragma once
#include <numeric>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace depot::stream {

struct Column {
  std::string name;
  std::vector<double> values;
  double sum() const { return std::accumulate(values.begin(), values.end(), 0.0); }
  // The mean; throws std::domain_error on an empty column.
  double mean() const {
    if (values.empty()) throw std::domain_error("mean of empty column " + name);
    return sum() / static_cast<double>(values.size());
  }
};

class Table {
 public:
  void add(std::string name, std::vector<double> values) {
    if (!columns_.empty() && values.size() != rows())
      throw std::invalid_argument("column " + name + " has a different number of rows");
    columns_.push_back(Column{std::move(name), std::move(values)});
  }
  // The column called `name`; throws std::out_of_range when there is none.
  const Column& operator[](std::string_view name) const {
    for (const Column& c : columns_)
      if (c.name == name) return c;
    throw std::out_of_range("no column " + std::string(name));
  }
  std::size_t rows() const { return columns_.empty() ? 0 : columns_.front().values.size(); }
  const std::vector<Column>& columns() const { return columns_; }

 private:
  std::vector<Column> columns_;
};

// A field of a record type, by member pointer, to become a column named `name`.
template <class Row, class M>
struct ColumnSpec {
  std::string name;
  M Row::*field;
};
template <class Row, class M>
ColumnSpec<Row, M> column(std::string name, M Row::*field) {
  return {std::move(name), field};
}

template <class Row, class... M>
Table to_table(const std::vector<Row>& rows, const ColumnSpec<Row, M>&... specs) {
  Table t;
  auto one = [&](const auto& spec) {
    std::vector<double> v;
    v.reserve(rows.size());
    for (const Row& r : rows) v.push_back(static_cast<double>(r.*(spec.field)));
    t.add(spec.name, std::move(v));
  };
  (one(specs), ...);
  return t;
}

}  // namespace depot::stream
