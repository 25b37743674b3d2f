#pragma once
// Parses an upstream's HTTP/1.1 response head, for the few facts the relay needs: status,
// content type, retry-after, body framing and keep-alive. Nothing is allocated and the other
// fields are skipped without being stored (a general-purpose parser keeps them all, which
// cost more than the rest of reading a response). Interim 1xx responses are skipped.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace switchyard::core {

struct ResponseHead {
  int status = 0;
  std::string_view content_type;  // views into the parsed bytes
  std::string_view retry_after;
  std::string_view retry_after_ms;    // OpenAI's and Azure's, in milliseconds
  std::string_view content_encoding;  // empty when absent
  std::optional<std::uint64_t> content_length;
  bool chunked = false;        // Transfer-Encoding ends in chunked
  bool keep_alive = false;     // the connection may carry another request after this response
  bool has_body = true;        // false for 204 and 304
  std::size_t head_bytes = 0;  // bytes of input taken by the head (and any 1xx heads before it)
};

enum class HeadParse { complete, incomplete, malformed };

struct ResponseHeadResult {
  HeadParse state = HeadParse::incomplete;
  ResponseHead head;
  const char* error = "";  // what is wrong, when malformed
};

// Parses the head at the start of `input`; `incomplete` means more bytes are needed.
ResponseHeadResult parse_response_head(std::string_view input);

// Whether a final upstream status is one an LLM API client can be given: a 2xx that carries
// an answer (not 204, 205 or 206) or a 4xx/5xx error. A 101, a 1xx as final, a 3xx (the
// gateway follows no redirects) or anything from 600 up is a broken upstream.
bool is_relayable_status(int status);

// True for no Content-Encoding or "identity": the gateway asks upstreams for identity and
// passes no encoded bytes on, since it must read them (usage, translation, SSE events).
bool is_identity_encoding(std::string_view content_encoding);

}  // namespace switchyard::core
