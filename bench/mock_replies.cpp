#include "bench/mock_replies.hpp"

#include <algorithm>
#include <ctime>

#include "bench/json_text.hpp"

namespace switchyard::bench {
namespace {

constexpr std::string_view kToolCallId = "call_mock_1";
constexpr std::string_view kAnthropicToolId = "toolu_mock_1";

// The reply text as content pieces: `mock.text` split on words, else "tok<i> ".
class TextPieces {
 public:
  explicit TextPieces(const Plan& plan) : plan_(plan) {
    if (plan.text && plan.chunks > 0) pieces_ = split_words(*plan.text, plan.chunks);
  }

  // Piece i as a JSON string.
  void append(std::string& out, int i) const {
    if (plan_.text) {
      append_json_string(out, pieces_[static_cast<std::size_t>(i)]);
      return;
    }
    out += "\"tok";
    append_int(out, i);
    out += " \"";
  }

  std::string full() const {
    if (plan_.text) return plan_.chunks > 0 ? *plan_.text : std::string();
    std::string out;
    for (int i = 0; i < plan_.chunks; ++i) {
      out += "tok";
      append_int(out, i);
      out.push_back(' ');
    }
    return out;
  }

 private:
  const Plan& plan_;
  std::vector<std::string_view> pieces_;
};

std::vector<std::string_view> argument_pieces(const Plan& plan) {
  if (!plan.tool_call) return {};
  return split_even(plan.tool_call->arguments, plan.chunks);
}

std::string_view openai_type(int status) {
  if (status == 401) return "authentication_error";
  if (status == 403) return "permission_error";
  if (status == 404) return "not_found_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

// The error shape a real provider would send for this status, so a gateway's status mapping and
// retry classification are exercised with realistic bodies.
std::string openai_fault_json(int status, std::string_view message) {
  std::string_view code = "invalid_request";
  if (status == 401) {
    code = "invalid_api_key";
  } else if (status == 403) {
    code = "permission_denied";
  } else if (status == 404) {
    code = "model_not_found";
  } else if (status == 429) {
    code = "rate_limit_exceeded";
  } else if (status >= 500) {
    code = "server_error";
  }
  return openai_error_json(message, openai_type(status), code);
}

std::string_view anthropic_type(int status) {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 409:
      return "conflict_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 504:
      return "timeout_error";
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

std::string_view google_status(int status) {
  switch (status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ABORTED";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 499:
      return "CANCELLED";
    case 500:
      return "INTERNAL";
    case 501:
      return "NOT_IMPLEMENTED";
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
  }
}

std::string anthropic_error_json(int status, std::string_view message) {
  std::string out = R"({"type":"error","error":{"type":)";
  append_json_string(out, anthropic_type(status));
  out += R"(,"message":)";
  append_json_string(out, message);
  out += "}}";
  return out;
}

std::string google_error_json(int status, std::string_view message) {
  std::string out = R"({"error":{"code":)";
  append_int(out, status);
  out += R"(,"message":)";
  append_json_string(out, message);
  out += R"(,"status":)";
  append_json_string(out, google_status(status));
  out += "}}";
  return out;
}

std::int64_t clamp0(std::int64_t v) { return std::max<std::int64_t>(v, 0); }

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions (OpenAI's API reference), also Azure's. Every chunk of a stream shares
// the id and created prefix.

class ChatReply final : public Reply {
 public:
  ChatReply(const Plan& plan, std::uint64_t id)
      : plan_(plan), text_(plan), args_(argument_pieces(plan)) {
    head_ = R"({"id":"chatcmpl-mock-)";
    append_int(head_, id);
    head_ += R"(","object":")";
    head_ += plan.stream ? "chat.completion.chunk" : "chat.completion";
    head_ += R"(","created":)";
    append_int(head_, static_cast<std::int64_t>(std::time(nullptr)));
    head_ += R"(,"model":)";
    append_json_string(head_, plan.model);
    head_ += R"(,"choices":[)";
  }

  bool head_event(int k, std::string& out) const override {
    if (k != 0) return false;
    open_event(out);
    if (plan_.tool_call) {
      // id and name once, on the first fragment; the arguments follow in pieces.
      out +=
          R"({"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":")";
      out += kToolCallId;
      out += R"(","type":"function","function":{"name":)";
      append_json_string(out, plan_.tool_call->name);
      out += R"(,"arguments":""}}]},"logprobs":null,"finish_reason":null}])";
    } else {
      out +=
          R"({"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}])";
    }
    close_event(out);
    return true;
  }

  int piece_count() const override {
    return plan_.tool_call ? static_cast<int>(args_.size()) : plan_.chunks;
  }

  void piece_event(int i, std::string& out) const override {
    open_event(out);
    if (plan_.tool_call) {
      out += R"({"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":)";
      append_json_string(out, args_[static_cast<std::size_t>(i)]);
      out += R"(}}]},"logprobs":null,"finish_reason":null}])";
    } else {
      out += R"({"index":0,"delta":{"content":)";
      text_.append(out, i);
      out += R"(},"logprobs":null,"finish_reason":null}])";
    }
    close_event(out);
  }

  bool tail_event(int k, std::string& out) const override {
    if (k == 0) {
      open_event(out);
      out += R"({"index":0,"delta":{},"logprobs":null,"finish_reason":")";
      out += plan_.tool_call ? "tool_calls" : "stop";
      out += R"("}])";
      close_event(out);
      return true;
    }
    if (k == 1 && plan_.include_usage) {
      open_event(out);
      out += R"(],"usage":)";
      usage(out);
      out += "}\n\n";
      return true;
    }
    if (k == (plan_.include_usage ? 2 : 1)) {
      out.assign("data: [DONE]\n\n");
      return true;
    }
    return false;
  }

  void error_event(int, std::string& out) const override {
    // openai-node throws on a chunk whose top-level "error" is truthy.
    out.assign("data: ");
    out += openai_fault_json(plan_.status, "mock stream error");
    out += "\n\n";
  }

  std::string json_body() const override {
    std::string out = head_;
    if (plan_.tool_call) {
      out += R"({"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":")";
      out += kToolCallId;
      out += R"(","type":"function","function":{"name":)";
      append_json_string(out, plan_.tool_call->name);
      out += R"(,"arguments":)";
      append_json_string(out, plan_.tool_call->arguments);
      out += R"(}}],"refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],"usage":)";
    } else {
      out += R"({"index":0,"message":{"role":"assistant","content":)";
      append_json_string(out, text_.full());
      out += R"(,"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":)";
    }
    usage(out);
    out += "}";
    return out;
  }

 private:
  void usage(std::string& out) const {
    out += R"({"prompt_tokens":)";
    append_int(out, plan_.prompt_tokens);
    out += R"(,"completion_tokens":)";
    append_int(out, plan_.completion());
    out += R"(,"total_tokens":)";
    append_int(out, plan_.prompt_tokens + plan_.completion());
    out += R"(,"prompt_tokens_details":{"cached_tokens":)";
    append_int(out, plan_.cached_tokens);
    if (plan_.cache_creation_tokens > 0) {
      out += R"(,"cache_write_tokens":)";
      append_int(out, plan_.cache_creation_tokens);
    }
    out += R"(},"completion_tokens_details":{"reasoning_tokens":)";
    append_int(out, plan_.reasoning_tokens);
    out += "}}";
  }

  void open_event(std::string& out) const {
    out.clear();
    out += "data: ";
    out += head_;
  }
  void close_event(std::string& out) const {
    if (plan_.include_usage) out += R"(,"usage":null)";
    out += "}\n\n";
  }

  const Plan& plan_;
  TextPieces text_;
  std::vector<std::string_view> args_;
  std::string head_;  // `{"id":...,"choices":[`
};

