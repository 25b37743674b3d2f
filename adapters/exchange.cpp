#include "adapters/exchange.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstring>

#include "adapters/anthropic.hpp"
#include "adapters/azure.hpp"
#include "adapters/gemini.hpp"
#include "adapters/json_reading.hpp"
#include "adapters/openai.hpp"
#include "adapters/openai_compatible.hpp"
#include "adapters/responses.hpp"
#include "core/chat_request.hpp"
#include "core/sse_decoder.hpp"
#include "core/usage.hpp"

namespace switchyard::adapters {
namespace {

// The explicit table: adding a provider type means adding a row here and its file pair.
constexpr std::array<ProviderKind, 6> kProviderKinds{{
    {"openai", Protocol::openai_chat, /*native_responses=*/true, /*native_count_tokens=*/false,
     /*embeddings=*/true, /*in_process=*/false},
    {"openai_compatible", Protocol::openai_chat, false, false, true, false},
    {"azure", Protocol::openai_chat, false, false, true, false},
    {"anthropic", Protocol::anthropic_messages, false, true, false, false},
    {"gemini", Protocol::gemini, false, false, false, false},
    {"mock", Protocol::openai_chat, false, false, false, true},
}};

core::GatewayError unreadable_upstream_answer(const core::GatewayError& why) {
  core::GatewayError e;
  e.status = 502;
  e.type = std::string(core::openai_error_type(502));
  e.code = "bad_upstream_response";
  e.message = "The upstream provider's answer could not be read: " + why.message;
  e.source = core::ErrorSource::upstream;
  return e;
}

// A pass-through stream's bytes are forwarded up to the end of their last whole line; a line
// cut by the read waits for the rest (the client could not use half a line sooner). So the
// gateway can always end the stream with a well-formed in-band error, whatever the upstream
// sends, and what waits is bounded by the SSE decoder's limit on a line.
class WholeLines {
 public:
  std::string_view take(std::string_view piece) {
    const std::size_t end = whole_lines_end(piece);
    if (end > 0) last_cr_ = piece[end - 1] == '\r';
    if (held_.empty()) {
      if (end == piece.size()) return piece;  // the usual case: reads end where events do
      held_.assign(piece.substr(end));
      return piece.substr(0, end);
    }
    if (end == 0) {
      held_.append(piece);
      return {};
    }
    out_.assign(held_);
    out_.append(piece.substr(0, end));
    held_.assign(piece.substr(end));
    return out_;
  }
  // The client's last byte is a CR whose LF may still come: nothing may go between them.
  bool after_cr() const { return last_cr_; }
  // The bytes to forward from the read in which a line overflowed at `offset` (the lines
  // before it were whole); the overflowing line itself is dropped.
  std::string_view before(std::string_view piece, std::size_t offset) {
    out_.clear();
    if (offset > 0) {
      out_.assign(held_);
      out_.append(piece.substr(0, offset));
    }
    std::string().swap(held_);
    return out_;
  }
  void drop() { std::string().swap(held_); }

 private:
  // A plain loop: find_last_of calls memchr once per byte it looks at.
  static std::size_t whole_lines_end(std::string_view piece) {
    std::size_t end = piece.size();
    while (end > 0 && piece[end - 1] != '\n' && piece[end - 1] != '\r') --end;
    return end;
  }
  std::string held_;
  std::string out_;
  bool last_cr_ = false;
};

// A keep-alive for a client whose stream is at a line boundary. Between events: Anthropic's
// ping event (what Anthropic itself sends; the SDKs skip it), else an SSE comment. Inside an
// event the client holds part of: a comment line alone, since a blank line would end that
// event early.
std::string_view keepalive_bytes(Protocol client, bool inside_event) {
  if (inside_event) return ": keep-alive\n";
  if (client == Protocol::anthropic_messages) return "event: ping\ndata: {\"type\": \"ping\"}\n\n";
  return ": keep-alive\n\n";
}

// What ends a stream on the upstream's account, in the client's protocol. A blank line first
// closes whatever fields the client holds of an event, so the error is an event of its own.
void append_fault(Protocol client, const core::GatewayError& error, std::string& out) {
  out += '\n';
  out += encode_stream_error(client, error);
}

// An event that is an error object, or the [DONE] marker. By hand: starts_with and == were
// left out of line here, a call per event of every chat stream.
bool is_error_event(std::string_view data) {
  return data.size() >= 8 && std::memcmp(data.data(), "{\"error\"", 8) == 0;
}
bool is_done_marker(std::string_view data) {
  return data.size() == 6 && std::memcmp(data.data(), "[DONE]", 6) == 0;
}

// Whether a chat chunk carries part of the answer: non-empty content or reasoning, a tool
// call, a finish reason, or an error (a role-only opening chunk does not).
bool chat_chunk_has_answer(std::string_view data) {
  auto non_empty_string = [&](std::string_view key) {
    for (std::size_t at = data.find(key); at != std::string_view::npos;
         at = data.find(key, at + 1)) {
      const std::size_t value = at + key.size();
      if (value < data.size() && data[value] != '"') return true;
    }
    return false;
  };
  return non_empty_string("\"content\":\"") || non_empty_string("\"reasoning_content\":\"") ||
         non_empty_string("\"reasoning\":\"") || non_empty_string("\"finish_reason\":\"") ||
         data.find("\"tool_calls\"") != std::string_view::npos || is_error_event(data) ||
         is_done_marker(data);
}

// OpenAI chat to an OpenAI chat client. Every read is forwarded as it arrived (whole lines),
// unless the gateway added include_usage on its own: then whole events are forwarded and the
// usage-only chunk is dropped, so the client sees exactly what the provider would have sent
// it; a partial event waits for its end (the client could not use it sooner).
class ChatPassthroughRelay final : public StreamRelay {
 public:
  ChatPassthroughRelay(bool drop_usage_chunk, std::size_t max_event_bytes)
      : filter_(drop_usage_chunk), decoder_(max_event_bytes), max_event_bytes_(max_event_bytes) {}

