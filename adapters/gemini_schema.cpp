#include "adapters/gemini_schema.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::adapters {

namespace json = boost::json;

namespace {

bool one_of(std::string_view key, std::initializer_list<std::string_view> keys) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

// Keywords that only say something about a schema, never what values it accepts.
bool is_annotation(std::string_view key) {
  return one_of(
      key, {"description", "title", "default", "example", "examples", "$schema", "$id", "$comment",
            "$anchor", "$defs", "definitions", "deprecated", "readOnly", "writeOnly", "nullable"});
}

// A schema with something besides annotations: a branch of allOf or a $ref's siblings
// without one only adds a description or a default.
bool has_shape(const json::object& schema) {
  return std::any_of(schema.begin(), schema.end(),
                     [](const json::key_value_pair& kv) { return !is_annotation(kv.key()); });
}

const json::string* string_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_string() : nullptr;
}

bool format_known(std::string_view type, std::string_view format) {
  if (type == "string") return format == "date-time" || format == "enum";
  if (type == "integer") return format == "int32" || format == "int64";
  if (type == "number") return format == "float" || format == "double";
  return false;
}

bool is_known_type(std::string_view type) {
  return one_of(type, {"string", "number", "integer", "boolean", "array", "object", "null"});
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_whole(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  return v.is_double() && std::isfinite(v.get_double()) &&
         std::floor(v.get_double()) == v.get_double();
}

double as_double(const json::value& v) { return v.to_number<double>(); }

// A number as a bound of the given type: whole numbers stay integers.
json::value bound(double value, std::string_view type) {
  if (type == "integer" && std::fabs(value) < 9e15) return static_cast<std::int64_t>(value);
  return value;
}

// The values an enum or const allows (null included), or none.
json::array allowed_values(const json::object& s) {
  if (const json::value* e = s.if_contains("enum"); e && e->is_array()) return e->get_array();
  if (const json::value* c = s.if_contains("const")) return json::array{*c};
  return {};
}

// The type a schema without one must have, from the keywords it uses; empty for a schema
// that accepts anything.
std::string inferred_type(const json::object& s) {
  const auto uses = [&](std::initializer_list<std::string_view> keys) {
    return std::any_of(keys.begin(), keys.end(), [&](std::string_view k) { return s.contains(k); });
  };
  if (uses({"properties", "required", "additionalProperties", "patternProperties", "minProperties",
            "maxProperties", "propertyOrdering"}))
    return "object";
  if (uses({"items", "prefixItems", "minItems", "maxItems", "contains", "uniqueItems"}))
    return "array";
  const json::array values = allowed_values(s);
  bool any = false, strings = true, bools = true, wholes = true, numbers = true;
  for (const json::value& v : values) {
    if (v.is_null()) continue;
    any = true;
    strings = strings && v.is_string();
    bools = bools && v.is_bool();
    numbers = numbers && v.is_number();
    wholes = wholes && v.is_number() && is_whole(v);
  }
  if (any) {
    if (strings) return "string";
    if (bools) return "boolean";
    if (wholes) return "integer";
    if (numbers) return "number";
    return "string";
  }
  if (uses({"minLength", "maxLength", "pattern", "format"})) return "string";
  if (uses({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}))
    return "number";
  return {};
}

// Annotations of `from` laid over `to`: the schema at hand describes itself better than the
// definition it refers to.
void overlay_annotations(json::object& to, const json::object& from) {
  if (const json::string* d = string_member(from, "description")) to["description"] = *d;
  if (const json::string* t = string_member(from, "title")) to["title"] = *t;
  if (const json::value* d = from.if_contains("default")) to["default"] = *d;
  if (const json::value* e = from.if_contains("example")) {
    to["example"] = *e;
  } else if (const json::value* es = from.if_contains("examples");
             es && es->is_array() && !es->get_array().empty()) {
    to["example"] = es->get_array().front();
  }
  if (const json::value* n = from.if_contains("nullable"); n && n->is_bool() && n->get_bool())
    to["nullable"] = true;
}

// `b` merged into `a` (allOf): properties and required united, anything else `a` lacks taken
// (with `shape_only`, annotations are not).
void merge_into(json::object& a, const json::object& b, bool shape_only = false) {
  for (const json::key_value_pair& kv : b) {
    const std::string_view key = kv.key();
    if (shape_only && is_annotation(key)) continue;
    if (key == "properties" && a.contains("properties")) {
      json::object& mine = a["properties"].as_object();
      for (const json::key_value_pair& p : kv.value().as_object()) {
        if (!mine.contains(p.key())) mine[p.key()] = p.value();
      }
    } else if (key == "required" && a.contains("required")) {
      json::array& mine = a["required"].as_array();
      for (const json::value& name : kv.value().as_array()) {
        if (std::find(mine.begin(), mine.end(), name) == mine.end()) mine.push_back(name);
      }
    } else if (!a.contains(key)) {
      a[key] = kv.value();
    }
  }
}

json::object unconstrained() { return json::object{{"type", "string"}}; }

// A value as a person writes it (0.5, not Boost's 5E-1), for descriptions.
std::string value_text(const json::value& v) {
  if (!v.is_double()) return json::serialize(v);
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v.get_double());
  if (ec != std::errc()) return json::serialize(v);
  return std::string(buffer, end);
}

