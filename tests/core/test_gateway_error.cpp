#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "core/gateway_error.hpp"

using switchyard::core::client_error;
using switchyard::core::ErrorSource;
using switchyard::core::GatewayError;
using switchyard::core::openai_error_body_from_upstream;
using switchyard::core::retry_after_for;
using switchyard::core::to_openai_error_body;
using switchyard::core::upstream_timeout;
using switchyard::core::upstream_unreachable;

namespace {

// Parses an OpenAI error body and checks the shape every SDK relies on: exactly the four keys,
// message and type strings, param and code string or null.
boost::json::object error_object(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(body, ec);
  INFO("body: " << body);
  REQUIRE_FALSE(ec);
  REQUIRE(value.is_object());
  REQUIRE(value.as_object().size() == 1);
  const auto* error = value.as_object().if_contains("error");
  REQUIRE(error);
  REQUIRE(error->is_object());
  const auto& object = error->as_object();
  CHECK(object.size() == 4);
  REQUIRE(object.contains("message"));
  REQUIRE(object.contains("type"));
  REQUIRE(object.contains("param"));
  REQUIRE(object.contains("code"));
  CHECK(object.at("message").is_string());
  CHECK(object.at("type").is_string());
  CHECK((object.at("param").is_null() || object.at("param").is_string()));
  CHECK((object.at("code").is_null() || object.at("code").is_string()));
  return object;
}

std::string str(const boost::json::value& v) { return std::string(v.as_string()); }

}  // namespace

TEST_CASE("each status has the error type each protocol documents, and back", "[gateway_error]") {
  struct Row {
    int status;
    const char* openai;
    const char* anthropic;
    int openai_back;  // the status each type stands for when read back
    int anthropic_back;
  };
  const Row rows[] = {
      {400, "invalid_request_error", "invalid_request_error", 400, 400},
      {401, "authentication_error", "authentication_error", 401, 401},
      {402, "invalid_request_error", "billing_error", 400, 402},
      {403, "permission_error", "permission_error", 403, 403},
      {404, "not_found_error", "not_found_error", 404, 404},
      {405, "invalid_request_error", "invalid_request_error", 400, 400},
      {409, "invalid_request_error", "conflict_error", 400, 409},
      {413, "invalid_request_error", "request_too_large", 400, 413},
      {422, "invalid_request_error", "invalid_request_error", 400, 400},
      {429, "rate_limit_error", "rate_limit_error", 429, 429},
      {500, "server_error", "api_error", 500, 500},
      {502, "server_error", "api_error", 500, 500},
      {503, "server_error", "api_error", 500, 500},
      {504, "server_error", "timeout_error", 500, 504},
      {529, "server_error", "overloaded_error", 500, 529},
  };
  for (const Row& row : rows) {
    INFO("status " << row.status);
    CHECK(switchyard::core::openai_error_type(row.status) == row.openai);
    CHECK(switchyard::core::anthropic_error_type(row.status) == row.anthropic);
    CHECK(switchyard::core::status_for_openai_error_type(row.openai) == row.openai_back);
    CHECK(switchyard::core::status_for_anthropic_error_type(row.anthropic) == row.anthropic_back);

    const GatewayError e = client_error(row.status, "msg");
    CHECK(e.status == row.status);
    CHECK(e.type == row.openai);
    CHECK(e.source == ErrorSource::client);
  }
  // Types the table does not name stand for a server error; a used-up quota is a 429.
  CHECK(switchyard::core::status_for_openai_error_type("insufficient_quota") == 429);
  CHECK(switchyard::core::status_for_openai_error_type("api_error") == 500);
  CHECK(switchyard::core::status_for_openai_error_type("") == 500);
  CHECK(switchyard::core::status_for_anthropic_error_type("something_new") == 500);
}

TEST_CASE("client errors keep their message, param and code", "[gateway_error]") {
  const GatewayError e = client_error(400, "bad", "messages", "empty_array");
  CHECK(e.message == "bad");
  CHECK(e.param == "messages");
  CHECK(e.code == "empty_array");
}

TEST_CASE("upstream failures are 502 and 504 server errors", "[gateway_error]") {
  const GatewayError unreachable = upstream_unreachable("connect refused");
  CHECK(unreachable.status == 502);
  CHECK(unreachable.type == "server_error");
  CHECK(unreachable.code == "upstream_unreachable");
  CHECK(unreachable.source == ErrorSource::upstream);
  CHECK(unreachable.message == "connect refused");

  const GatewayError timeout = upstream_timeout("no first byte in 30 s");
  CHECK(timeout.status == 504);
  CHECK(timeout.type == "server_error");
  CHECK(timeout.code == "upstream_timeout");
  CHECK(timeout.source == ErrorSource::upstream);
}

TEST_CASE("the OpenAI error body has the four keys, empty param and code as null",
          "[gateway_error]") {
  const auto plain = error_object(to_openai_error_body(client_error(401, "Invalid API key.")));
  CHECK(str(plain.at("message")) == "Invalid API key.");
  CHECK(str(plain.at("type")) == "authentication_error");
  CHECK(plain.at("param").is_null());
  CHECK(plain.at("code").is_null());

  const auto full = error_object(to_openai_error_body(
      client_error(400, "Missing 'model'.", "model", "missing_required_parameter")));
  CHECK(str(full.at("param")) == "model");
  CHECK(str(full.at("code")) == "missing_required_parameter");

  const auto timeout = error_object(to_openai_error_body(upstream_timeout("slow")));
  CHECK(str(timeout.at("code")) == "upstream_timeout");
}

