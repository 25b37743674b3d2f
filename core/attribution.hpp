#pragma once
// Who a request is attributed to in the ledger besides its key (issue 12): the end user the
// client names and the tags it sends (x-switchyard-tags, the protocol's metadata). Both are
// client-supplied, so what is kept is bounded.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::core {

inline constexpr std::size_t kMaxEndUserBytes = 256;
inline constexpr std::size_t kMaxTagBytes = 64;
inline constexpr std::size_t kMaxTagsPerSource = 32;

// Adds `tag`, spaces trimmed, unless it is empty, longer than kMaxTagBytes, holds a ',' (the
// admin API refuses those too: a tag list is comma-separated) or is in `tags` already.
bool add_tag(std::vector<std::string>& tags, std::string_view tag);

// Adds the tags of a comma-separated list ("a, b,c"), at most kMaxTagsPerSource of them.
void add_tag_list(std::vector<std::string>& tags, std::string_view list);

}  // namespace switchyard::core