// A union whose branches are each one value or a few (zod's and pydantic's literal unions):
// one enum says the same.
bool only_values(const json::object& branch) {
  if (!branch.contains("const") && !branch.contains("enum")) return false;
  return std::all_of(branch.begin(), branch.end(), [](const json::key_value_pair& kv) {
    return one_of(kv.key(), {"const", "enum", "type", "title", "description"});
  });
}

class SchemaConverter {
 public:
  explicit SchemaConverter(const json::value& root) : root_(root) {}

  json::object convert(const json::value& schema) {
    const json::object* s = schema.if_object();
    if (!s) return unconstrained();  // true, false, or not a schema at all
    return convert_object(*s);
  }

 private:
  json::object convert_object(const json::object& s) {
    if (const json::string* ref = string_member(s, "$ref")) return convert_ref(s, *ref);
    if (const json::value* all = s.if_contains("allOf"); all && all->is_array())
      return convert_all_of(s, all->get_array());
    if (s.contains("anyOf") || s.contains("oneOf")) return convert_union(s);

    bool nullable = false;
    if (const json::value* n = s.if_contains("nullable"); n && n->is_bool() && n->get_bool())
      nullable = true;
    std::vector<std::string> types;
    if (const json::value* t = s.if_contains("type")) {
      const auto add = [&](const json::value& v) {
        if (!v.is_string()) return;
        std::string type = lowercase(v.get_string());
        if (!is_known_type(type)) return;
        if (type == "null") {
          nullable = true;
        } else if (std::find(types.begin(), types.end(), type) == types.end()) {
          types.push_back(std::move(type));
        }
      };
      if (t->is_array()) {
        for (const json::value& v : t->get_array()) add(v);
      } else {
        add(*t);
      }
    }
    if (types.empty()) {
      std::string type = inferred_type(s);
      if (!type.empty()) types.push_back(std::move(type));
    }
    if (types.size() <= 1) {
      json::object out = convert_typed(s, types.empty() ? "string" : types.front());
      if (nullable) out["nullable"] = true;
      return out;
    }
    // Several types: one branch each, with the keywords that belong to it.
    json::object rest;
    for (const json::key_value_pair& kv : s) {
      if (!is_annotation(kv.key()) && kv.key() != "type") rest[kv.key()] = kv.value();
    }
    json::array branches;
    for (const std::string& type : types) {
      json::object branch = rest;
      branch["type"] = type;
      json::object converted = convert_typed(branch, type);
      if (nullable) converted["nullable"] = true;
      branches.push_back(std::move(converted));
    }
    json::object out;
    overlay_annotations(out, s);
    out.erase("nullable");
    out["anyOf"] = std::move(branches);
    return out;
  }

