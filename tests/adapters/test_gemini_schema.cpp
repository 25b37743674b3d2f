// Tool schemas as coding agents declare them, through the Gemini codec: Gemini answers 400 to
// any keyword outside its Schema subset, so every declaration must use only those keywords,
// and keep what the agent said about its parameters.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "adapters/anthropic.hpp"
#include "adapters/gemini.hpp"
#include "adapters/gemini_schema.hpp"
#include "adapters/responses.hpp"
#include "tests/adapters/canonical_builders.hpp"

namespace json = boost::json;
using namespace switchyard;
using namespace switchyard::adapters;

namespace {

// Gemini's Schema object (functionDeclarations[].parameters), as documented.
const std::set<std::string, std::less<>> kGeminiKeywords = {
    "type",      "format",    "title",      "description", "nullable",      "enum",
    "maxItems",  "minItems",  "properties", "required",    "minProperties", "maxProperties",
    "minLength", "maxLength", "pattern",    "example",     "anyOf",         "propertyOrdering",
    "default",   "items",     "minimum",    "maximum"};

const std::set<std::string, std::less<>> kGeminiTypes = {"string",  "number", "integer",
                                                         "boolean", "array",  "object"};

// Every reason Gemini would refuse `schema`, with where it is.
void gemini_refusals(const json::value& schema, const std::string& at,
                     std::vector<std::string>& out) {
  const json::object* s = schema.if_object();
  if (!s) {
    out.push_back(at + ": not an object");
    return;
  }
  for (const auto& kv : *s) {
    if (!kGeminiKeywords.contains(kv.key()))
      out.push_back(at + ": keyword " + std::string(kv.key()));
  }
  const json::value* type = s->if_contains("type");
  const json::value* any_of = s->if_contains("anyOf");
  if (!type && !any_of) out.push_back(at + ": neither type nor anyOf");
  std::string t;
  if (type) {
    if (!type->is_string() || !kGeminiTypes.contains(type->get_string())) {
      out.push_back(at + ": type " + json::serialize(*type));
    } else {
      t = std::string(type->get_string());
    }
  }
  if (any_of) {
    if (!any_of->is_array() || any_of->get_array().empty()) {
      out.push_back(at + ": anyOf must be a non-empty array");
    } else {
      for (std::size_t i = 0; i < any_of->get_array().size(); ++i)
        gemini_refusals(any_of->get_array()[i], at + ".anyOf[" + std::to_string(i) + "]", out);
    }
  }
  if (const json::value* p = s->if_contains("properties")) {
    if (t != "object") out.push_back(at + ": properties on type " + t);
    if (!p->is_object() || p->get_object().empty()) {
      out.push_back(at + ": properties must be a non-empty object");
    } else {
      for (const auto& kv : p->get_object())
        gemini_refusals(kv.value(), at + ".properties." + std::string(kv.key()), out);
    }
  }
  if (const json::value* r = s->if_contains("required")) {
    const json::value* p = s->if_contains("properties");
    for (const json::value& name : r->as_array()) {
      if (!name.is_string() || !p || !p->as_object().contains(name.get_string()))
        out.push_back(at + ": required " + json::serialize(name) + " is not a property");
    }
  }
  if (const json::value* e = s->if_contains("enum")) {
    for (const json::value& v : e->as_array()) {
      if (!v.is_string()) out.push_back(at + ": enum value " + json::serialize(v));
    }
  }
  if (t == "array" && !s->contains("items")) out.push_back(at + ": array without items");
  if (const json::value* items = s->if_contains("items")) {
    if (t != "array") out.push_back(at + ": items on type " + t);
    gemini_refusals(*items, at + ".items", out);
  }
  if (const json::value* f = s->if_contains("format")) {
    const std::string format = json::serialize(*f);
    const bool known = (t == "string" && (format == "\"date-time\"" || format == "\"enum\"")) ||
                       (t == "integer" && (format == "\"int32\"" || format == "\"int64\"")) ||
                       (t == "number" && (format == "\"float\"" || format == "\"double\""));
    if (!known) out.push_back(at + ": format " + format + " on type " + t);
  }
}

std::vector<std::string> refusals_of(const json::value& schema) {
  std::vector<std::string> out;
  gemini_refusals(schema, "parameters", out);
  return out;
}

// What the agent said that must survive: every property, every required name, every string
// enum and every description, wherever the source schema is plain enough to follow.
void check_kept(const json::object& source, const json::object& converted, const std::string& at) {
  INFO(at);
  if (const json::value* d = source.if_contains("description"); d && d->is_string()) {
    REQUIRE(converted.contains("description"));
    CHECK(std::string(converted.at("description").as_string())
              .starts_with(std::string(d->get_string())));
  }
  const json::value* type = source.if_contains("type");
  if (!type || !type->is_string() || source.contains("$ref") || source.contains("anyOf") ||
      source.contains("oneOf"))
    return;
  if (const json::value* e = source.if_contains("enum")) CHECK(converted.at("enum") == *e);
  if (const json::value* p = source.if_contains("properties")) {
    for (const auto& kv : p->as_object()) {
      REQUIRE(converted.contains("properties"));
      const json::object& mine = converted.at("properties").as_object();
      REQUIRE(mine.contains(kv.key()));
      check_kept(kv.value().as_object(), mine.at(kv.key()).as_object(),
                 at + "." + std::string(kv.key()));
    }
  }
  if (const json::value* r = source.if_contains("required")) {
    for (const json::value& name : r->as_array()) {
      REQUIRE(converted.contains("required"));
      const json::array& mine = converted.at("required").as_array();
      CHECK(std::find(mine.begin(), mine.end(), name) != mine.end());
    }
  }
  if (const json::value* items = source.if_contains("items"); items && items->is_object())
    check_kept(items->as_object(), converted.at("items").as_object(), at + "[]");
}

json::array declarations(const Request& request) {
  const json::value encoded = json::parse(encode_gemini_request(request));
  return encoded.at("tools").at(0).at("functionDeclarations").as_array();
}

void check_agent_tools(const Request& request, const std::vector<json::object>& sources) {
  const json::array decls = declarations(request);
  REQUIRE(decls.size() == request.tools.size());
  for (std::size_t i = 0; i < decls.size(); ++i) {
    const json::object& d = decls[i].as_object();
    INFO("tool " << d.at("name").as_string());
    REQUIRE(d.contains("parameters"));
    const std::vector<std::string> refusals = refusals_of(d.at("parameters"));
    for (const std::string& r : refusals) UNSCOPED_INFO(r);
    CHECK(refusals.empty());
    CHECK(d.at("parameters").at("type") == "object");
    if (i < sources.size() && !sources[i].empty())
      check_kept(sources[i], d.at("parameters").as_object(), "parameters");
  }
  // Deterministic: the same tools give the same bytes, so prompt caches keep hitting.
  CHECK(encode_gemini_request(request) == encode_gemini_request(request));
}

}  // namespace

