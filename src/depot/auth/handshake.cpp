#include "depot/auth/handshake.h"

#include <algorithm>
#include <cstring>

namespace depot::auth {

namespace {
constexpr size_t kAuthBody = 2 + proto::kMacBytes + proto::kNonceBytes;  // 66
}  // namespace

void append_hello(std::string& out, const Nonce& server_nonce, bool tls_follows) {
  proto::FrameBuilder b(out, proto::FrameKind::HELLO, tls_follows ? proto::kHelloTlsFollows : 0, 0);
  b.u32(proto::kHelloMagic)
      .u16(proto::kHelloVersion)
      .u16(static_cast<uint16_t>(proto::kNonceBytes))
      .raw(as_view(server_nonce));
  b.finish();
}

bool parse_auth(std::string_view body, AuthFrame& out) {
  if (body.size() < 2) return false;
  proto::Reader r(body);
  out.version = r.u16();
  out.user = {};
  out.name = {};
  if (out.version == proto::kVersionNoUser) {
    if (body.size() != kAuthBody) return false;
  } else if (out.version == proto::kVersionUser) {
    out.user = r.str();
  } else if (out.version == proto::kVersion) {
    out.user = r.str();
    out.name = r.str();
  } else {
    return true;  // refused by version
  }
  out.client_mac = r.raw(proto::kMacBytes);
  const std::string_view nonce = r.raw(proto::kNonceBytes);
  // A body cut short leaves the reader failed and these views empty: nothing to copy from.
  if (!r.ok() || out.client_mac.size() != proto::kMacBytes || nonce.size() != proto::kNonceBytes)
    return false;
  std::memcpy(out.client_nonce.data(), nonce.data(), out.client_nonce.size());
  return r.at_end();
}

std::string check_client_name(std::string_view name) {
  if (name.empty()) return "a client name cannot be empty";
  if (name.size() > proto::kMaxClientName)
    return "a client name has at most " + std::to_string(proto::kMaxClientName) + " bytes, not " +
           std::to_string(name.size());
  for (const char c : name)
    if (c < 0x21 || c > 0x7e)
      return "a client name has printable ASCII bytes only (0x21 to 0x7e: no spaces or control "
             "bytes)";
  return {};
}

void append_auth_ok(std::string& out, uint64_t id, std::string_view key, const Nonce& client_nonce,
                    const Nonce& server_nonce, std::chrono::milliseconds session_lease) {
  proto::FrameBuilder b(out, proto::FrameKind::AUTH_OK, 0, id);
  b.raw(as_view(server_proof(key, client_nonce, server_nonce)));
  b.u32(static_cast<uint32_t>(std::clamp<int64_t>(session_lease.count(), 0, UINT32_MAX)));
  b.finish();
}

bool parse_hello(std::string_view body, HelloFrame& out) {
  proto::Reader hello(body);
  const uint32_t magic = hello.u32();
  out.version = hello.u16();
  const uint16_t nonce_len = hello.u16();
  const std::string_view nonce = hello.raw(nonce_len);
  if (!hello.at_end() || magic != proto::kHelloMagic || nonce_len != proto::kNonceBytes)
    return false;
  std::memcpy(out.server_nonce.data(), nonce.data(), out.server_nonce.size());
  return true;
}

HandshakeResult ClientHandshake::on_hello(const proto::Header& h, std::string_view body,
                                          std::string& auth_frame) {
  if (h.kind == proto::FrameKind::REPLY)
    return {HandshakeError::REFUSED, static_cast<Status>(h.code),
            std::string(proto::error_message(body))};
  HelloFrame hello;
  if (h.kind != proto::FrameKind::HELLO || !parse_hello(body, hello))
    return {HandshakeError::NOT_DEPOT, Status::BAD_REQUEST,
            "sent no valid HELLO; is it a depot manager?"};
  if (hello.version != proto::kHelloVersion)
    return {HandshakeError::VERSION, Status::BAD_REQUEST,
            "speaks protocol version " + std::to_string(hello.version) + ", this client " +
                std::to_string(proto::kVersion) + "; upgrade the older side"};
  server_nonce_ = hello.server_nonce;
  tls_follows_ = (h.code & proto::kHelloTlsFollows) != 0;
  client_nonce_ = random_nonce();
  proto::FrameBuilder b(auth_frame, proto::FrameKind::AUTH, 0, 0);
  if (!name_.empty()) {
    b.u16(proto::kVersion).str(user_).str(name_);
  } else if (user_.empty()) {
    b.u16(proto::kVersionNoUser);
  } else {
    b.u16(proto::kVersionUser).str(user_);
  }
  b.raw(as_view(client_proof(key_, server_nonce_, user_))).raw(as_view(client_nonce_));
  b.finish();
  return {};
}

HandshakeResult ClientHandshake::on_auth_reply(const proto::Header& h, std::string_view body) {
  if (h.kind == proto::FrameKind::REPLY) {
    const auto s = static_cast<Status>(h.code);
    return {HandshakeError::AUTH_FAILED, s == Status::OK ? Status::INTERNAL : s,
            std::string(proto::error_message(body))};
  }
  proto::Reader ok(body);
  const std::string_view server_mac = ok.raw(proto::kMacBytes);
  const uint32_t lease_ms = ok.u32();
  if (h.kind != proto::FrameKind::AUTH_OK || !ok.at_end() ||
      !mac_equal(server_proof(key_, client_nonce_, server_nonce_), server_mac))
    return {HandshakeError::BAD_PROOF, Status::AUTH_FAILED,
            "did not prove it knows the authkey; it is not the manager you meant or its key "
            "differs"};
  lease_ = std::chrono::milliseconds(lease_ms);
  return {};
}

}  // namespace depot::auth