// ---------------------------------------------------------------------------------------------
// Anthropic Messages (Anthropic's reference): event: lines on every frame, one content block at
// index 0, usage with input_tokens excluding cache reads and writes.

class AnthropicReply final : public Reply {
 public:
  AnthropicReply(const Plan& plan, std::uint64_t id)
      : plan_(plan), text_(plan), args_(argument_pieces(plan)) {
    prefix_ = R"({"id":"msg_mock_)";
    append_int(prefix_, id);
    prefix_ += R"(","type":"message","role":"assistant","model":)";
    append_json_string(prefix_, plan.model);
    prefix_ += R"(,"content":)";
  }

  bool head_event(int k, std::string& out) const override {
    if (k == 0) {
      open(out, "message_start");
      out += R"({"type":"message_start","message":)";
      out += prefix_;
      out += R"([],"stop_reason":null,"stop_sequence":null,"usage":)";
      input_usage(out);
      out += R"(,"output_tokens":1,"service_tier":"standard"}}})";
      out += "\n\n";
      return true;
    }
    if (k == 1) {
      open(out, "content_block_start");
      out += R"({"type":"content_block_start","index":0,"content_block":)";
      if (plan_.tool_call) {
        out += R"({"type":"tool_use","id":")";
        out += kAnthropicToolId;
        out += R"(","name":)";
        append_json_string(out, plan_.tool_call->name);
        out += R"(,"input":{}}})";
      } else {
        out += R"({"type":"text","text":""}})";
      }
      out += "\n\n";
      return true;
    }
    if (k == 2) {
      open(out, "ping");
      out += R"({"type":"ping"})";
      out += "\n\n";
      return true;
    }
    return false;
  }

  int piece_count() const override {
    return plan_.tool_call ? static_cast<int>(args_.size()) : plan_.chunks;
  }

  void piece_event(int i, std::string& out) const override {
    open(out, "content_block_delta");
    out += R"({"type":"content_block_delta","index":0,"delta":)";
    if (plan_.tool_call) {
      out += R"({"type":"input_json_delta","partial_json":)";
      append_json_string(out, args_[static_cast<std::size_t>(i)]);
    } else {
      out += R"({"type":"text_delta","text":)";
      text_.append(out, i);
    }
    out += "}}\n\n";
  }

  bool tail_event(int k, std::string& out) const override {
    if (k == 0) {
      open(out, "content_block_stop");
      out += R"({"type":"content_block_stop","index":0})";
      out += "\n\n";
      return true;
    }
    if (k == 1) {
      // Cumulative usage: the input side again, so a client that only reads the last
      // message_delta still sees the whole count.
      open(out, "message_delta");
      out += R"({"type":"message_delta","delta":{"stop_reason":")";
      out += stop_reason();
      out += R"(","stop_sequence":null},"usage":)";
      input_usage(out);
      out += R"(,"output_tokens":)";
      append_int(out, plan_.completion());
      out += "}}\n\n";
      return true;
    }
    if (k == 2) {
      open(out, "message_stop");
      out += R"({"type":"message_stop"})";
      out += "\n\n";
      return true;
    }
    return false;
  }

  void error_event(int, std::string& out) const override {
    open(out, "error");
    out += anthropic_error_json(plan_.status, "mock stream error");
    out += "\n\n";
  }

  std::string json_body() const override {
    std::string out = prefix_;
    if (plan_.tool_call) {
      out += R"([{"type":"tool_use","id":")";
      out += kAnthropicToolId;
      out += R"(","name":)";
      append_json_string(out, plan_.tool_call->name);
      out += R"(,"input":)";
      out += plan_.tool_call->arguments;
      out += "}]";
    } else {
      out += R"([{"type":"text","text":)";
      append_json_string(out, text_.full());
      out += "}]";
    }
    out += R"(,"stop_reason":")";
    out += stop_reason();
    out += R"(","stop_sequence":null,"usage":)";
    input_usage(out);
    out += R"(,"output_tokens":)";
    append_int(out, plan_.completion());
    out += R"(,"service_tier":"standard"}})";
    return out;
  }

 private:
  std::string_view stop_reason() const { return plan_.tool_call ? "tool_use" : "end_turn"; }

  static void open(std::string& out, std::string_view event) {
    out.assign("event: ");
    out += event;
    out += "\ndata: ";
  }

  // `{"input_tokens":..,"cache_creation_input_tokens":..,"cache_read_input_tokens":..` (open).
  void input_usage(std::string& out) const {
    out += R"({"input_tokens":)";
    append_int(out,
               clamp0(plan_.prompt_tokens - plan_.cached_tokens - plan_.cache_creation_tokens));
    out += R"(,"cache_creation_input_tokens":)";
    append_int(out, plan_.cache_creation_tokens);
    out += R"(,"cache_read_input_tokens":)";
    append_int(out, plan_.cached_tokens);
  }

  const Plan& plan_;
  TextPieces text_;
  std::vector<std::string_view> args_;
  std::string prefix_;  // the message object up to `"content":`
};