  json::object convert_ref(const json::object& s, std::string_view ref) {
    const json::value* target = resolve(ref);
    json::object out;
    const bool cyclic = std::find(refs_.begin(), refs_.end(), ref) != refs_.end();
    if (target && !cyclic && refs_.size() < static_cast<std::size_t>(kMaxRefDepth)) {
      refs_.emplace_back(ref);
      out = convert(*target);
      refs_.pop_back();
    } else {
      // A recursive type (a tree node, a JSON value) cannot be inlined: an open object keeps
      // the level the model sees, and the tool still gets what it asked for.
      out = json::object{{"type", "object"}};
    }
    json::object siblings = s;
    siblings.erase("$ref");
    if (has_shape(siblings)) merge_into(out, convert_object(siblings));
    overlay_annotations(out, siblings);
    return out;
  }

  json::object convert_all_of(const json::object& s, const json::array& all) {
    json::object rest = s;
    rest.erase("allOf");
    json::object out;
    bool first = true;
    const auto add = [&](const json::object& converted) {
      if (first) {
        out = converted;
        first = false;
      } else {
        merge_into(out, converted);
      }
    };
    if (has_shape(rest)) add(convert_object(rest));
    for (const json::value& branch : all) {
      const json::object* b = branch.if_object();
      if (!b) continue;
      if (has_shape(*b)) {
        add(convert_object(*b));
      } else if (!first) {
        overlay_annotations(out, *b);
      }
    }
    if (first) out = unconstrained();
    overlay_annotations(out, rest);
    return out;
  }

  json::object convert_union(const json::object& s) {
    json::object rest = s;
    rest.erase("anyOf");
    rest.erase("oneOf");
    std::vector<const json::object*> sources;
    for (std::string_view key : {"anyOf", "oneOf"}) {
      const json::value* list = s.if_contains(key);
      if (!list || !list->is_array()) continue;
      for (const json::value& b : list->get_array()) {
        if (const json::object* o = b.if_object()) sources.push_back(o);
      }
    }
    // Branches that only require one property or another narrow the object at hand; Gemini
    // cannot say that, and the object itself is what matters.
    const bool shapes = std::any_of(sources.begin(), sources.end(), [](const json::object* b) {
      return std::any_of(b->begin(), b->end(), [](const json::key_value_pair& kv) {
        return one_of(kv.key(), {"type", "$ref", "properties", "items", "enum", "const", "anyOf",
                                 "oneOf", "allOf", "prefixItems"});
      });
    });
    if (!shapes) {
      if (has_shape(rest)) return convert_object(rest);
      json::object out = unconstrained();
      overlay_annotations(out, rest);
      return out;
    }

    if (!sources.empty() && std::all_of(sources.begin(), sources.end(),
                                        [](const json::object* b) { return only_values(*b); })) {
      json::array values;
      for (const json::object* source : sources) {
        for (const json::value& v : allowed_values(*source)) {
          if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
        }
      }
      json::object as_enum = rest;
      as_enum["enum"] = std::move(values);
      return convert_object(as_enum);
    }

    const json::value* parent_type = rest.if_contains("type");
    const bool rest_shaped = has_shape(rest);
    json::object rest_converted;
    if (rest_shaped) rest_converted = convert_object(rest);
    bool nullable = false;
    json::array branches;
    for (const json::object* source : sources) {
      const json::string* type = string_member(*source, "type");
      const json::array values = allowed_values(*source);
      if ((type && *type == "null") ||
          (values.size() == 1 && values.front().is_null() && !source->contains("type"))) {
        nullable = true;
        continue;
      }
      json::object converted;
      if (!source->contains("type") && parent_type && parent_type->is_string() &&
          !source->contains("$ref")) {
        json::object typed = *source;
        typed["type"] = *parent_type;
        converted = convert_object(typed);
      } else {
        converted = convert(json::value(*source));
      }
      // What the union's siblings say (an object's common properties) holds in each branch
      // of the same type.
      const json::value* branch_type = converted.if_contains("type");
      const json::value* rest_type = rest_converted.if_contains("type");
      if (rest_shaped && branch_type && rest_type && *branch_type == *rest_type)
        merge_into(converted, rest_converted, /*shape_only=*/true);
      if (std::find(branches.begin(), branches.end(), json::value(converted)) == branches.end())
        branches.push_back(std::move(converted));
    }
    json::object out;
    if (branches.empty()) {
      out = unconstrained();
      out["nullable"] = true;
    } else if (branches.size() == 1) {
      out = std::move(branches.front().as_object());
      if (nullable) out["nullable"] = true;
    } else {
      if (nullable) {
        for (json::value& b : branches) b.as_object()["nullable"] = true;
      }
      out["anyOf"] = std::move(branches);
    }
    overlay_annotations(out, rest);
    return out;
  }

