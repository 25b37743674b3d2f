#include "core/attribution.hpp"

#include <algorithm>

namespace switchyard::core {

namespace {

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

bool add_tag(std::vector<std::string>& tags, std::string_view tag) {
  tag = trim_spaces(tag);
  if (tag.empty() || tag.size() > kMaxTagBytes || tag.find(',') != std::string_view::npos)
    return false;
  if (std::find(tags.begin(), tags.end(), tag) != tags.end()) return false;
  tags.emplace_back(tag);
  return true;
}

void add_tag_list(std::vector<std::string>& tags, std::string_view list) {
  std::size_t added = 0;
  while (!list.empty() && added < kMaxTagsPerSource) {
    const std::size_t comma = list.find(',');
    if (add_tag(tags, list.substr(0, comma))) ++added;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace switchyard::core
