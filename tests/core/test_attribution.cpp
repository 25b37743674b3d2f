#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/attribution.hpp"

using switchyard::core::add_tag;
using switchyard::core::add_tag_list;

using Tags = std::vector<std::string>;

TEST_CASE("add_tag trims spaces and refuses empty, long, comma-holding and repeated tags",
          "[attribution]") {
  Tags tags{"team-a"};
  CHECK(add_tag(tags, "  ci "));
  CHECK_FALSE(add_tag(tags, "ci"));
  CHECK_FALSE(add_tag(tags, "team-a"));
  CHECK_FALSE(add_tag(tags, "   "));
  CHECK_FALSE(add_tag(tags, "a,b"));
  CHECK_FALSE(add_tag(tags, std::string(65, 'x')));
  CHECK(add_tag(tags, std::string(64, 'x')));
  CHECK(tags == Tags{"team-a", "ci", std::string(64, 'x')});
}

TEST_CASE("add_tag_list adds at most 32 new tags of a comma-separated list", "[attribution]") {
  Tags tags{"key-tag"};
  add_tag_list(tags, "key-tag, one,,two ,one");
  CHECK(tags == Tags{"key-tag", "one", "two"});

  std::string list;
  for (int i = 0; i < 40; ++i) list.append("t").append(std::to_string(i)).append(",");
  Tags many{"t0"};  // already there: not counted against the 32
  add_tag_list(many, list);
  REQUIRE(many.size() == 33);
  CHECK(many.back() == "t32");
}
