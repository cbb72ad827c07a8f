// The authkey handshake: mutual HMAC-SHA256 challenge-response.
//
//   manager -> HELLO   { magic, version, server_nonce[32] }
//   client  -> AUTH    { version, client_mac = HMAC(key, "depot-client" || server_nonce),
//   client_nonce[32] } manager -> AUTH_OK { server_mac = HMAC(key, "depot-server" || client_nonce
//   || server_nonce) }
//           or REPLY AUTH_FAILED and close
//
// The labels keep one side's proof from being reflected as the other's; fresh nonces on both
// sides make a recorded answer useless on a new connection. Digests are compared with
// CRYPTO_memcmp. Nothing here logs or copies the key beyond the HMAC call.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace depot::auth {

using Nonce = std::array<uint8_t, 32>;
using Mac = std::array<uint8_t, 32>;

// Fills a nonce from OpenSSL's RAND_bytes; throws std::runtime_error if the CSPRNG fails
// (the caller then refuses the connection rather than use a weak nonce).
Nonce random_nonce();

// Lower-case hex of n bytes.
std::string to_hex(const uint8_t* p, size_t n);
// `chars` hex digits (at most 64) from random_nonce(): generated keys and unique ids.
std::string random_hex(size_t chars);

Mac hmac_sha256(std::string_view key, std::string_view data);

// HMAC(key, "depot-client" || server_nonce || user): version 3 names the user, and the proof
// covers it so that it cannot be swapped; version 2 has no user (an empty `user`).
Mac client_proof(std::string_view key, const Nonce& server_nonce, std::string_view user = {});
Mac server_proof(std::string_view key, const Nonce& client_nonce, const Nonce& server_nonce);

// Constant-time comparison of a received MAC with the expected one. A received value of
// the wrong length never matches.
bool mac_equal(const Mac& expected, std::string_view received);

inline std::string_view as_view(const std::array<uint8_t, 32>& a) {
  return {reinterpret_cast<const char*>(a.data()), a.size()};
}

// Where a program takes the authkey from, in this order: the key given, a key file, the
// environment variable DEPOT_AUTHKEY. The flag names are the program's, for the messages.
struct KeySources {
  std::optional<std::string> key;   // e.g. --authkey KEY
  std::optional<std::string> file;  // e.g. --authkey-file FILE
  std::string key_flag = "--authkey";
  std::string file_flag = "--authkey-file";
};
// The key, or nullopt when none was given anywhere. Throws std::runtime_error naming the
// problem when both a key and a file are given, the key given is empty, or the file cannot
// be read (read_key_file).
std::optional<std::string> find_authkey(const KeySources& sources);

// The user a program authenticates as: the one given (e.g. --user NAME), else the
// environment variable DEPOT_USER, else empty (the default user).
std::string find_user(const std::optional<std::string>& given);

// Reads an authkey from a file: the whole content with one trailing newline (and \r)
// removed. Throws std::runtime_error naming the file when it cannot be read or is empty.
std::string read_key_file(const std::string& path);

}  // namespace depot::auth