// ---------------------------------------------------------------------------------------------
// OpenAI Responses (OpenAI's reference): event: lines matching "type", sequence_number on every
// event, one output item at index 0.

class ResponsesReply final : public Reply {
 public:
  ResponsesReply(const Plan& plan, std::uint64_t id)
      : plan_(plan), text_(plan), args_(argument_pieces(plan)) {
    response_id_ = "resp_mock_";
    append_int(response_id_, id);
    item_id_ = plan.tool_call ? "fc_mock_" : "msg_mock_";
    append_int(item_id_, id);
    created_at_ = static_cast<std::int64_t>(std::time(nullptr));
    head_count_ = plan.tool_call ? 3 : 4;
  }

  bool head_event(int k, std::string& out) const override {
    if (k >= head_count_) return false;
    if (k == 0 || k == 1) {
      const std::string_view type = k == 0 ? "response.created" : "response.in_progress";
      open(out, type);
      out += R"(,"response":)";
      response(out, "in_progress", false);
    } else if (k == 2) {
      open(out, "response.output_item.added");
      out += R"(,"output_index":0,"item":)";
      item(out, false);
    } else {
      open(out, "response.content_part.added");
      out += R"(,"item_id":)";
      append_json_string(out, item_id_);
      out +=
          R"(,"output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]})";
    }
    close(out, k);
    return true;
  }

  int piece_count() const override {
    return plan_.tool_call ? static_cast<int>(args_.size()) : plan_.chunks;
  }

  void piece_event(int i, std::string& out) const override {
    if (plan_.tool_call) {
      open(out, "response.function_call_arguments.delta");
      out += R"(,"item_id":)";
      append_json_string(out, item_id_);
      out += R"(,"output_index":0,"delta":)";
      append_json_string(out, args_[static_cast<std::size_t>(i)]);
    } else {
      open(out, "response.output_text.delta");
      out += R"(,"item_id":)";
      append_json_string(out, item_id_);
      out += R"(,"output_index":0,"content_index":0,"delta":)";
      text_.append(out, i);
    }
    close(out, head_count_ + i);
  }

  bool tail_event(int k, std::string& out) const override {
    const int seq = head_count_ + piece_count() + k;
    // Text: output_text.done, content_part.done; tool: function_call_arguments.done. Then both:
    // output_item.done, response.completed.
    const int own = plan_.tool_call ? 1 : 2;
    if (k < own) {
      if (plan_.tool_call) {
        open(out, "response.function_call_arguments.done");
        out += R"(,"item_id":)";
        append_json_string(out, item_id_);
        out += R"(,"output_index":0,"name":)";
        append_json_string(out, plan_.tool_call->name);
        out += R"(,"arguments":)";
        append_json_string(out, plan_.tool_call->arguments);
      } else if (k == 0) {
        open(out, "response.output_text.done");
        out += R"(,"item_id":)";
        append_json_string(out, item_id_);
        out += R"(,"output_index":0,"content_index":0,"text":)";
        append_json_string(out, text_.full());
      } else {
        open(out, "response.content_part.done");
        out += R"(,"item_id":)";
        append_json_string(out, item_id_);
        out += R"(,"output_index":0,"content_index":0,"part":)";
        text_part(out);
      }
    } else if (k == own) {
      open(out, "response.output_item.done");
      out += R"(,"output_index":0,"item":)";
      item(out, true);
    } else if (k == own + 1) {
      open(out, "response.completed");
      out += R"(,"response":)";
      response(out, "completed", true);
    } else {
      return false;
    }
    close(out, seq);
    return true;
  }

  void error_event(int pieces_sent, std::string& out) const override {
    // response.failed is what Codex reads (an "error" event alone it ignores).
    open(out, "response.failed");
    out += R"(,"response":{"id":)";
    append_json_string(out, response_id_);
    out += R"(,"object":"response","created_at":)";
    append_int(out, created_at_);
    out += R"(,"status":"failed","error":{"code":)";
    append_json_string(out, plan_.status == 429 ? "rate_limit_exceeded" : "server_error");
    out += R"(,"message":"mock stream error"},"incomplete_details":null,"model":)";
    append_json_string(out, plan_.model);
    out += R"(,"output":[],"usage":null})";
    close(out, head_count_ + pieces_sent);
  }

  std::string json_body() const override {
    std::string out;
    response(out, "completed", true);
    return out;
  }

 private:
  static void open(std::string& out, std::string_view type) {
    out.assign("event: ");
    out += type;
    out += "\ndata: {\"type\":\"";
    out += type;
    out += '"';
  }
  static void close(std::string& out, int sequence) {
    out += R"(,"sequence_number":)";
    append_int(out, sequence);
    out += "}\n\n";
  }

  void text_part(std::string& out) const {
    out += R"({"type":"output_text","text":)";
    append_json_string(out, text_.full());
    out += R"(,"annotations":[]})";
  }

  void item(std::string& out, bool done) const {
    out += R"({"id":)";
    append_json_string(out, item_id_);
    if (plan_.tool_call) {
      out += R"(,"type":"function_call","status":)";
      out += done ? R"("completed")" : R"("in_progress")";
      out += R"(,"call_id":")";
      out += kToolCallId;
      out += R"(","name":)";
      append_json_string(out, plan_.tool_call->name);
      out += R"(,"arguments":)";
      append_json_string(out, done ? std::string_view(plan_.tool_call->arguments) : "");
      out += "}";
    } else {
      out += R"(,"type":"message","status":)";
      out += done ? R"("completed")" : R"("in_progress")";
      out += R"(,"role":"assistant","content":[)";
      if (done) text_part(out);
      out += "]}";
    }
  }

  void response(std::string& out, std::string_view status, bool done) const {
    out += R"({"id":)";
    append_json_string(out, response_id_);
    out += R"(,"object":"response","created_at":)";
    append_int(out, created_at_);
    out += R"(,"status":)";
    append_json_string(out, status);
    out += R"(,"error":null,"incomplete_details":null,"model":)";
    append_json_string(out, plan_.model);
    out += R"(,"output":[)";
    if (done) item(out, true);
    out += R"(],"usage":)";
    if (done) {
      out += R"({"input_tokens":)";
      append_int(out, plan_.prompt_tokens);
      out += R"(,"input_tokens_details":{"cached_tokens":)";
      append_int(out, plan_.cached_tokens);
      if (plan_.cache_creation_tokens > 0) {
        out += R"(,"cache_write_tokens":)";
        append_int(out, plan_.cache_creation_tokens);
      }
      out += R"(},"output_tokens":)";
      append_int(out, plan_.completion());
      out += R"(,"output_tokens_details":{"reasoning_tokens":)";
      append_int(out, plan_.reasoning_tokens);
      out += R"(},"total_tokens":)";
      append_int(out, plan_.prompt_tokens + plan_.completion());
      out += "}}";
    } else {
      out += "null}";
    }
  }

  const Plan& plan_;
  TextPieces text_;
  std::vector<std::string_view> args_;
  std::string response_id_;
  std::string item_id_;
  std::int64_t created_at_ = 0;
  int head_count_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Gemini generateContent / streamGenerateContent?alt=sse (Google's API reference): data-only
// events, no terminator; the last chunk carries finishReason and the full usageMetadata.

class GeminiReply final : public Reply {
 public:
  GeminiReply(const Plan& plan, std::uint64_t id) : plan_(plan), text_(plan) {
    suffix_ = R"(,"modelVersion":)";
    append_json_string(suffix_, plan.model);
    suffix_ += R"(,"responseId":"mock-resp-)";
    append_int(suffix_, id);
    suffix_ += "\"}";
  }

  bool head_event(int, std::string&) const override { return false; }

  // A functionCall arrives whole, in one part.
  int piece_count() const override { return plan_.tool_call ? 1 : plan_.chunks; }

  void piece_event(int i, std::string& out) const override {
    out.assign("data: ");
    open_candidate(out);
    if (plan_.tool_call) {
      function_call(out);
    } else {
      out += R"({"text":)";
      text_.append(out, i);
      out += "}";
    }
    // Intermediate chunks carry partial usage only; clients must take the last chunk's.
    out += R"(],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":)";
    append_int(out, plan_.prompt_tokens);
    out += R"(,"totalTokenCount":)";
    append_int(out, plan_.prompt_tokens);
    out += "}";
    out += suffix_;
    out += "\n\n";
  }

  bool tail_event(int k, std::string& out) const override {
    if (k != 0) return false;
    // The finishing chunk is separate (and STOP even after a functionCall), as newer models do.
    out.assign("data: ");
    open_candidate(out);
    out += R"({"text":""})";
    finish(out);
    out += "\n\n";
    return true;
  }

  void error_event(int, std::string& out) const override {
    out.assign("data: ");
    out += google_error_json(plan_.status, "mock stream error");
    out += "\n\n";
  }

  std::string json_body() const override {
    std::string out;
    open_candidate(out);
    if (plan_.tool_call) {
      function_call(out);
    } else {
      out += R"({"text":)";
      append_json_string(out, text_.full());
      out += "}";
    }
    finish(out);
    return out;
  }

 private:
  static void open_candidate(std::string& out) { out += R"({"candidates":[{"content":{"parts":[)"; }

  void function_call(std::string& out) const {
    out += R"({"functionCall":{"name":)";
    append_json_string(out, plan_.tool_call->name);
    out += R"(,"args":)";
    out += plan_.tool_call->arguments;
    out += "}}";
  }

  // Closes the parts and the candidate with finishReason, then the full usageMetadata.
  void finish(std::string& out) const {
    out +=
        R"(],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":)";
    append_int(out, plan_.prompt_tokens);
    out += R"(,"candidatesTokenCount":)";
    append_int(out, clamp0(plan_.completion() - plan_.reasoning_tokens));
    out += R"(,"totalTokenCount":)";
    append_int(out, plan_.prompt_tokens + plan_.completion());
    // Gemini leaves zero counts out.
    if (plan_.cached_tokens > 0) {
      out += R"(,"cachedContentTokenCount":)";
      append_int(out, plan_.cached_tokens);
    }
    if (plan_.reasoning_tokens > 0) {
      out += R"(,"thoughtsTokenCount":)";
      append_int(out, plan_.reasoning_tokens);
    }
    out += "}";
    out += suffix_;
  }

  const Plan& plan_;
  TextPieces text_;
  std::string suffix_;  // `,"modelVersion":..,"responseId":..}`
};

