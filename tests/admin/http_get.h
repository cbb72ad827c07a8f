// A GET over HTTP with POCO's client, for the admin endpoint's tests.
#pragma once
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <istream>
#include <string>
#include <utility>
#include <vector>

namespace test {

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string www_authenticate;
  std::string body;
};

inline HttpReply http_get(const std::string& host, uint16_t port, const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  Poco::Net::HTTPClientSession s(host, port);
  s.setTimeout(Poco::Timespan(20, 0));
  Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, path,
                             Poco::Net::HTTPMessage::HTTP_1_1);
  for (const auto& [k, v] : headers) req.set(k, v);
  s.sendRequest(req);
  Poco::Net::HTTPResponse resp;
  std::istream& in = s.receiveResponse(resp);
  HttpReply r;
  r.status = static_cast<int>(resp.getStatus());
  r.content_type = resp.getContentType();
  r.www_authenticate = resp.get("WWW-Authenticate", "");
  Poco::StreamCopier::copyToString(in, r.body);
  return r;
}

}  // namespace test