TEST_CASE("Claude Code's tool declarations become schemas Gemini accepts", "[gemini][schema]") {
  const std::string body = test::fixture("adapters/gemini/claude_code_tools_request.json");
  auto decoded = decode_messages_request(body);
  REQUIRE(decoded.ok());
  std::vector<json::object> sources;
  const json::value parsed = json::parse(body);
  for (const json::value& tool : parsed.at("tools").as_array())
    sources.push_back(tool.at("input_schema").as_object());
  check_agent_tools(decoded.value(), sources);

  // What had no direct equivalent became the nearest thing Gemini has.
  const json::array decls = declarations(decoded.value());
  const auto parameters_of = [&](std::string_view name) {
    for (const json::value& d : decls) {
      if (d.at("name").as_string() == name) return d.at("parameters").as_object();
    }
    FAIL("no declaration " << name);
    return json::object{};
  };
  const json::object read = parameters_of("Read");
  CHECK(read.at("properties").at("limit").at("minimum") == 1);  // exclusiveMinimum: 0
  CHECK(read.at("properties").at("offset").at("minimum") == 0);
  const json::object ask = parameters_of("AskUserQuestion");
  CHECK(
      ask.at("properties").at("answers") ==
      json::parse(
          R"({"type":"object","description":"User answers collected by the permission component"})"));
  const json::object issue = parameters_of("mcp__github__create_issue");
  const json::object& p = issue.at("properties").as_object();
  CHECK(p.at("body") == json::parse(R"({"type":"string","title":"Body","description":"Issue body",
        "nullable":true,"default":null})"));
  CHECK(p.at("milestone").at("type") == "integer");
  CHECK(p.at("milestone").at("nullable") == true);
  CHECK(p.at("milestone").at("minimum") == 1);
  CHECK(p.at("labels").at("items") == json::parse(R"({"type":"object","title":"Label",
        "properties":{"name":{"type":"string","title":"Name","description":"Label name"},
                      "color":{"type":"string","pattern":"^[0-9a-f]{6}$","nullable":true,
                               "title":"Color","default":null}},
        "required":["name"]})"));
  CHECK(p.at("state") ==
        json::parse(R"({"type":"string","description":"Initial state","enum":["open"]})"));
  CHECK(p.at("priority").at("type") == "integer");
  CHECK(p.at("due").at("format") == "date-time");
  CHECK(p.at("due").at("example") == "2025-01-01T00:00:00Z");
  CHECK(parameters_of("WebFetch").at("properties").at("url") ==
        json::parse(R"({"type":"string","description":"The URL to fetch content from"})"));
}