// Deterministic pseudo-random bits: FNV-1a of the text, mixed per dimension (splitmix64).
std::uint64_t text_hash(std::string_view text) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// v/1000 with three decimals, exactly: no floating point formatting involved.
void append_millis(std::string& out, std::int64_t v) {
  if (v < 0) {
    out.push_back('-');
    v = -v;
  }
  append_int(out, v / 1000);
  out.push_back('.');
  const auto frac = static_cast<int>(v % 1000);
  out.push_back(static_cast<char>('0' + frac / 100));
  out.push_back(static_cast<char>('0' + frac / 10 % 10));
  out.push_back(static_cast<char>('0' + frac % 10));
}

}  // namespace

std::unique_ptr<Reply> make_reply(Protocol protocol, const Plan& plan, std::uint64_t id) {
  switch (protocol) {
    case Protocol::kAnthropic:
      return std::make_unique<AnthropicReply>(plan, id);
    case Protocol::kResponses:
      return std::make_unique<ResponsesReply>(plan, id);
    case Protocol::kGemini:
      return std::make_unique<GeminiReply>(plan, id);
    default:
      return std::make_unique<ChatReply>(plan, id);
  }
}

std::string openai_error_json(std::string_view message, std::string_view type,
                              std::string_view code) {
  std::string out = R"({"error":{"message":)";
  append_json_string(out, message);
  out += R"(,"type":)";
  append_json_string(out, type);
  out += R"(,"param":null,"code":)";
  if (code.empty()) {
    out += "null";
  } else {
    append_json_string(out, code);
  }
  out += "}}";
  return out;
}

