#pragma once

// SCXML source -> compiled Document, with validation. Every problem is
// reported as "file:line:col: <element>: message".

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/scxml/data_model.h"
#include "common/scxml/document.h"
#include "common/scxml/fetcher.h"
#include "common/scxml/xml.h"

namespace orch::scxml {

struct CompileOptions {
  // The ECMAScript data model's factory (common/js); required for documents
  // with datamodel="ecmascript" (the default). The null data model is built in.
  DataModelFactory* ecmascript = nullptr;
  // Fetches <script src> and <data src> at load; a failure rejects the
  // document. Null: such documents are rejected.
  Fetcher* fetcher = nullptr;
  XmlLimits xml;
  // Most states (of all kinds) a document may have.
  size_t max_states = 100000;
};

// Compiles a document. On failure the status message holds every problem
// found, one per line.
absl::StatusOr<std::shared_ptr<const Document>> CompileDocument(std::string_view source,
                                                                const std::string& source_name,
                                                                const CompileOptions& options);

// Every problem of a document, empty when it is valid.
std::vector<std::string> ValidateDocument(std::string_view source, const std::string& source_name,
                                          const CompileOptions& options);

// Does `name` match transition event descriptor `descriptor`? ("*" matches
// everything; "a" matches "a" and "a.b"; "a.*" is "a".)
bool EventMatches(std::string_view descriptor, std::string_view name);

// JSON text for inline text content: the text itself when it is JSON,
// otherwise the space-normalized text as a JSON string.
std::string ContentTextToJson(std::string_view text);

// The seam value (data_model.h) for the element children of <data>,
// <content> or <assign>: the markup when there is exactly one element (an XML
// value), else the markup as a JSON string.
std::string MarkupValue(const XmlElement& parent);

// The seam value for a file fetched by <data src>: the text itself when it is
// markup (starts with '<': an XML value), else ContentTextToJson(text).
std::string DataTextToValue(std::string_view text);

// Is `text` one complete JSON value?
bool IsJson(std::string_view text);

}  // namespace orch::scxml
