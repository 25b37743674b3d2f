#pragma once
// JSON Schema (as coding agents declare their tools: draft-07 / 2020-12, zod and pydantic
// output) to Gemini's Schema object, the OpenAPI 3.0 subset that functionDeclarations[].parameters
// takes. Gemini answers 400 to any other keyword, so each one becomes its nearest supported
// equivalent, and only what has none is dropped:
//   type arrays         -> one type + nullable, or anyOf of one branch per type
//   oneOf               -> anyOf; a null branch -> nullable; a single branch is inlined
//   allOf               -> its schemas merged (properties and required united)
//   $ref                -> the $defs / definitions / JSON-pointer target, inlined; a cycle (or
//                          more than kMaxRefDepth nested refs) becomes an open object
//   const               -> a one-value enum
//   enum                -> strings as they are; null -> nullable; Gemini enums hold strings
//                          only, so an integer/number/boolean enum keeps its type and lists
//                          its values in the description instead (a stringified enum would
//                          make the model send "1" where the tool validates 1)
//   exclusiveMinimum/-Maximum -> minimum/maximum (exact for integers: > 0 is >= 1)
//   examples            -> example (the first)
//   tuple items / prefixItems -> items (anyOf of the positions' schemas)
//   format              -> kept only where Gemini knows it (date-time, enum; int32, int64;
//                          float, double)
//   no type             -> inferred from the keywords present; a schema with nothing to go on
//                          (any value) becomes a string, which any value can be written as
// Dropped: additionalProperties, patternProperties, $schema, $id, $comment, not, if/then/else,
// uniqueItems, multipleOf, dependencies, readOnly, ... Keywords that belong to another type
// (properties on a string) are dropped too, and required keeps only declared properties:
// Gemini rejects both. The output is deterministic: same input, same bytes.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace switchyard::adapters {

inline constexpr int kMaxRefDepth = 8;

// Any JSON value (a schema object, true/false) to a Gemini Schema object.
boost::json::object gemini_schema(const boost::json::value& json_schema);

}  // namespace switchyard::adapters