  // One schema of one type, with only the keywords Gemini takes for that type.
  json::object convert_typed(const json::object& s, const std::string& type) {
    json::object out;
    out["type"] = type;
    if (const json::string* f = string_member(s, "format"); f && format_known(type, *f))
      out["format"] = *f;
    if (const json::string* t = string_member(s, "title")) out["title"] = *t;
    std::string description;
    if (const json::string* d = string_member(s, "description")) description = std::string(*d);
    if (const json::value* n = s.if_contains("nullable"); n && n->is_bool() && n->get_bool())
      out["nullable"] = true;

    json::array values = allowed_values(s);
    json::array strings;
    std::string listed;
    for (const json::value& v : values) {
      if (v.is_null()) {
        out["nullable"] = true;
      } else if (type == "string") {
        json::value text = v.is_string() ? v : json::value(value_text(v));
        if (std::find(strings.begin(), strings.end(), text) == strings.end())
          strings.push_back(std::move(text));
      } else {
        if (!listed.empty()) listed += ", ";
        listed += value_text(v);
      }
    }
    // Gemini's enum holds strings only: other types say their values in words.
    if (!listed.empty()) {
      if (!description.empty()) description += description.back() == '.' ? " " : ". ";
      description += "Allowed values: " + listed + ".";
    }
    if (!description.empty()) out["description"] = description;
    if (!strings.empty()) out["enum"] = std::move(strings);

    const auto copy_number = [&](std::string_view key) {
      if (const json::value* v = s.if_contains(key); v && v->is_number()) out[key] = *v;
    };
    if (type == "object") {
      json::object properties;
      if (const json::value* p = s.if_contains("properties"); p && p->is_object()) {
        for (const json::key_value_pair& kv : p->get_object())
          properties[kv.key()] = convert(kv.value());
      }
      const auto declared_names = [&](std::string_view key) {
        json::array names;
        const json::value* list = s.if_contains(key);
        if (!list || !list->is_array()) return names;
        for (const json::value& name : list->get_array()) {
          if (name.is_string() && properties.contains(name.get_string()) &&
              std::find(names.begin(), names.end(), name) == names.end())
            names.push_back(name);
        }
        return names;
      };
      json::array required = declared_names("required");
      json::array ordering = declared_names("propertyOrdering");
      if (!properties.empty()) out["properties"] = std::move(properties);
      if (!required.empty()) out["required"] = std::move(required);
      copy_number("minProperties");
      copy_number("maxProperties");
      if (!ordering.empty()) out["propertyOrdering"] = std::move(ordering);
    } else if (type == "array") {
      const json::value* items = s.if_contains("items");
      const json::value* tuple = items && items->is_array() ? items : s.if_contains("prefixItems");
      if (items && !items->is_array()) {
        out["items"] = convert(*items);
      } else if (tuple && tuple->is_array() && !tuple->get_array().empty()) {
        json::array positions;
        for (const json::value& item : tuple->get_array()) {
          json::value converted = convert(item);
          if (std::find(positions.begin(), positions.end(), converted) == positions.end())
            positions.push_back(std::move(converted));
        }
        if (positions.size() == 1) {
          out["items"] = std::move(positions.front());
        } else {
          out["items"] = json::object{{"anyOf", std::move(positions)}};
        }
      } else {
        out["items"] = unconstrained();  // Gemini wants items on every array
      }
      copy_number("minItems");
      copy_number("maxItems");
    } else if (type == "string") {
      copy_number("minLength");
      copy_number("maxLength");
      if (const json::string* p = string_member(s, "pattern")) out["pattern"] = *p;
    } else if (type == "number" || type == "integer") {
      copy_number("minimum");
      copy_number("maximum");
      tighten(s, out, type, "exclusiveMinimum", "minimum", +1);
      tighten(s, out, type, "exclusiveMaximum", "maximum", -1);
    }
    if (const json::value* d = s.if_contains("default")) out["default"] = *d;
    if (const json::value* e = s.if_contains("example")) {
      out["example"] = *e;
    } else if (const json::value* es = s.if_contains("examples");
               es && es->is_array() && !es->get_array().empty()) {
      out["example"] = es->get_array().front();
    }
    return out;
  }