  std::string_view on_data(std::string_view piece) override {
    if (fault_ != RelayFault::none) return {};
    out_.clear();
    std::size_t cursor = 0;
    decoder_.feed(piece, [&](const core::SseEvent& event) {
      bool drop = false;
      if (track_answer_start_ && !answer_started_)
        answer_started_ = chat_chunk_has_answer(event.data);
      if (!final_seen_) final_seen_ = is_done_marker(event.data) || is_error_event(event.data);
      if (event.data.find("\"usage\"") != std::string_view::npos) {
        if (auto u = core::extract_openai_usage(event.data)) {
          // The gateway always asks a chat stream for usage, which comes after the last
          // choice: the answer is complete even if [DONE] never follows (some
          // OpenAI-compatible servers omit it).
          final_seen_ = true;
          usage_ = *u;
          drop = filter_ && core::is_openai_usage_only_chunk(event.data);
        }
      }
      if (!filter_) return;
      if (!drop) {
        out_ += pending_;
        out_.append(piece.substr(cursor, event.end_offset - cursor));
      }
      pending_.clear();
      cursor = event.end_offset;
    });
    if (decoder_.overflowed()) {
      fault_ = RelayFault::oversized;
      if (!filter_) out_.assign(lines_.before(piece, decoder_.overflow_offset()));
      std::string().swap(pending_);
      append_fault(Protocol::openai_chat, event_too_large_error(max_event_bytes_), out_);
      return out_;
    }
    if (!filter_) return lines_.take(piece);
    if (decoder_.mid_event()) {
      pending_.append(piece.substr(cursor));
    } else {
      // Only comments or blank lines are left (keep-alives): forward them now.
      out_ += pending_;
      out_.append(piece.substr(cursor));
      pending_.clear();
    }
    return out_;
  }
  std::string_view on_end() override {
    if (final_seen_ || fault_ != RelayFault::none) return {};
    fault_ = RelayFault::truncated;
    lines_.drop();
    out_.clear();
    append_fault(Protocol::openai_chat, stream_truncated_error(), out_);
    return out_;
  }
  std::string_view on_error(const core::GatewayError& error) override {
    out_.clear();
    append_fault(Protocol::openai_chat, error, out_);
    return out_;
  }
  std::string_view keepalive() override {
    if (fault_ != RelayFault::none) return {};
    // Filtering holds a partial event back whole, so the client is between events.
    if (filter_) return keepalive_bytes(Protocol::openai_chat, false);
    if (lines_.after_cr()) return {};
    return keepalive_bytes(Protocol::openai_chat, decoder_.mid_event());
  }

 private:
  bool filter_;
  core::SseDecoder decoder_;
  std::size_t max_event_bytes_;
  WholeLines lines_;
  std::string pending_;
  std::string out_;
  bool final_seen_ = false;
};

// Same protocol on both sides, not OpenAI chat: bytes pass through (whole lines); the SSE
// decoder beside them finds the usage and the stream's final event.
class WatchingPassthroughRelay final : public StreamRelay {
 public:
  WatchingPassthroughRelay(Protocol protocol, std::size_t max_event_bytes)
      : protocol_(protocol), decoder_(max_event_bytes), max_event_bytes_(max_event_bytes) {}

