// The graph underneath depot::stream: nodes, edges, close propagation and error routing.
// Users work with Stream<T> handles (stream.h); this file is the machinery.
//
// Ownership: a node owns its downstreams (shared_ptr on the edge), so a source handle keeps
// its whole pipeline alive, as `source.map(f).sink(g)` expects. A downstream points at its
// upstreams without owning them (they remove themselves when destroyed). An edge that closes a
// cycle (connect() back into an ancestor, streamz's feedback loop) does not own its target,
// so cycles never leak: the nodes of a loop live while the handle of its entry does.
//
// Calls: an edge is (Input<T>*, slot). emit() calls each downstream's virtual on_value() in
// the order they were attached, synchronously and depth first, as streamz does; nothing is
// allocated per event on the way.
#pragma once
#include <algorithm>
#include <cstddef>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "depot/streams/event_loop.h"
#include "depot/streams/format.h"

namespace depot::stream {

// What a node's error stream carries when a step (a user function, or a remote call) throws.
struct StreamError {
  std::string node;     // label of the node whose step threw, e.g. "map; parse"
  std::string input;    // repr() of the input the step was given
  std::string message;  // what() of the exception, or "unknown exception"
  std::exception_ptr error;
};

// What partition, sliding_window, timed_window and collect do with the items they hold when
// the stream is closed: emit them (a shorter batch; the default) or drop them as streamz does.
enum class OnClose { emit, drop };

template <class T>
class Node;

class NodeBase : public std::enable_shared_from_this<NodeBase> {
 public:
  explicit NodeBase(std::string kind) : kind_(std::move(kind)) {}
  NodeBase(const NodeBase&) = delete;
  NodeBase& operator=(const NodeBase&) = delete;
  virtual ~NodeBase() {
    // Only non-owning (cycle) edges can still point here; drop them.
    for (NodeBase* u : upstreams_) u->remove_downstream(this);
  }

  const std::string& kind() const { return kind_; }
  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  // "map", or "map; name" once named (streamz labels nodes by type and function name).
  std::string label() const { return name_.empty() ? kind_ : kind_ + "; " + name_; }

  EventLoop* loop() const { return loop_; }
  void set_loop(EventLoop* l) { loop_ = l; }

  // --- graph plumbing -------------------------------------------------------------------
  const std::vector<NodeBase*>& upstreams() const { return upstreams_; }
  virtual std::vector<NodeBase*> downstream_nodes() const = 0;
  virtual void remove_downstream(NodeBase* target) = 0;
  void add_upstream(NodeBase* u, bool feedback) {
    upstreams_.push_back(u);
    if (feedback) feedback_.push_back(u);
    if (!loop_) loop_ = u->loop_;
  }
  void forget_upstream(NodeBase* u) {
    erase_one(upstreams_, u);
    erase_one(feedback_, u);
    erase_one(closed_from_, u);
  }
  bool is_feedback_from(NodeBase* u) const {
    return std::find(feedback_.begin(), feedback_.end(), u) != feedback_.end();
  }
  // Whether `target` can be reached from this node along downstream edges (or is this node).
  bool reaches(const NodeBase* target) const {
    std::vector<const NodeBase*> todo{this}, seen;
    while (!todo.empty()) {
      const NodeBase* n = todo.back();
      todo.pop_back();
      if (n == target) return true;
      if (std::find(seen.begin(), seen.end(), n) != seen.end()) continue;
      seen.push_back(n);
      for (NodeBase* d : n->downstream_nodes()) todo.push_back(d);
    }
    return false;
  }

  // --- close and flush --------------------------------------------------------------------
  // Emits what this node holds (unless its OnClose says drop), then closes its downstreams.
  // A node with several upstreams closes when every one of them has (feedback edges aside).
  void close() {
    if (closing_) return;  // a feedback loop brought the close back here
    closing_ = true;
    closed_from_.clear();
    try {
      on_close();
      close_downstreams();
    } catch (...) {
      closing_ = false;
      throw;
    }
    closing_ = false;
  }
  void upstream_closed(NodeBase* u) {
    if (closing_) return;
    if (std::find(closed_from_.begin(), closed_from_.end(), u) == closed_from_.end())
      closed_from_.push_back(u);
    for (NodeBase* x : upstreams_) {
      if (is_feedback_from(x)) continue;
      if (std::find(closed_from_.begin(), closed_from_.end(), x) == closed_from_.end()) return;
    }
    close();
  }
  // Emits what the node holds now (collect's cache, gather's futures); a no-op elsewhere.
  virtual void flush() {}

  // --- errors -----------------------------------------------------------------------------
  // The node's error stream, created on first use.
  const std::shared_ptr<Node<StreamError>>& errors();
  NodeBase* error_node() const;
  bool routes_errors() const;
  // Called inside a catch block when this node's step threw on input `x`: sends a StreamError
  // to the error stream when something listens to it, else rethrows to the emitter (streamz
  // behaviour: the exception leaves emit(), the pipeline stays as it was).
  template <class X>
  void fail(const X& x) {
    if (!routes_errors()) throw;
    send_error(repr(x), std::current_exception());
  }

