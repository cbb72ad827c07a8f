#include "inspect_view.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <stdexcept>

namespace depot::cli {

namespace {

using Poco::JSON::Array;
using Poco::JSON::Object;

Object::Ptr parse_object(const std::string& json, const char* section) {
  try {
    Poco::JSON::Parser parser;
    Object::Ptr o = parser.parse(json).extract<Object::Ptr>();
    if (o && o->has(section)) return o;
  } catch (const Poco::Exception&) {
  }
  throw std::runtime_error(std::string("the manager's INSPECT ") + section +
                           " reply is not the JSON docs/operations.md describes; is the "
                           "manager older than this depot-cli?");
}

std::string text(const Object::Ptr& o, const std::string& key) {
  return o->has(key) && !o->isNull(key) ? o->getValue<std::string>(key) : std::string();
}

// "-" for an empty list, else the items joined with commas.
std::string joined(const std::string& list) {
  return list.empty() ? "-" : list;
}
void append(std::string& list, const std::string& item) {
  if (!list.empty()) list += ',';
  list += item;
}

// "3(holder-1)", or "3" for a session without a name.
std::string who(const Object::Ptr& o) {
  const std::string name = text(o, "name");
  const std::string id = text(o, "session");
  return name.empty() ? id : id + "(" + name + ")";
}

}  // namespace

std::string format_clients(const std::string& sessions_json) {
  const Object::Ptr root = parse_object(sessions_json, "sessions");
  const Array::Ptr sessions = root->getArray("sessions");
  std::string out;
  for (size_t i = 0; sessions && i < sessions->size(); ++i) {
    const Object::Ptr s = sessions->getObject(static_cast<unsigned>(i));
    std::string holds, waits;
    const Object::Ptr h = s->getObject("holds");
    if (h) {
      const auto each = [&](const char* key, auto&& f) {
        const Array::Ptr a = h->getArray(key);
        for (size_t k = 0; a && k < a->size(); ++k) f(a->getObject(static_cast<unsigned>(k)));
      };
      each("locks", [&](const Object::Ptr& l) { append(holds, "lock:" + text(l, "name")); });
      each("semaphores",
           [&](const Object::Ptr& l) { append(holds, "semaphore:" + text(l, "name")); });
      each("reservations", [&](const Object::Ptr& r) {
        append(holds, "reserved:" + text(r, "queue") + "*" + text(r, "count"));
      });
      each("subscriptions",
           [&](const Object::Ptr& r) { append(holds, "subscribed:" + text(r, "pattern")); });
    }
    const Array::Ptr w = s->getArray("waits");
    for (size_t k = 0; w && k < w->size(); ++k) {
      const Object::Ptr x = w->getObject(static_cast<unsigned>(k));
      append(waits, text(x, "op") + ":" + text(x, "object"));
    }
    const std::string name = text(s, "name");
    const std::string user = text(s, "user");
    out += "id=" + text(s, "id") + " addr=" + text(s, "peer") +
           " name=" + (name.empty() ? "-" : name) + " user=" + (user.empty() ? "-" : user) +
           " age=" + text(s, "age_s") + "s requests=" + text(s, "requests") +
           " holds=" + joined(holds) + " waits=" + joined(waits) + "\n";
  }
  return out;
}

std::string format_workers(const std::string& pools_json, std::string_view pool) {
  const Object::Ptr root = parse_object(pools_json, "pools");
  const Array::Ptr pools = root->getArray("pools");
  for (size_t i = 0; pools && i < pools->size(); ++i) {
    const Object::Ptr p = pools->getObject(static_cast<unsigned>(i));
    if (text(p, "name") != pool) continue;
    const Object::Ptr t = p->getObject("tasks");
    const Array::Ptr workers = p->getArray("workers");
    const Array::Ptr actors = p->getArray("actors");
    std::string out = "pool=" + std::string(pool) + " queued=" + text(t, "queued") +
                      " running=" + text(t, "running") + " delayed=" + text(t, "delayed") +
                      " dead_lettered=" + text(t, "dead_lettered") +
                      " results_held=" + text(t, "results_held") +
                      " executors=" + text(p, "executors") +
                      " workers=" + std::to_string(workers ? workers->size() : 0) + "\n";
    for (size_t k = 0; workers && k < workers->size(); ++k) {
      const Object::Ptr w = workers->getObject(static_cast<unsigned>(k));
      std::string served;
      const Array::Ptr a = w->getArray("actors");
      for (size_t n = 0; a && n < a->size(); ++n) append(served, a->getElement<std::string>(n));
      const std::string name = text(w, "name");
      out += "worker id=" + text(w, "session") + " addr=" + text(w, "peer") +
             " name=" + (name.empty() ? "-" : name) + " running=" + text(w, "running") +
             " waiting=" + (w->getValue<bool>("waiting") ? "yes" : "no") +
             " actors=" + joined(served) + "\n";
    }
    for (size_t k = 0; actors && k < actors->size(); ++k) {
      const Object::Ptr a = actors->getObject(static_cast<unsigned>(k));
      const Object::Ptr w = a->isNull("worker") ? nullptr : a->getObject("worker");
      out += "actor id=" + text(a, "id") + " mailbox=" + text(a, "mailbox") +
             " resilient=" + (a->getValue<bool>("resilient") ? "yes" : "no") +
             " worker=" + (w ? who(w) : std::string("-")) + "\n";
    }
    return out;
  }
  throw std::runtime_error("the manager has no executor pool '" + std::string(pool) +
                           "' (no queue '" + std::string(pool) +
                           ".tasks'); a pool appears once an executor or worker uses it: check "
                           "the name (depot-cli ls lists the queues)");
}

}  // namespace depot::cli