  // exclusiveMinimum/-Maximum as the inclusive bound Gemini knows: the next integer for
  // integers, the bound itself (loosened by one value) for numbers. Draft-4's boolean form
  // qualifies `minimum`/`maximum` instead.
  static void tighten(const json::object& s, json::object& out, const std::string& type,
                      std::string_view exclusive_key, std::string_view inclusive_key,
                      int direction) {
    const json::value* exclusive = s.if_contains(exclusive_key);
    if (!exclusive) return;
    double limit;
    if (exclusive->is_number()) {
      limit = as_double(*exclusive);
    } else if (exclusive->is_bool() && exclusive->get_bool() && out.contains(inclusive_key)) {
      limit = as_double(out[inclusive_key]);
    } else {
      return;
    }
    double inclusive = limit;
    if (type == "integer") {
      inclusive = direction > 0 ? std::floor(limit) + 1 : std::ceil(limit) - 1;
    }
    if (const json::value* current = out.if_contains(inclusive_key);
        current && exclusive->is_number()) {
      const double c = as_double(*current);
      if (direction > 0 ? c >= inclusive : c <= inclusive) return;  // already tighter
    }
    out[inclusive_key] = bound(inclusive, type);
  }

  // "#", "#/$defs/Name", "#/definitions/Name" or any JSON pointer into the document; other
  // references (URLs, anchors) cannot be followed offline.
  const json::value* resolve(std::string_view ref) const {
    if (ref.empty() || ref.front() != '#') return nullptr;
    ref.remove_prefix(1);
    const json::value* at = &root_;
    while (!ref.empty()) {
      if (ref.front() != '/') return nullptr;
      ref.remove_prefix(1);
      const std::size_t end = std::min(ref.find('/'), ref.size());
      std::string token;
      for (std::size_t i = 0; i < end; ++i) {
        if (ref[i] == '~' && i + 1 < end && (ref[i + 1] == '0' || ref[i + 1] == '1')) {
          token.push_back(ref[i + 1] == '0' ? '~' : '/');
          ++i;
        } else {
          token.push_back(ref[i]);
        }
      }
      ref.remove_prefix(end);
      if (const json::object* o = at->if_object()) {
        at = o->if_contains(token);
      } else if (const json::array* a = at->if_array()) {
        char* stop = nullptr;
        const unsigned long index = std::strtoul(token.c_str(), &stop, 10);
        at = (!token.empty() && *stop == '\0' && index < a->size()) ? &(*a)[index] : nullptr;
      } else {
        at = nullptr;
      }
      if (!at) return nullptr;
    }
    return at;
  }

  const json::value& root_;
  std::vector<std::string> refs_;  // the references being inlined, outermost first
};

}  // namespace

json::object gemini_schema(const json::value& json_schema) {
  return SchemaConverter(json_schema).convert(json_schema);
}

}  // namespace switchyard::adapters
