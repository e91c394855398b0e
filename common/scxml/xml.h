#pragma once

// A small immutable XML tree built with libxml2's xmlTextReader, with the
// line and column of every element, for the SCXML compiler. Namespaces are
// resolved (elements are matched by namespace URI, never by prefix).
//
// Safety: no network access (XML_PARSE_NONET), no entity substitution (no
// XXE), a size limit checked before parsing and a nesting limit while
// parsing.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace orch::scxml {

struct XmlAttribute {
  std::string ns;      // namespace URI; empty for unprefixed attributes
  std::string name;    // local name
  std::string value;
};

struct XmlElement {
  std::string ns;      // namespace URI
  std::string name;    // local name
  std::string qname;   // as written (prefix:name), for messages
  int line = 0;
  int column = 0;
  std::vector<XmlAttribute> attributes;
  // Children in order: elements and text runs. Text includes CDATA.
  struct Child {
    std::unique_ptr<XmlElement> element;  // null for text
    std::string text;
  };
  std::vector<Child> children;
  // Namespace declarations in scope on this element (prefix, uri), so a
  // subtree can be serialized back as a standalone document.
  std::vector<std::pair<std::string, std::string>> ns_decls;

  const XmlAttribute* Attribute(std::string_view local_name) const;  // no-namespace attribute
  // Concatenated text of the direct text children.
  std::string Text() const;
  bool HasElementChildren() const;
  // The element and its subtree as XML text (namespace declarations of
  // ancestors included on the root), e.g. for <content> holding markup.
  std::string Serialize() const;
};

struct XmlLimits {
  size_t max_bytes = 16 << 20;
  int max_depth = 200;
};

// Parses `text`; `source_name` is used in messages ("file:line:col: ...").
absl::StatusOr<std::unique_ptr<XmlElement>> ParseXml(std::string_view text,
                                                     const std::string& source_name,
                                                     const XmlLimits& limits = {});

}  // namespace orch::scxml