std::string error_body(Protocol protocol, int status, std::string_view message) {
  switch (protocol) {
    case Protocol::kAnthropic:
    case Protocol::kAnthropicCountTokens:
      return anthropic_error_json(status, message);
    case Protocol::kGemini:
      return google_error_json(status, message);
    default:
      return openai_error_json(message, openai_type(status), "");
  }
}

std::string fault_body(Protocol protocol, int status) {
  switch (protocol) {
    case Protocol::kAnthropic:
    case Protocol::kAnthropicCountTokens:
    case Protocol::kGemini:
      return error_body(protocol, status, "mock fault");
    default:
      return openai_fault_json(status, "mock fault");
  }
}

std::string_view context_length_body(Protocol protocol) {
  switch (protocol) {
    case Protocol::kAnthropic:
    case Protocol::kAnthropicCountTokens:
      return R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}})";
    case Protocol::kGemini:
      return R"({"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}})";
    default:
      return R"({"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})";
  }
}

std::string embeddings_json(const Plan& plan, const std::vector<std::string>& inputs,
                            int dimensions) {
  std::string out = R"({"object":"list","data":[)";
  std::int64_t tokens = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += R"({"object":"embedding","index":)";
    append_int(out, i);
    out += R"(,"embedding":[)";
    const std::uint64_t h = text_hash(inputs[i]);
    for (int d = 0; d < dimensions; ++d) {
      if (d > 0) out.push_back(',');
      append_millis(
          out, static_cast<std::int64_t>(mix(h + static_cast<std::uint64_t>(d)) % 2001) - 1000);
    }
    out += "]}";
    tokens += std::max<std::int64_t>(1, static_cast<std::int64_t>((inputs[i].size() + 3) / 4));
  }
  if (plan.prompt_tokens_set) tokens = plan.prompt_tokens;
  out += R"(],"model":)";
  append_json_string(out, plan.model);
  out += R"(,"usage":{"prompt_tokens":)";
  append_int(out, tokens);
  out += R"(,"total_tokens":)";
  append_int(out, tokens);
  out += "}}";
  return out;
}

std::string count_tokens_json(std::size_t text_chars) {
  std::string out = R"({"input_tokens":)";
  append_int(out, (text_chars + 3) / 4);
  out += "}";
  return out;
}

}  // namespace switchyard::bench