TEST_CASE("Codex's tool declarations become schemas Gemini accepts", "[gemini][schema]") {
  const std::string body = test::fixture("adapters/gemini/codex_tools_request.json");
  auto decoded = decode_responses_request(body);
  REQUIRE(decoded.ok());
  std::vector<json::object> sources;
  const json::value parsed = json::parse(body);
  for (const json::value& tool : parsed.at("tools").as_array()) {
    if (tool.at("type") == "function") sources.push_back(tool.at("parameters").as_object());
    if (tool.at("type") == "custom") sources.emplace_back();  // freeform: one string
  }
  check_agent_tools(decoded.value(), sources);
}

TEST_CASE("Gemini schema: edge cases", "[gemini][schema]") {
  const auto convert = [](std::string_view schema) {
    return json::value(gemini_schema(json::parse(schema)));
  };
  const auto accepted = [](const json::value& schema) {
    const std::vector<std::string> refusals = refusals_of(schema);
    for (const std::string& r : refusals) UNSCOPED_INFO(r);
    return refusals.empty();
  };

  SECTION("nested arrays of objects") {
    const json::value out = convert(R"({"type":"array","items":{"type":"array","items":{
        "type":"object","additionalProperties":false,"properties":{
          "x":{"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10},
          "y":{"type":"number","exclusiveMinimum":0.5}},"required":["x","z"]}}})");
    CHECK(accepted(out));
    const json::value& item = out.at("items").at("items");
    CHECK(item.at("properties").at("x") ==
          json::parse(R"({"type":"integer","minimum":1,"maximum":9})"));
    CHECK(item.at("properties").at("y").at("minimum") == 0.5);
    CHECK(item.at("required") == json::array{"x"});  // z is not a property
  }
  SECTION("a cyclic $ref becomes an open object, and conversion ends") {
    const json::value out = convert(R"({"type":"object","$defs":{"node":{"type":"object",
        "properties":{"value":{"type":"string"},"children":{"type":"array",
        "items":{"$ref":"#/$defs/node"}}}}},"properties":{"root":{"$ref":"#/$defs/node",
        "description":"The tree"},"self":{"$ref":"#"}}})");
    CHECK(accepted(out));
    const json::value& root = out.at("properties").at("root");
    CHECK(root.at("description") == "The tree");
    CHECK(root.at("properties").at("value") == json::parse(R"({"type":"string"})"));
    CHECK(root.at("properties").at("children").at("items") == json::parse(R"({"type":"object"})"));
    CHECK(out.at("properties").at("self").at("properties").at("self") ==
          json::parse(R"({"type":"object"})"));
  }
  SECTION("definitions, JSON pointers and unresolvable refs") {
    const json::value out = convert(R"({"type":"object","definitions":{"a~b":{"type":"boolean"}},
        "properties":{"p":{"$ref":"#/definitions/a~0b"},"q":{"$ref":"https://example.com/s.json"}}})");
    CHECK(accepted(out));
    CHECK(out.at("properties").at("p") == json::parse(R"({"type":"boolean"})"));
    CHECK(out.at("properties").at("q") == json::parse(R"({"type":"object"})"));
  }
  SECTION("type arrays") {
    CHECK(convert(R"({"type":["integer","null"]})") ==
          json::parse(R"({"type":"integer","nullable":true})"));
    const json::value both = convert(R"({"type":["string","array"],"items":{"type":"string"},
        "minLength":1,"description":"One or many"})");
    CHECK(accepted(both));
    CHECK(both == json::parse(R"({"description":"One or many","anyOf":[
        {"type":"string","minLength":1},{"type":"array","items":{"type":"string"}}]})"));
  }
  SECTION("const and enum values that are not strings") {
    CHECK(convert(R"({"const":3})") ==
          json::parse(R"({"type":"integer","description":"Allowed values: 3."})"));
    CHECK(convert(R"({"type":"number","enum":[0.5,1.5],"description":"Step"})") ==
          json::parse(R"({"type":"number","description":"Step. Allowed values: 0.5, 1.5."})"));
    CHECK(convert(R"({"enum":["a","b",null]})") ==
          json::parse(R"({"type":"string","nullable":true,"enum":["a","b"]})"));
    CHECK(convert(R"({"type":"string","enum":["x",2]})").at("enum") == json::array{"x", "2"});
    CHECK(accepted(convert(R"({"oneOf":[{"const":true},{"const":false}]})")));
  }
  SECTION("unions") {
    CHECK(convert(R"({"oneOf":[{"type":"string"},{"type":"null"}],"description":"d"})") ==
          json::parse(R"({"type":"string","nullable":true,"description":"d"})"));
    CHECK(convert(R"({"allOf":[{"type":"string","minLength":2}],"description":"d"})") ==
          json::parse(R"({"type":"string","minLength":2,"description":"d"})"));
    const json::value merged = convert(R"({"allOf":[
        {"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
        {"properties":{"b":{"type":"integer"}},"required":["b"]}]})");
    CHECK(merged == json::parse(R"({"type":"object","properties":{"a":{"type":"string"},
        "b":{"type":"integer"}},"required":["a","b"]})"));
    // Alternatives that only require one property or another: the object itself stays.
    CHECK(convert(R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},
        "oneOf":[{"required":["a"]},{"required":["b"]}]})") ==
          json::parse(
              R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}})"));
    const json::value choice = convert(R"({"anyOf":[{"type":"string"},{"type":"integer"},
        {"type":"array","items":{}}]})");
    CHECK(accepted(choice));
    CHECK(choice.at("anyOf").as_array().size() == 3);
  }
  SECTION("empty schemas and objects without properties") {
    CHECK(convert("{}") == json::parse(R"({"type":"string"})"));
    CHECK(convert("true") == json::parse(R"({"type":"string"})"));
    CHECK(convert(R"({"type":"object","properties":{"v":{},"w":{"description":"anything"}}})") ==
          json::parse(R"({"type":"object","properties":{"v":{"type":"string"},
              "w":{"type":"string","description":"anything"}}})"));
    CHECK(convert(R"({"type":"object","properties":{},"required":[]})") ==
          json::parse(R"({"type":"object"})"));
    CHECK(convert(R"({"type":"array"})") ==
          json::parse(R"({"type":"array","items":{"type":"string"}})"));

    // A tool without parameters is declared without any: Gemini refuses empty properties.
    Request r;
    r.messages.push_back({Message::Role::user, {test::text_part("hi")}});
    r.tools.push_back(Tool{"a", "", "{}", false});
    r.tools.push_back(Tool{"b", "", R"({"type":"object","additionalProperties":false})", false});
    r.tools.push_back(Tool{"c", "", R"({"type":"object","properties":{}})", false});
    for (const json::value& d : declarations(r)) CHECK_FALSE(d.as_object().contains("parameters"));
  }
  SECTION("a union of objects at the top becomes one object") {
    Request r;
    r.messages.push_back({Message::Role::user, {test::text_part("hi")}});
    r.tools.push_back(Tool{"f", "", R"({"anyOf":[
        {"type":"object","properties":{"a":{"type":"string"},"c":{"type":"string"}},"required":["a","c"]},
        {"type":"object","properties":{"b":{"type":"string"},"c":{"type":"string"}},"required":["b","c"]}]})",
                           false});
    const json::value parameters = declarations(r).at(0).at("parameters");
    CHECK(accepted(parameters));
    CHECK(parameters == json::parse(R"({"type":"object","properties":{"a":{"type":"string"},
        "c":{"type":"string"},"b":{"type":"string"}},"required":["c"]})"));
  }
  SECTION("formats Gemini does not know are dropped, known ones kept") {
    CHECK(convert(R"({"type":"string","format":"email"})") == json::parse(R"({"type":"string"})"));
    CHECK(convert(R"({"type":"integer","format":"int64"})").at("format") == "int64");
    CHECK(convert(R"({"type":"number","format":"int64"})") == json::parse(R"({"type":"number"})"));
  }
}
