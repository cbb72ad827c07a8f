// depot-cli's `clients` and `workers POOL`: the manager's INSPECT sections (docs/cli.md) as
// one line per session or worker, in the key=value style of redis-cli's CLIENT LIST.
#pragma once
#include <string>
#include <string_view>

namespace depot::cli {

// The lines of `depot-cli clients` from INSPECT "sessions": one per session,
// "id=N addr=HOST:PORT name=NAME user=USER age=Ns requests=N holds=... waits=...".
// Throws std::runtime_error when the text is not such a section.
std::string format_clients(const std::string& sessions_json);

// The lines of `depot-cli workers POOL` from INSPECT "pools": a line for the pool's tasks,
// then one per worker, then one per actor. Throws std::runtime_error naming the pool when
// the manager has no such pool.
std::string format_workers(const std::string& pools_json, std::string_view pool);

}  // namespace depot::cli
