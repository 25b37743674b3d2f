#include "core/http_response_head.hpp"

#include <cstring>

namespace switchyard::core {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// True when the comma-separated list `value` holds `token` (case-insensitive).
bool list_contains(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view last_list_item(std::string_view value) {
  const std::size_t comma = value.rfind(',');
  return trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

// Parses one head starting at input[0]. Sets result.head.head_bytes to its length.
ResponseHeadResult parse_one(std::string_view input) {
  ResponseHeadResult r;
  ResponseHead& h = r.head;
  auto malformed = [&](const char* why) {
    r.state = HeadParse::malformed;
    r.error = why;
    return r;
  };
  // The head ends at the first empty line; lines end in CRLF (a bare LF is accepted).
  std::size_t pos = 0;
  auto next_line = [&](std::string_view& line) -> bool {
    const std::size_t lf = input.find('\n', pos);
    if (lf == std::string_view::npos) return false;
    std::size_t end = lf;
    if (end > pos && input[end - 1] == '\r') --end;
    line = input.substr(pos, end - pos);
    pos = lf + 1;
    return true;
  };

  std::string_view line;
  if (!next_line(line)) return r;  // incomplete
  // Status line: HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ') {
    return malformed("bad status line");
  }
  const bool http11 = line[7] == '1';
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return malformed("bad status code");
    status = status * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return malformed("bad status line");
  if (status < 100) return malformed("bad status code");
  h.status = status;

  bool close = !http11;
  bool transfer_encoding = false;
  for (;;) {
    if (!next_line(line)) return r;  // incomplete
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return malformed("obsolete header folding");
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return malformed("bad header field");
    const std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!is_token_char(c)) return malformed("bad header field name");
    }
    const std::string_view value = trim(line.substr(colon + 1));
    switch (name.size()) {
      case 10:
        if (iequals(name, "connection")) {
          if (list_contains(value, "close"))
            close = true;
          else if (list_contains(value, "keep-alive"))
            close = false;
        }
        break;
      case 11:
        if (iequals(name, "retry-after")) h.retry_after = value;
        break;
      case 12:
        if (iequals(name, "content-type")) h.content_type = value;
        break;
      case 16:
        if (iequals(name, "content-encoding")) h.content_encoding = value;
        break;
      case 14:
        if (iequals(name, "retry-after-ms")) h.retry_after_ms = value;
        if (iequals(name, "content-length")) {
          if (value.empty() || value.size() > 19) return malformed("bad content-length");
          std::uint64_t n = 0;
          for (char c : value) {
            if (c < '0' || c > '9') return malformed("bad content-length");
            n = n * 10 + static_cast<std::uint64_t>(c - '0');
          }
          if (h.content_length && *h.content_length != n)
            return malformed("conflicting content-length");
          h.content_length = n;
        }
        break;
      case 17:
        if (iequals(name, "transfer-encoding")) {
          transfer_encoding = true;
          h.chunked = iequals(last_list_item(value), "chunked");
        }
        break;
      default:
        break;
    }
  }
  h.head_bytes = pos;
  h.has_body = !(status == 204 || status == 304 || status < 200);
  if (transfer_encoding) {
    // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; a coding that does not end
    // in chunked is delimited by the close.
    h.content_length.reset();
    if (!h.chunked) close = true;
  } else if (!h.content_length && h.has_body) {
    close = true;  // read until the server closes
  }
  // A 204 or 304 that announces a body anyway: whether the server sends it is anyone's guess,
  // so the connection cannot be trusted to start the next response.
  if (!h.has_body && ((h.content_length && *h.content_length > 0) || transfer_encoding))
    close = true;
  h.keep_alive = !close;
  r.state = HeadParse::complete;
  return r;
}

}  // namespace

ResponseHeadResult parse_response_head(std::string_view input) {
  std::size_t skipped = 0;
  for (;;) {
    ResponseHeadResult r = parse_one(input.substr(skipped));
    if (r.state != HeadParse::complete) return r;
    // 100 Continue, 103 Early Hints: the real response follows. 101 would switch protocols,
    // which a gateway never asks for.
    if (r.head.status >= 100 && r.head.status < 200 && r.head.status != 101) {
      skipped += r.head.head_bytes;
      continue;
    }
    r.head.head_bytes += skipped;
    return r;
  }
}

bool is_relayable_status(int status) {
  if (status >= 400 && status <= 599) return true;
  return status >= 200 && status <= 299 && status != 204 && status != 205 && status != 206;
}

bool is_identity_encoding(std::string_view content_encoding) {
  return content_encoding.empty() || iequals(trim(content_encoding), "identity");
}

}  // namespace switchyard::core