TEST_CASE("messages with quotes, control characters and bad UTF-8 stay valid JSON",
          "[gateway_error]") {
  const std::string message = "a \"quoted\" \\ path\nnext\tline \x01 café \xC3\x28 end";
  const auto object = error_object(to_openai_error_body(client_error(400, message)));
  const std::string round_trip = str(object.at("message"));
  CHECK(round_trip.rfind("a \"quoted\" \\ path\nnext\tline \x01 café ", 0) == 0);
  CHECK(round_trip.find("\xEF\xBF\xBD(") != std::string::npos);
}

TEST_CASE("an error without a type gets one from its status", "[gateway_error]") {
  GatewayError e;
  e.status = 429;
  e.message = "slow down";
  CHECK(str(error_object(to_openai_error_body(e)).at("type")) == "rate_limit_error");
}

TEST_CASE("an upstream body already in OpenAI's shape is passed through unchanged",
          "[gateway_error]") {
  const std::string_view openai =
      R"({"error":{"code":null,"message":"An assistant message with 'tool_calls' must be followed by tool messages.","param":"messages.[5].role","type":"invalid_request_error"}})";
  CHECK(openai_error_body_from_upstream(400, openai) == openai);

  const std::string_view quota =
      "{\n  \"error\": {\n    \"message\": \"You exceeded your current quota.\",\n"
      "    \"type\": \"insufficient_quota\",\n    \"param\": null,\n"
      "    \"code\": \"insufficient_quota\"\n  }\n}\n";
  CHECK(openai_error_body_from_upstream(429, quota) == quota);
}

TEST_CASE("other upstream bodies are wrapped with the status and quoted text", "[gateway_error]") {
  const auto html = error_object(openai_error_body_from_upstream(
      502, "<html><head><title>502 Bad Gateway</title></head></html>"));
  CHECK(str(html.at("message")) ==
        "Upstream returned HTTP 502: <html><head><title>502 Bad Gateway</title></head></html>");
  CHECK(str(html.at("type")) == "server_error");
  CHECK(str(html.at("code")) == "upstream_error");
  CHECK(html.at("param").is_null());

  const auto limited = error_object(openai_error_body_from_upstream(429, "Too Many Requests"));
  CHECK(str(limited.at("type")) == "rate_limit_error");

  const auto empty = error_object(openai_error_body_from_upstream(500, ""));
  CHECK(str(empty.at("message")) == "Upstream returned HTTP 500");

  // JSON, but not OpenAI's shape.
  for (const char* body :
       {R"({"detail":"Not Found"})", R"({"error":"model not found"})", R"({"error":{"code":404}})",
        R"({"error":{"message":42}})", R"(["error"])"}) {
    INFO("body: " << body);
    const auto wrapped = error_object(openai_error_body_from_upstream(404, body));
    CHECK(str(wrapped.at("message")) == std::string("Upstream returned HTTP 404: ") + body);
    CHECK(str(wrapped.at("type")) == "not_found_error");
  }
}

TEST_CASE("quoted upstream text is cut at 512 bytes, never inside a character", "[gateway_error]") {
  const std::string prefix = "Upstream returned HTTP 500: ";

  const std::string long_ascii(2000, 'x');
  CHECK(str(error_object(openai_error_body_from_upstream(500, long_ascii)).at("message")) ==
        prefix + std::string(512, 'x'));

  // "é" occupies bytes 511 and 512: the whole character goes.
  const std::string straddling = std::string(511, 'a') + "\xC3\xA9" + std::string(100, 'b');
  CHECK(str(error_object(openai_error_body_from_upstream(500, straddling)).at("message")) ==
        prefix + std::string(511, 'a'));

  // A 4-byte character ending exactly at the limit is kept.
  const std::string fits = std::string(508, 'a') + "\xF0\x9F\x9A\x80" + "tail";
  CHECK(str(error_object(openai_error_body_from_upstream(500, fits)).at("message")) ==
        prefix + std::string(508, 'a') + "\xF0\x9F\x9A\x80");
}

TEST_CASE("binary upstream bodies still produce valid JSON", "[gateway_error]") {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  const auto object = error_object(openai_error_body_from_upstream(503, binary));
  CHECK(str(object.at("type")) == "server_error");
  CHECK(str(object.at("message")).rfind("Upstream returned HTTP 503: ", 0) == 0);
}

TEST_CASE("an error answer's Retry-After: the provider's value, else 1 on a transient status",
          "[gateway_error]") {
  // The provider's own value always wins, whatever it says (seconds or an HTTP date).
  CHECK(retry_after_for(429, "7") == "7");
  CHECK(retry_after_for(503, "Wed, 21 Oct 2026 07:28:00 GMT") == "Wed, 21 Oct 2026 07:28:00 GMT");
  CHECK(retry_after_for(500, "3") == "3");
  // Without one, the statuses an SDK retries on get 1 second; the others get none.
  for (int status : {429, 503, 529}) CHECK(retry_after_for(status) == "1");
  for (int status : {400, 401, 404, 500, 502, 504}) CHECK(retry_after_for(status).empty());
}