  std::string_view on_data(std::string_view piece) override {
    if (fault_ != RelayFault::none) return {};
    decoder_.feed(piece, [&](const core::SseEvent& event) {
      if (track_answer_start_ && !answer_started_) {
        // A delta of the answer or its end; not the opening events (message_start, ping,
        // content_block_start; response.created, in_progress, output_item.added, ...).
        const std::string_view t = event.type;
        answer_started_ = protocol_ == Protocol::anthropic_messages
                              ? t == "content_block_delta" || t == "message_delta" ||
                                    t == "message_stop" || t == "error"
                              : t.ends_with(".delta") || t == "response.output_item.done" ||
                                    t == "response.completed" || t == "response.failed" ||
                                    t == "response.incomplete" || t == "error";
      }
      if (protocol_ == Protocol::anthropic_messages) {
        tracker_.on_event(event);
        if (event.type == "message_stop" || event.type == "error") final_seen_ = true;
      } else {
        if (event.type == "response.completed" || event.type == "response.failed" ||
            event.type == "response.incomplete" || event.type == "error") {
          final_seen_ = true;
        }
        if (event.data.find("\"response.completed\"") != std::string_view::npos) {
          if (auto u = extract_responses_usage(event.data)) usage_ = *u;
        }
      }
    });
    // Once a read, not once an event: the usage only matters when the stream ends.
    if (tracker_.usage()) usage_ = tracker_.usage();
    if (decoder_.overflowed()) {
      fault_ = RelayFault::oversized;
      out_.assign(lines_.before(piece, decoder_.overflow_offset()));
      append_fault(protocol_, event_too_large_error(max_event_bytes_), out_);
      return out_;
    }
    return lines_.take(piece);
  }
  std::string_view on_end() override {
    if (final_seen_ || fault_ != RelayFault::none) return {};
    fault_ = RelayFault::truncated;
    lines_.drop();
    out_.clear();
    append_fault(protocol_, stream_truncated_error(), out_);
    return out_;
  }
  std::string_view on_error(const core::GatewayError& error) override {
    out_.clear();
    append_fault(protocol_, error, out_);
    return out_;
  }
  std::string_view keepalive() override {
    if (fault_ != RelayFault::none || lines_.after_cr()) return {};
    return keepalive_bytes(protocol_, decoder_.mid_event());
  }

 private:
  Protocol protocol_;
  core::SseDecoder decoder_;
  std::size_t max_event_bytes_;
  WholeLines lines_;
  MessagesUsageTracker tracker_;
  std::string out_;
  bool final_seen_ = false;
};

std::unique_ptr<StreamDecoder> make_decoder(Protocol upstream) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return make_messages_stream_decoder();
    case Protocol::gemini:
      return make_gemini_stream_decoder();
    case Protocol::openai_chat:
    case Protocol::openai_responses:
      break;
  }
  return make_chat_stream_decoder();
}

std::unique_ptr<StreamEncoder> make_encoder(const StreamContext& c) {
  switch (c.client) {
    case Protocol::anthropic_messages:
      // message_start carries the input tokens; the upstream's count usually comes later.
      return make_messages_stream_encoder(c.id, c.model,
                                          c.request ? estimate_input_tokens(*c.request) : 0);
    case Protocol::openai_responses: {
      static const Request kNoRequest;
      return make_responses_stream_encoder(c.id, c.model, c.created,
                                           c.request ? *c.request : kNoRequest);
    }
    case Protocol::openai_chat:
    case Protocol::gemini:
      break;
  }
  return make_chat_stream_encoder(c.id, c.model, c.created, c.client_wants_usage);
}

// Whether a tool call's arguments, fed fragment by fragment, are one whole JSON object or
// array yet: brackets balanced outside strings.
class JsonCompleteness {
 public:
  void feed(std::string_view text) {
    for (const char c : text) {
      if (in_string_) {
        if (escaped_)
          escaped_ = false;
        else if (c == '\\')
          escaped_ = true;
        else if (c == '"')
          in_string_ = false;
      } else if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        ++depth_;
        opened_ = true;
      } else if ((c == '}' || c == ']') && depth_ > 0) {
        --depth_;
      }
    }
  }
  bool complete() const { return opened_ && depth_ == 0; }

 private:
  std::int64_t depth_ = 0;
  bool opened_ = false;
  bool in_string_ = false;
  bool escaped_ = false;
};

