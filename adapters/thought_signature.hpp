#pragma once
// Gemini's thought signatures, carried through clients that have no field for them.
//
// Gemini 3 puts an opaque thoughtSignature on the first functionCall part of each step and
// rejects a later request whose history lacks it. OpenAI Chat, Responses and Anthropic
// Messages clients have nowhere to keep it, but they echo tool-call ids back verbatim, so the
// id a client sees is the call's own id, a marker, and the signature in base64url: only
// [A-Za-z0-9_-], which every client protocol accepts as an id (Anthropic's tool_use ids
// must match ^[a-zA-Z0-9_-]+$).
#include <string>
#include <string_view>

namespace switchyard::adapters {

// Google documents this value for history Gemini did not write itself (another model's turns,
// calls made up by the client): it skips the signature check for that part.
inline constexpr std::string_view kSkipThoughtSignature = "skip_thought_signature_validator";

// `id` carrying `signature`; `id` itself when there is no signature.
std::string id_with_thought_signature(std::string_view id, std::string_view signature);

struct SignedCallId {
  std::string id;         // the call's own id
  std::string signature;  // empty when the id carried none
};
// The reverse of id_with_thought_signature; an id without a well-formed signature (base64url
// of UTF-8 text, as every signature Gemini writes is) comes back whole with an empty signature.
SignedCallId split_thought_signature(std::string_view id);

// The call's own id, for providers that never see signatures (OpenAI caps ids at 40 chars).
std::string id_without_thought_signature(std::string_view id);

}  // namespace switchyard::adapters
