#include "core/mock_reply.hpp"

#include "core/chat_request.hpp"

namespace switchyard::core {

MockReply::MockReply(const MockSettings& settings, std::string_view model, std::string_view id,
                     std::int64_t created, std::size_t prompt_bytes)
    : model_(model), id_(id), created_(created) {
  const std::string& text = settings.reply;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t space = text.find(' ', start);
    std::size_t end = space == std::string::npos ? text.size() : space + 1;
    tokens_.emplace_back(text.substr(start, end - start));
    start = end;
  }
  usage_.prompt_tokens = static_cast<std::int64_t>(prompt_bytes / 4 + 1);
  usage_.completion_tokens = static_cast<std::int64_t>(tokens_.size());
}

std::string MockReply::usage_json() const {
  const Usage& u = usage_;
  return "{\"prompt_tokens\":" + std::to_string(u.prompt_tokens) +
         ",\"completion_tokens\":" + std::to_string(u.completion_tokens) +
         ",\"total_tokens\":" + std::to_string(u.prompt_tokens + u.completion_tokens) +
         ",\"prompt_tokens_details\":{\"cached_tokens\":" + std::to_string(u.cached_prompt_tokens) +
         "},\"completion_tokens_details\":{\"reasoning_tokens\":" +
         std::to_string(u.reasoning_tokens) + "}}";
}

std::string MockReply::completion_json() const {
  std::string text;
  for (const auto& t : tokens_) text += t;
  std::string out = "{\"id\":";
  append_json_string(out, id_);
  out += ",\"object\":\"chat.completion\",\"created\":" + std::to_string(created_) + ",\"model\":";
  append_json_string(out, model_);
  out += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
  append_json_string(out, text);
  out += ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":";
  out += usage_json();
  out += "}";
  return out;
}

std::string MockReply::chunk_prefix() const {
  std::string out = "data: {\"id\":";
  append_json_string(out, id_);
  out += ",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(created_) +
         ",\"model\":";
  append_json_string(out, model_);
  return out;
}

std::string MockReply::role_event() const {
  return chunk_prefix() +
         ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
         "\"logprobs\":null,\"finish_reason\":null}]}\n\n";
}

std::string MockReply::token_event(std::size_t i) const {
  std::string out = chunk_prefix() + ",\"choices\":[{\"index\":0,\"delta\":{\"content\":";
  append_json_string(out, tokens_.at(i));
  out += "},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
  return out;
}

std::string MockReply::finish_event() const {
  return chunk_prefix() +
         ",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}"
         "\n\n";
}

std::string MockReply::usage_event() const {
  return chunk_prefix() + ",\"choices\":[],\"usage\":" + usage_json() + "}\n\n";
}

}  // namespace switchyard::core