// Anthropic content blocks and Responses output items are written one at a time, and a
// closed one takes nothing more; OpenAI-format providers may interleave the fragments of
// parallel tool calls (index 0, 1, then 0 again). So a call that starts while the live one's
// arguments are not yet whole JSON is held, with its fragments, and released in order once
// they are (or when something else than tool calls comes: text, reasoning, the finish, the
// end). In the usual order, each call whole before the next starts, nothing waits.
class ToolCallOrder {
 public:
  // Appends to `out` what of `e` (and of the calls it releases) may be encoded now.
  void on_event(StreamEvent&& e, std::vector<StreamEvent>& out) {
    switch (e.kind) {
      case StreamEvent::Kind::tool_call_start:
        if (!blocked()) {
          go_live(std::move(e), JsonCompleteness(), out);
        } else {
          held_bytes_ += e.text.size();
          Held& h = held_.emplace_back();
          h.json.feed(e.text);
          h.start = std::move(e);
        }
        return;
      case StreamEvent::Kind::tool_call_delta:
        if (e.index == live_) {
          live_json_.feed(e.text);
          out.push_back(std::move(e));
          release_after_complete(out);
          return;
        }
        for (Held& h : held_) {
          if (h.start.kind != StreamEvent::Kind::tool_call_start || h.start.index != e.index)
            continue;
          held_bytes_ += e.text.size();
          h.json.feed(e.text);
          h.start.text += e.text;
          return;
        }
        break;  // a call already over: the encoder decides
      case StreamEvent::Kind::text:
      case StreamEvent::Kind::thinking:
      case StreamEvent::Kind::thinking_signature:
        if (blocked()) {
          // Text would close the live call's block before its last fragments came: it
          // waits, in order, behind the call and whatever is held already.
          held_bytes_ += e.text.size();
          held_.emplace_back().start = std::move(e);
          return;
        }
        live_ = -1;
        break;
      case StreamEvent::Kind::finish:
        flush(out);
        live_ = -1;
        break;
      case StreamEvent::Kind::start:
      case StreamEvent::Kind::usage:
      case StreamEvent::Kind::error:
        break;
    }
    out.push_back(std::move(e));
  }
  // Whether `e` may be encoded where it stands, in the decoder's order (nothing is held and
  // it holds nothing back): then pass() records it, and the batch needs no reordering, so
  // the common stream pays no move of its events.
  bool can_pass(const StreamEvent& e) const {
    switch (e.kind) {
      case StreamEvent::Kind::tool_call_start:
      case StreamEvent::Kind::text:
      case StreamEvent::Kind::thinking:
      case StreamEvent::Kind::thinking_signature:
        return !blocked();
      case StreamEvent::Kind::tool_call_delta:
      case StreamEvent::Kind::finish:
      case StreamEvent::Kind::start:
      case StreamEvent::Kind::usage:
      case StreamEvent::Kind::error:
        break;
    }
    return held_.empty();
  }
  void pass(const StreamEvent& e) {
    switch (e.kind) {
      case StreamEvent::Kind::tool_call_start:
        live_ = e.index;
        live_json_ = JsonCompleteness();
        live_json_.feed(e.text);
        return;
      case StreamEvent::Kind::tool_call_delta:
        if (e.index == live_) live_json_.feed(e.text);
        return;
      case StreamEvent::Kind::text:
      case StreamEvent::Kind::thinking:
      case StreamEvent::Kind::thinking_signature:
      case StreamEvent::Kind::finish:
        live_ = -1;
        return;
      case StreamEvent::Kind::start:
      case StreamEvent::Kind::usage:
      case StreamEvent::Kind::error:
        return;
    }
  }
  bool holding() const { return !held_.empty(); }
  // The calls still held, in the order they started.
  void flush(std::vector<StreamEvent>& out) {
    while (!held_.empty()) release_front(out);
  }
  // Argument bytes held back (bounded by the relay like an answer a client's encoder keeps).
  std::size_t held_bytes() const { return held_bytes_; }

 private:
  struct Held {
    StreamEvent start;  // a call's start (its text: the arguments so far), or held text
    JsonCompleteness json;
  };
  void go_live(StreamEvent&& start, JsonCompleteness json, std::vector<StreamEvent>& out) {
    live_ = start.index;
    live_json_ = json;
    live_json_.feed(start.text);
    out.push_back(std::move(start));
  }
  // A new block now would cut the live call short, or jump what is held.
  bool blocked() const { return !held_.empty() || (live_ >= 0 && !live_json_.complete()); }
  void release_front(std::vector<StreamEvent>& out) {
    Held h = std::move(held_.front());
    held_.erase(held_.begin());
    held_bytes_ -= h.start.text.size();
    if (h.start.kind == StreamEvent::Kind::tool_call_start) {
      live_ = h.start.index;
      live_json_ = h.json;
    } else {
      live_ = -1;  // held text: its block closes the call before it
    }
    out.push_back(std::move(h.start));
  }
  void release_after_complete(std::vector<StreamEvent>& out) {
    while (!held_.empty() && (live_ < 0 || live_json_.complete())) release_front(out);
  }

