#include "core/gateway_error.hpp"

#include <boost/json.hpp>
#include <utility>

namespace switchyard::core {

namespace {

// How much of a non-OpenAI upstream body is quoted back: enough to show an HTML error page's
// title or a short text reason, not a whole page.
constexpr std::size_t kQuotedBodyLimit = 512;

std::string_view type_for_status(int status) {
  switch (status) {
    case 400:
    case 404:
    case 405:
    case 413:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return "api_error";
  }
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

// Boost.JSON escapes control characters but copies other bytes as they are, so a mis-encoded
// message (an upstream's binary body, say) would make the error itself invalid JSON. Invalid
// bytes become U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");
      ++i;
    } else {
      out.append(s.data() + i, len);
      i += len;
    }
  }
  return out;
}

// The start of the upstream body, without a character cut in half by the limit.
std::string_view quoted_prefix(std::string_view body) {
  if (body.size() <= kQuotedBodyLimit) return body;
  const std::size_t end = kQuotedBodyLimit;
  std::size_t start = end;
  while (start > 0 && end - start < 3 && (static_cast<unsigned char>(body[start]) & 0xC0) == 0x80) {
    --start;
  }
  const std::size_t len = utf8_sequence_length(body, start);
  return body.substr(0, len > end - start ? start : end);
}

bool has_openai_error_shape(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  if (ec || !parsed.is_object()) return false;
  const boost::json::value* error = parsed.get_object().if_contains("error");
  if (!error || !error->is_object()) return false;
  const boost::json::value* message = error->get_object().if_contains("message");
  return message && message->is_string();
}

}  // namespace

GatewayError client_error(int status, std::string message, std::string param, std::string code) {
  GatewayError e;
  e.status = status;
  e.type = std::string(type_for_status(status));
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  e.source = ErrorSource::client;
  e.retryable = false;
  return e;
}

namespace {
// Failures to get an answer from the provider at all: worth retrying elsewhere.
GatewayError upstream_failure(int status, std::string code, std::string message) {
  GatewayError e;
  e.status = status;
  e.type = "api_error";
  e.message = std::move(message);
  e.code = std::move(code);
  e.source = ErrorSource::upstream;
  e.retryable = true;
  return e;
}
}  // namespace

GatewayError upstream_unreachable(std::string message) {
  return upstream_failure(502, "upstream_unreachable", std::move(message));
}

GatewayError upstream_timeout(std::string message) {
  return upstream_failure(504, "upstream_timeout", std::move(message));
}

GatewayError bad_upstream_response(std::string message, std::string code) {
  return upstream_failure(502, std::move(code), std::move(message));
}

std::string to_openai_error_body(const GatewayError& e) {
  boost::json::object error;
  error["message"] = valid_utf8(e.message);
  error["type"] = e.type.empty() ? type_for_status(e.status) : std::string_view(e.type);
  error["param"] =
      e.param.empty() ? boost::json::value(nullptr) : boost::json::value(valid_utf8(e.param));
  error["code"] = e.code.empty() ? boost::json::value(nullptr) : boost::json::value(e.code);
  boost::json::object body;
  body["error"] = std::move(error);
  return boost::json::serialize(body);
}

std::string openai_error_body_from_upstream(int status, std::string_view upstream_body) {
  if (has_openai_error_shape(upstream_body)) return std::string(upstream_body);
  GatewayError e;
  e.status = status;
  e.type = std::string(type_for_status(status));
  e.message = "Upstream returned HTTP " + std::to_string(status);
  if (!upstream_body.empty()) e.message.append(": ").append(quoted_prefix(upstream_body));
  e.code = "upstream_error";
  e.source = ErrorSource::upstream;
  return to_openai_error_body(e);
}

}  // namespace switchyard::core
