#pragma once
// OpenAI Responses (what current Codex speaks): the front-door codec. Requests are decoded
// to canonical form so they can go to any provider; answers are encoded as a Responses
// object or as its event stream. Freeform ("custom") tools, such as Codex's apply_patch,
// travel to other providers as a function with one string parameter, "input", and come back
// as custom_tool_call items.
#include <memory>
#include <string>
#include <string_view>

#include "adapters/codec.hpp"

namespace switchyard::adapters {

Decoded<Request> decode_responses_request(std::string_view body);
// `request` is the decoded client request (its freeform tools decide the item types).
std::string encode_responses_response(const Response& response, const Request& request);

// response.created, in_progress, output_item.added/done (complete items), content_part and
// output_text deltas, function_call_arguments deltas, and response.completed with the
// response id and integer usage; every event has `event:` and an increasing sequence_number.
// Errors become response.failed. The response names the start event's model (the
// upstream's), else `model`.
std::unique_ptr<StreamEncoder> make_responses_stream_encoder(const std::string& id,
                                                             std::string model,
                                                             std::int64_t created,
                                                             const Request& request);

// Usage of a Responses object or of a response.completed event, for pass-through streams.
std::optional<core::Usage> extract_responses_usage(std::string_view json);

}  // namespace switchyard::adapters