  int live_ = -1;  // the call whose fragments are encoded as they come
  JsonCompleteness live_json_;
  std::vector<Held> held_;
  std::size_t held_bytes_ = 0;
};

// Different protocols: each upstream event is decoded to canonical events, which are encoded
// at once in the client's protocol. Nothing waits for the whole answer (held tool calls
// aside, see ToolCallOrder).
class TranslatingRelay final : public StreamRelay {
 public:
  explicit TranslatingRelay(const StreamContext& c)
      : client_(c.client),
        sse_(c.max_event_bytes),
        max_event_bytes_(c.max_event_bytes),
        max_kept_bytes_(c.client == Protocol::openai_responses ? c.max_kept_bytes : SIZE_MAX),
        max_held_bytes_(c.max_kept_bytes),
        // Only OpenAI-format providers interleave calls (Anthropic's blocks are sequential,
        // Gemini sends whole calls), and Chat clients' fragments carry their call's index.
        order_(c.upstream == Protocol::openai_chat && c.client != Protocol::openai_chat
                   ? std::make_unique<ToolCallOrder>()
                   : nullptr),
        usage_first_(c.client == Protocol::anthropic_messages),
        decoder_(make_decoder(c.upstream)),
        encoder_(make_encoder(c)) {
    // One read usually carries a few events; growing from empty cost several reallocations
    // per stream (callgrind).
    out_.reserve(1024);
  }

  std::string_view on_data(std::string_view piece) override {
    out_.clear();
    if (failed_) return out_;
    sse_.feed(piece, [&](const core::SseEvent& event) {
      events_.clear();
      decoder_->on_event(event, events_);
      for (const StreamEvent& e : events_)
        answer_started_ =
            answer_started_ || (track_answer_start_ && e.kind != StreamEvent::Kind::start &&
                                e.kind != StreamEvent::Kind::usage);
      emit(/*last=*/false);
    });
    if (sse_.overflowed() && !failed_) {
      encoder_->fail(event_too_large_error(max_event_bytes_), out_);
      failed_ = true;
      fault_ = RelayFault::oversized;
    }
    return out_;
  }
  std::string_view on_end() override {
    out_.clear();
    events_.clear();
    decoder_->on_end(events_);
    emit(/*last=*/true);
    if (!failed_) encoder_->finish(out_);
    return out_;
  }
  std::string_view on_error(const core::GatewayError& error) override {
    out_.clear();
    if (!failed_) encoder_->fail(error, out_);
    failed_ = true;
    return out_;
  }
  // Encoders write whole events, so the client is always between two.
  std::string_view keepalive() override {
    return failed_ ? std::string_view() : keepalive_bytes(client_, false);
  }

