// Internal to manager/: who holds what, as JSON (docs/operations.md, "Dashboard and admin
// API"). The INSPECT request and the admin endpoint's GET /api/<section> serve these texts.
//
// A snapshot is built on the loop thread from the objects and sessions as they are at that
// moment (one consistent view: nothing changes while it is built). It carries names,
// counters, tokens and session ids, never an item, a value or a message.
#pragma once
#include <array>
#include <string>
#include <string_view>

namespace depot {

class Server;

namespace inspect {

// The sections, in the order the documentation lists them.
inline constexpr std::array<std::string_view, 5> kSections = {"objects", "sessions", "locks",
                                                              "queues", "pools"};
bool known_section(std::string_view name);
// "objects, sessions, locks, queues, pools": for messages.
std::string section_list();

// One section as a JSON object ({"now": ISO-8601 time, "<section>": [...]}); empty when
// `name` is not a section. Loop thread only.
std::string section(Server& srv, std::string_view name);

// Text as a JSON string's contents: quotes, backslashes and control characters escaped, and
// bytes that are not UTF-8 written as \u00XX (object names may hold any byte but controls).
std::string json_escape(std::string_view in);

}  // namespace inspect
}  // namespace depot
