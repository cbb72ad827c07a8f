#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "depot/streams/node.h"

namespace depot::stream {

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Every node connected to `start`, upstream or downstream, numbered in discovery order.
std::vector<NodeBase*> component(NodeBase* start) {
  std::vector<NodeBase*> seen, todo{start};
  while (!todo.empty()) {
    NodeBase* n = todo.back();
    todo.pop_back();
    bool known = false;
    for (NodeBase* s : seen) known = known || s == n;
    if (known) continue;
    seen.push_back(n);
    for (NodeBase* d : n->downstream_nodes()) todo.push_back(d);
    for (NodeBase* u : n->upstreams()) todo.push_back(u);
    if (NodeBase* e = n->error_node()) todo.push_back(e);
  }
  std::vector<NodeBase*> error_nodes;
  for (NodeBase* n : seen)
    if (NodeBase* e = n->error_node()) error_nodes.push_back(e);
  auto is_error_node = [&](NodeBase* n) {
    return std::find(error_nodes.begin(), error_nodes.end(), n) != error_nodes.end();
  };
  // A source, or the entry of a feedback loop: only feedback edges come in.
  auto is_root = [](NodeBase* n) {
    for (NodeBase* u : n->upstreams())
      if (!n->is_feedback_from(u)) return false;
    return true;
  };
  // Number sources first, then breadth first downstream, so DOT reads in flow order.
  std::vector<NodeBase*> order;
  auto known = [&](NodeBase* n) { return std::find(order.begin(), order.end(), n) != order.end(); };
  for (NodeBase* n : seen)
    if (is_root(n) && !is_error_node(n) && !known(n)) order.push_back(n);
  for (std::size_t i = 0; i < order.size() || order.size() < seen.size(); ++i) {
    if (i == order.size()) {  // a cycle with no source: start anywhere
      for (NodeBase* n : seen)
        if (!known(n)) {
          order.push_back(n);
          break;
        }
    }
    for (NodeBase* d : order[i]->downstream_nodes())
      if (!known(d)) order.push_back(d);
    if (NodeBase* e = order[i]->error_node())
      if (!known(e)) order.push_back(e);
  }
  return order;
}

}  // namespace

std::string to_dot(NodeBase* start, const std::string& rankdir) {
  const std::vector<NodeBase*> nodes = component(start);
  std::map<const NodeBase*, std::size_t> id;
  for (NodeBase* n : nodes) id.emplace(n, id.size());
  // A stream, not string concatenation: g++ 12 -O3 warns falsely (-Wrestrict) on the latter.
  std::ostringstream out;
  out << "digraph {\n  rankdir=" << rankdir << ";\n";
  for (NodeBase* n : nodes) out << "  n" << id[n] << " [label=" << quote(n->label()) << "];\n";
  for (NodeBase* n : nodes) {
    for (NodeBase* d : n->downstream_nodes()) {
      out << "  n" << id[n] << " -> n" << id[d];
      if (d->is_feedback_from(n)) out << " [style=dashed]";
      out << ";\n";
    }
    if (NodeBase* e = n->error_node())  // the node's error stream, drawn dotted
      out << "  n" << id[n] << " -> n" << id[e] << " [style=dotted];\n";
  }
  out << "}\n";
  return out.str();
}

bool visualize(NodeBase* start, const std::string& filename, const std::string& rankdir) {
  const bool png = filename.size() > 4 && filename.compare(filename.size() - 4, 4, ".png") == 0;
  const std::string dot_path = png ? filename.substr(0, filename.size() - 4) + ".dot" : filename;
  {
    std::ofstream f(dot_path);
    if (!f) throw std::runtime_error("visualize: cannot write " + dot_path);
    f << to_dot(start, rankdir);
  }
  if (!png || std::system("command -v dot >/dev/null 2>&1") != 0) return false;
  const std::string cmd = "dot -Tpng '" + dot_path + "' -o '" + filename + "' 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace depot::stream