 private:
  // Encodes the canonical events of one upstream event (`last`: of the upstream's end).
  void emit(bool last) {
    std::vector<StreamEvent>* batch = &events_;
    if (order_ && !failed_) {
      // Events stay where they are until one must be held or released; from there on the
      // batch is rebuilt in the order the client may see it.
      bool reordered = false;
      for (std::size_t i = 0; i < events_.size(); ++i) {
        StreamEvent& e = events_[i];
        if (!reordered && order_->can_pass(e)) {
          order_->pass(e);
          continue;
        }
        if (!reordered) {
          ordered_.clear();
          for (std::size_t j = 0; j < i; ++j) ordered_.push_back(std::move(events_[j]));
          reordered = true;
        }
        order_->on_event(std::move(e), ordered_);
      }
      if (last && order_->holding()) {
        if (!reordered) {
          ordered_.clear();
          for (StreamEvent& e : events_) ordered_.push_back(std::move(e));
          reordered = true;
        }
        order_->flush(ordered_);
      }
      if (reordered) batch = &ordered_;
      if (order_->held_bytes() > max_held_bytes_) {
        encoder_->fail(answer_too_large_error(max_held_bytes_), out_);
        failed_ = true;
        fault_ = RelayFault::oversized;
        return;
      }
    }
    if (usage_first_) {
      // Anthropic's message_start carries the input tokens: when the upstream's first event
      // already counts them (Gemini's usageMetadata), its usage goes to the encoder before
      // the start, so the first frame has the exact count rather than the estimate. Usage
      // events only record counts, so nothing else moves.
      for (const StreamEvent& e : *batch) {
        if (e.kind != StreamEvent::Kind::start) continue;
        std::stable_partition(batch->begin(), batch->end(), [](const StreamEvent& u) {
          return u.kind == StreamEvent::Kind::usage;
        });
        usage_first_ = false;
        break;
      }
    }
    for (const StreamEvent& e : *batch) {
      if (failed_) return;
      if (e.kind == StreamEvent::Kind::usage) usage_ = e.usage;
      if (e.kind == StreamEvent::Kind::error) {
        // The provider reported a failure inside its stream, or the decoder found the stream
        // broken: the client gets it in its terms.
        encoder_->fail(e.error, out_);
        failed_ = true;
        fault_ = e.error.code == "bad_upstream_response"       ? RelayFault::bad_event
                 : e.error.code == "upstream_stream_truncated" ? RelayFault::truncated
                                                               : RelayFault::upstream_error;
        return;
      }
      kept_bytes_ += e.text.size();
      if (kept_bytes_ > max_kept_bytes_) {
        // An answer that never ends would otherwise grow the encoder's copy of it for good.
        encoder_->fail(answer_too_large_error(max_kept_bytes_), out_);
        failed_ = true;
        fault_ = RelayFault::oversized;
        return;
      }
      encoder_->encode(e, out_);
    }
  }

  Protocol client_;
  core::SseDecoder sse_;
  std::size_t max_event_bytes_;
  std::size_t max_kept_bytes_;
  std::size_t kept_bytes_ = 0;
  std::size_t max_held_bytes_;
  std::unique_ptr<ToolCallOrder> order_;  // null: events are encoded in the decoder's order
  bool usage_first_;                      // until the start event has been encoded
  std::unique_ptr<StreamDecoder> decoder_;
  std::unique_ptr<StreamEncoder> encoder_;
  std::vector<StreamEvent> events_;
  std::vector<StreamEvent> ordered_;
  std::string out_;
  bool failed_ = false;
};

}  // namespace

const ProviderKind* find_provider_kind(std::string_view type) {
  for (const ProviderKind& k : kProviderKinds) {
    if (k.type == type) return &k;
  }
  return nullptr;
}

Protocol upstream_protocol(Protocol client, const ProviderKind& kind) {
  if (client == kind.wire) return client;
  if (client == Protocol::openai_responses && kind.native_responses) return client;
  return kind.wire;
}

