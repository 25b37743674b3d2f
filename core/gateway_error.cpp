#include "core/gateway_error.hpp"

#include <boost/json.hpp>
#include <utility>

#include "core/utf8.hpp"

namespace switchyard::core {

namespace {

// How much of a non-OpenAI upstream body is quoted back: enough to show an HTML error page's
// title or a short text reason, not a whole page.
constexpr std::size_t kQuotedBodyLimit = 512;

struct ErrorTypeRow {
  int status;
  std::string_view openai;     // OpenAI error-codes guide; its SDKs name the class by status
  std::string_view anthropic;  // Anthropic API errors page
};

// The first row with a type is the status that type stands for.
constexpr ErrorTypeRow kErrorTypes[] = {
    {400, "invalid_request_error", "invalid_request_error"},
    {401, "authentication_error", "authentication_error"},
    {402, "invalid_request_error", "billing_error"},
    {403, "permission_error", "permission_error"},
    {404, "not_found_error", "not_found_error"},
    {409, "invalid_request_error", "conflict_error"},
    {413, "invalid_request_error", "request_too_large"},
    {429, "rate_limit_error", "rate_limit_error"},
    {500, "server_error", "api_error"},
    {504, "server_error", "timeout_error"},
    {529, "server_error", "overloaded_error"},
};

const ErrorTypeRow* row_for_status(int status) {
  for (const ErrorTypeRow& row : kErrorTypes) {
    if (row.status == status) return &row;
  }
  return nullptr;
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

std::string_view retry_after_for(int client_status, std::string_view upstream_retry_after) {
  if (!upstream_retry_after.empty()) return upstream_retry_after;
  return client_status == 429 || client_status == 503 || client_status == 529 ? "1" : "";
}

std::string_view openai_error_type(int status) {
  if (const ErrorTypeRow* row = row_for_status(status)) return row->openai;
  return status >= 500 || status < 400 ? "server_error" : "invalid_request_error";
}

std::string_view anthropic_error_type(int status) {
  if (const ErrorTypeRow* row = row_for_status(status)) return row->anthropic;
  return status >= 500 || status < 400 ? "api_error" : "invalid_request_error";
}

int status_for_openai_error_type(std::string_view type) {
  // OpenAI answers a used-up quota with 429 and this type.
  if (type == "insufficient_quota") return 429;
  for (const ErrorTypeRow& row : kErrorTypes) {
    if (row.openai == type) return row.status;
  }
  return 500;
}

int status_for_anthropic_error_type(std::string_view type) {
  for (const ErrorTypeRow& row : kErrorTypes) {
    if (row.anthropic == type) return row.status;
  }
  return 500;
}

GatewayError client_error(int status, std::string message, std::string param, std::string code) {
  GatewayError e;
  e.status = status;
  e.type = std::string(openai_error_type(status));
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  e.source = ErrorSource::client;
  return e;
}

namespace {
// Failures to get an answer from the provider at all.
GatewayError upstream_failure(int status, std::string code, std::string message) {
  GatewayError e;
  e.status = status;
  e.type = std::string(openai_error_type(status));
  e.message = std::move(message);
  e.code = std::move(code);
  e.source = ErrorSource::upstream;
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
  error["type"] = e.type.empty() ? openai_error_type(e.status) : std::string_view(e.type);
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
  e.type = std::string(openai_error_type(status));
  e.message = "Upstream returned HTTP " + std::to_string(status);
  if (!upstream_body.empty()) e.message.append(": ").append(quoted_prefix(upstream_body));
  e.code = "upstream_error";
  e.source = ErrorSource::upstream;
  return to_openai_error_body(e);
}

}  // namespace switchyard::core