 protected:
  virtual void on_close() {}
  virtual void close_downstreams() = 0;
  void send_error(std::string input, std::exception_ptr e);

  EventLoop* loop_ = nullptr;

 private:
  static void erase_one(std::vector<NodeBase*>& v, NodeBase* x) {
    auto it = std::find(v.begin(), v.end(), x);
    if (it != v.end()) v.erase(it);
  }

  std::string kind_;
  std::string name_;
  std::vector<NodeBase*> upstreams_;
  std::vector<NodeBase*> feedback_;     // upstreams whose edge to us closes a cycle
  std::vector<NodeBase*> closed_from_;  // upstreams that have closed since our last close
  bool closing_ = false;
  std::shared_ptr<Node<StreamError>> errors_;
};

// Something that accepts values of type T on a numbered input slot (zip has one per stream).
template <class T>
class Input {
 public:
  virtual void on_value(const T& x, int slot) = 0;
  virtual NodeBase* owner() = 0;

 protected:
  ~Input() = default;
};

// A node that emits values of type T to its downstreams.
template <class T>
class Node : public NodeBase {
 public:
  using value_type = T;
  using NodeBase::NodeBase;
  ~Node() override {
    // Detach before the edges (and with them perhaps the downstreams) go away, so that no
    // downstream's destructor calls back into this half-destroyed node.
    auto edges = std::move(edges_);
    edges_.clear();
    for (auto& e : edges) e.node->forget_upstream(this);
  }

  void emit(const T& x) {
    // Index loop: a downstream may connect or disconnect while we are calling it.
    const std::size_t n = edges_.size();
    if (n == 1) {
      edges_[0].in->on_value(x, edges_[0].slot);
      return;
    }
    for (std::size_t i = 0; i < edges_.size(); ++i) {
      Input<T>* in = edges_[i].in;
      in->on_value(x, edges_[i].slot);
    }
  }
  bool has_downstreams() const { return !edges_.empty(); }

  // Adds the edge this -> in. It owns its target unless it would close a cycle.
  void connect_to(Input<T>& in, int slot = 0) {
    NodeBase* target = in.owner();
    const bool feedback = target->reaches(this);
    std::shared_ptr<NodeBase> keep;
    if (!feedback) keep = target->shared_from_this();
    edges_.push_back(Edge{&in, target, slot, std::move(keep)});
    target->add_upstream(this, feedback);
  }
  // Removes every edge this -> target; returns whether there was one.
  bool disconnect_from(NodeBase* target) {
    bool found = false;
    for (auto& e : edges_)
      if (e.node == target) found = true;
    if (!found) return false;
    target->forget_upstream(this);
    remove_downstream(target);
    return true;
  }

  std::vector<NodeBase*> downstream_nodes() const override {
    std::vector<NodeBase*> out;
    for (const auto& e : edges_) out.push_back(e.node);
    return out;
  }
  void remove_downstream(NodeBase* target) override {
    // The owning pointers are released after the erase, outside the vector.
    std::vector<std::shared_ptr<NodeBase>> release;
    for (auto it = edges_.begin(); it != edges_.end();) {
      if (it->node == target) {
        release.push_back(std::move(it->keep));
        it = edges_.erase(it);
      } else {
        ++it;
      }
    }
  }

 protected:
  void close_downstreams() override {
    std::vector<std::shared_ptr<NodeBase>> targets;
    for (const auto& e : edges_) targets.push_back(e.keep ? e.keep : e.node->shared_from_this());
    for (const auto& t : targets) t->upstream_closed(this);
  }

 private:
  struct Edge {
    Input<T>* in;
    NodeBase* node;
    int slot;
    std::shared_ptr<NodeBase> keep;  // null on an edge that closes a cycle
  };
  std::vector<Edge> edges_;
};

// A node that passes on what it receives: sources, union, error streams.
template <class T>
class PassNode final : public Node<T>, public Input<T> {
 public:
  explicit PassNode(std::string kind = "Stream") : Node<T>(std::move(kind)) {}
  void on_value(const T& x, int) override { this->emit(x); }
  NodeBase* owner() override { return this; }
};

inline const std::shared_ptr<Node<StreamError>>& NodeBase::errors() {
  if (!errors_) {
    errors_ = std::make_shared<PassNode<StreamError>>("on_error");
    errors_->set_loop(loop_);
  }
  return errors_;
}

inline NodeBase* NodeBase::error_node() const {
  return errors_.get();
}

inline bool NodeBase::routes_errors() const {
  return errors_ && errors_->has_downstreams();
}

inline void NodeBase::send_error(std::string input, std::exception_ptr e) {
  std::string message = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    message = ex.what();
  } catch (...) {
  }
  errors_->emit(StreamError{label(), std::move(input), std::move(message), e});
}

// DOT text of the whole graph `start` belongs to (every node reachable up or down).
std::string to_dot(NodeBase* start, const std::string& rankdir);
// Writes `filename` (PNG, via Graphviz `dot`, when it ends in .png and dot is installed) and
// the DOT text beside it (filename with .dot). Returns whether the image was made.
bool visualize(NodeBase* start, const std::string& filename, const std::string& rankdir);

}  // namespace depot::stream