std::string format_upstream_head(const UpstreamRequest& request, std::string_view host_header,
                                 std::string_view user_agent) {
  std::string head;
  head.reserve(256 + request.path.size());
  head += request.method;
  head += ' ';
  head += request.path;
  head += " HTTP/1.1\r\nHost: ";
  head += host_header;
  head += "\r\nUser-Agent: ";
  head += user_agent;
  head += "\r\nContent-Length: ";
  core::append_json_int(head, static_cast<std::int64_t>(request.body.size()));
  head += "\r\n";
  for (const auto& [name, value] : request.headers) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

UpstreamRequest health_check_request(const core::ProviderConfig& provider, std::string_view api_key,
                                     std::string_view base_path) {
  UpstreamRequest out;
  out.method = "GET";
  out.path = std::string(base_path) + provider.health_check_path;
  out.headers.emplace_back("Accept", "application/json");
  out.headers.emplace_back("Accept-Encoding", "identity");
  if (!api_key.empty()) {
    if (provider.type == "anthropic") {
      out.headers.emplace_back("x-api-key", std::string(api_key));
      out.headers.emplace_back("anthropic-version", std::string(kAnthropicVersion));
    } else if (provider.type == "gemini") {
      out.headers.emplace_back("x-goog-api-key", std::string(api_key));
    } else if (provider.type == "azure") {
      out.headers.emplace_back("api-key", std::string(api_key));
    } else {
      add_bearer_auth(api_key, out.headers);
    }
  }
  for (const auto& [name, value] : provider.headers) out.headers.emplace_back(name, value);
  return out;
}

UpstreamRequest build_upstream_request(const core::ProviderConfig& provider,
                                       std::string_view api_key, std::string_view base_path,
                                       Operation operation, Protocol protocol,
                                       std::string_view upstream_model, bool stream,
                                       std::string body, std::string_view request_id,
                                       const ForwardedHeaders& forwarded) {
  UpstreamRequest out;
  out.body = std::move(body);
  out.headers.reserve(9 + provider.headers.size());
  out.headers.emplace_back("Content-Type", "application/json");
  // Compressed streams would be buffered by the decompressor; ask for raw bytes.
  out.headers.emplace_back("Accept-Encoding", "identity");
  out.headers.emplace_back("Accept", stream ? "text/event-stream" : "application/json");

  std::string path(base_path);
  if (provider.type == "anthropic") {
    path += operation == Operation::count_tokens ? "/v1/messages/count_tokens" : "/v1/messages";
    if (!api_key.empty()) out.headers.emplace_back("x-api-key", std::string(api_key));
    out.headers.emplace_back("anthropic-version", forwarded.anthropic_version.empty()
                                                      ? std::string(kAnthropicVersion)
                                                      : forwarded.anthropic_version);
    if (!forwarded.anthropic_beta.empty())
      out.headers.emplace_back("anthropic-beta", forwarded.anthropic_beta);
  } else if (provider.type == "gemini") {
    path += gemini_request_path(upstream_model, stream);
    if (!api_key.empty()) out.headers.emplace_back("x-goog-api-key", std::string(api_key));
  } else if (provider.type == "azure") {
    path += azure_path(upstream_model,
                       operation == Operation::embeddings ? "embeddings" : "chat/completions",
                       provider.api_version);
    if (!api_key.empty()) out.headers.emplace_back("api-key", std::string(api_key));
  } else {
    // openai, openai_compatible and the in-process mock speak OpenAI's paths.
    if (operation == Operation::embeddings)
      path += "/embeddings";
    else
      path += protocol == Protocol::openai_responses ? "/responses" : "/chat/completions";
    add_bearer_auth(api_key, out.headers);
  }
  out.path = std::move(path);
  out.headers.emplace_back("X-Request-Id", std::string(request_id));
  if (!forwarded.traceparent.empty()) {
    out.headers.emplace_back("traceparent", forwarded.traceparent);
    if (!forwarded.tracestate.empty()) out.headers.emplace_back("tracestate", forwarded.tracestate);
  }
  for (const auto& [name, value] : provider.headers) out.headers.emplace_back(name, value);
  return out;
}

Decoded<Request> decode_request(Protocol client, std::string_view body) {
  switch (client) {
    case Protocol::anthropic_messages:
      return decode_messages_request(body);
    case Protocol::openai_responses:
      return decode_responses_request(body);
    case Protocol::openai_chat:
    case Protocol::gemini:
      break;
  }
  return decode_chat_request(body);
}

void fit_reasoning(Request& request, bool model_accepts_reasoning) {
  if (!model_accepts_reasoning) {
    request.reasoning_effort.clear();
    request.thinking_budget.reset();
    return;
  }
  if (request.reasoning_effort.empty() && request.thinking_budget) {
    const std::int64_t budget = *request.thinking_budget;
    request.reasoning_effort = budget <= 2048 ? "low" : budget <= 8192 ? "medium" : "high";
  } else if (!request.thinking_budget && !request.reasoning_effort.empty()) {
    const std::string& effort = request.reasoning_effort;
    if (effort == "low")
      request.thinking_budget = 1024;
    else if (effort == "medium")
      request.thinking_budget = 4096;
    else if (effort == "high")
      request.thinking_budget = 16384;
    else if (effort == "xhigh")
      request.thinking_budget = 24576;
  }
}

std::string encode_request(Protocol upstream, const Request& request,
                           std::string_view upstream_model, const core::ProviderConfig& provider) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return encode_messages_request(request, upstream_model, provider.default_max_tokens);
    case Protocol::gemini:
      return encode_gemini_request(request);
    case Protocol::openai_chat:
    case Protocol::openai_responses:
      break;
  }
  return encode_chat_request(request, upstream_model);
}

std::optional<core::Usage> extract_usage(Protocol protocol, std::string_view body) {
  switch (protocol) {
    case Protocol::anthropic_messages:
      return extract_messages_usage(body);
    case Protocol::openai_responses:
      return extract_responses_usage(body);
    case Protocol::gemini: {
      auto decoded = decode_gemini_response(body);
      if (!decoded) return std::nullopt;
      return decoded.value().usage;
    }
    case Protocol::openai_chat:
      break;
  }
  return core::extract_openai_usage(body);
}

Decoded<TranslatedBody> translate_response(Protocol client, Protocol upstream, std::string body,
                                           const Request* request, const AnswerDefaults& defaults) {
  if (client == upstream) {
    TranslatedBody same;
    same.usage = extract_usage(upstream, body);
    same.body = std::move(body);
    return same;
  }
  Decoded<Response> decoded = [&]() -> Decoded<Response> {
    switch (upstream) {
      case Protocol::anthropic_messages:
        return decode_messages_response(body);
      case Protocol::gemini:
        return decode_gemini_response(body);
      case Protocol::openai_chat:
      case Protocol::openai_responses:
        break;
    }
    return decode_chat_response(body);
  }();
  if (!decoded) return core::fail(unreadable_upstream_answer(decoded.error()));
  Response& response = decoded.value();
  if (response.model.empty()) response.model = defaults.upstream_model;
  if (response.created == 0) response.created = defaults.created;
  TranslatedBody out;
  out.usage = response.usage;
  switch (client) {
    case Protocol::anthropic_messages:
      out.body = encode_messages_response(response);
      break;
    case Protocol::openai_responses: {
      static const Request kNoRequest;
      out.body = encode_responses_response(response, request ? *request : kNoRequest);
      break;
    }
    case Protocol::openai_chat:
    case Protocol::gemini:
      out.body = encode_chat_response(response);
      break;
  }
  return out;
}

core::GatewayError decode_upstream_error(Protocol upstream, int status, std::string_view body) {
  switch (upstream) {
    case Protocol::anthropic_messages:
      return decode_messages_error(status, body);
    case Protocol::gemini:
      return decode_gemini_error(status, body);
    case Protocol::openai_chat:
    case Protocol::openai_responses:
      break;
  }
  return decode_chat_error(status, body);
}

std::pair<int, std::string> upstream_error_response(Protocol client, Protocol upstream, int status,
                                                    std::string_view body) {
  if (client == upstream && client != Protocol::anthropic_messages) {
    return {status, core::openai_error_body_from_upstream(status, body)};
  }
  if (client == upstream) {
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(body, ec);
    const auto* o = ec ? nullptr : v.if_object();
    const auto* type = o ? o->if_contains("type") : nullptr;
    if (type && type->is_string() && type->get_string() == "error" && o->contains("error")) {
      return {status, std::string(body)};
    }
  }
  const core::GatewayError error = decode_upstream_error(upstream, status, body);
  return {error_status_for(client, status), encode_error_body(client, error)};
}

std::string encode_error_body(Protocol client, const core::GatewayError& error) {
  if (client == Protocol::anthropic_messages) return to_anthropic_error_body(error);
  return core::to_openai_error_body(error);
}

int error_status_for(Protocol client, int status) {
  // 529 is Anthropic's "overloaded"; OpenAI clients know 503 for that.
  if (client != Protocol::anthropic_messages && status == 529) return 503;
  return status;
}

std::string encode_stream_error(Protocol client, const core::GatewayError& error) {
  switch (client) {
    case Protocol::anthropic_messages:
      return "event: error\ndata: " + to_anthropic_error_body(error) + "\n\n";
    case Protocol::openai_responses: {
      static const Request kNoRequest;
      std::string out;
      make_responses_stream_encoder("resp_error", "", 0, kNoRequest)->fail(error, out);
      return out;
    }
    case Protocol::openai_chat:
    case Protocol::gemini:
      break;
  }
  // The OpenAI SDKs raise an APIError on a chunk with a top-level "error".
  return "data: " + core::to_openai_error_body(error) + "\n\n";
}

core::GatewayError event_too_large_error(std::size_t max_event_bytes) {
  return core::bad_upstream_response(
      "The upstream provider sent a stream line or event longer than " +
          std::to_string(max_event_bytes) + " bytes (max_upstream_event_bytes).",
      "upstream_event_too_large");
}

core::GatewayError answer_too_large_error(std::size_t max_bytes) {
  return core::bad_upstream_response("The upstream provider's answer grew past " +
                                         std::to_string(max_bytes) +
                                         " bytes (max_upstream_body_bytes).",
                                     "upstream_response_too_large");
}

core::GatewayError stream_truncated_error() { return truncated_upstream_stream(); }

std::unique_ptr<StreamRelay> make_stream_relay(const StreamContext& context) {
  std::unique_ptr<StreamRelay> relay;
  if (context.client == context.upstream && context.client == Protocol::openai_chat) {
    relay = std::make_unique<ChatPassthroughRelay>(
        /*drop_usage_chunk=*/!context.client_wants_usage, context.max_event_bytes);
  } else if (context.client == context.upstream) {
    relay = std::make_unique<WatchingPassthroughRelay>(context.client, context.max_event_bytes);
  } else {
    relay = std::make_unique<TranslatingRelay>(context);
  }
  relay->track_answer_start_ = context.track_answer_start;
  return relay;
}

}  // namespace switchyard::adapters
