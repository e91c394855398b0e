#include "common/scxml/xml.h"

#include <libxml/parser.h>
#include <libxml/xmlreader.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace orch::scxml {
namespace {

std::string Str(const xmlChar* s) { return s == nullptr ? std::string() : reinterpret_cast<const char*>(s); }

struct ErrorCollector {
  std::string first;
  int line = 0;
  int column = 0;
};

void OnReaderError(void* arg, const char* msg, xmlParserSeverities severity,
                   xmlTextReaderLocatorPtr locator) {
  auto* errors = static_cast<ErrorCollector*>(arg);
  if (!errors->first.empty()) return;
  if (severity != XML_PARSER_SEVERITY_ERROR && severity != XML_PARSER_SEVERITY_VALIDITY_ERROR) return;
  errors->first = msg != nullptr ? msg : "XML error";
  while (!errors->first.empty() && (errors->first.back() == '\n' || errors->first.back() == ' ')) {
    errors->first.pop_back();
  }
  // Some libxml2 messages span lines ("Input is not proper UTF-8 ...\nBytes:
  // ..."); a problem is one line.
  for (char& c : errors->first) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  errors->line = xmlTextReaderLocatorLineNumber(locator);
}

void EscapeInto(std::string* out, std::string_view s, bool attribute) {
  for (char c : s) {
    switch (c) {
      case '<': out->append("&lt;"); break;
      case '>': out->append("&gt;"); break;
      case '&': out->append("&amp;"); break;
      case '"':
        if (attribute) {
          out->append("&quot;");
          break;
        }
        [[fallthrough]];
      default: out->push_back(c);
    }
  }
}

void SerializeInto(const XmlElement& e, std::string* out, bool root) {
  out->append("<").append(e.qname);
  if (root && !e.ns.empty()) {
    // A subtree taken out of its document keeps its own namespace.
    const auto colon = e.qname.find(':');
    const std::string prefix = colon == std::string::npos ? "" : e.qname.substr(0, colon);
    bool declared = false;
    for (const auto& d : e.ns_decls) declared |= (d.first == prefix);
    if (!declared) {
      out->append(prefix.empty() ? " xmlns=\"" : " xmlns:" + prefix + "=\"");
      EscapeInto(out, e.ns, true);
      out->append("\"");
    }
  }
  for (const auto& [prefix, uri] : e.ns_decls) {
    out->append(prefix.empty() ? " xmlns=\"" : " xmlns:" + prefix + "=\"");
    EscapeInto(out, uri, true);
    out->append("\"");
  }
  for (const auto& a : e.attributes) {
    out->append(" ");
    // Attributes in a namespace keep a generated prefix declared with them.
    if (!a.ns.empty()) {
      out->append("xmlns:a=\"");
      EscapeInto(out, a.ns, true);
      out->append("\" a:");
    }
    out->append(a.name).append("=\"");
    EscapeInto(out, a.value, true);
    out->append("\"");
  }
  if (e.children.empty()) {
    out->append("/>");
    return;
  }
  out->append(">");
  for (const auto& c : e.children) {
    if (c.element) {
      SerializeInto(*c.element, out, false);
    } else {
      EscapeInto(out, c.text, false);
    }
  }
  out->append("</").append(e.qname).append(">");
}

}  // namespace

const XmlAttribute* XmlElement::Attribute(std::string_view local_name) const {
  for (const auto& a : attributes) {
    if (a.ns.empty() && a.name == local_name) return &a;
  }
  return nullptr;
}

std::string XmlElement::Text() const {
  std::string out;
  for (const auto& c : children) {
    if (!c.element) out += c.text;
  }
  return out;
}

bool XmlElement::HasElementChildren() const {
  return std::any_of(children.begin(), children.end(), [](const Child& c) { return c.element != nullptr; });
}

std::string XmlElement::Serialize() const {
  std::string out;
  SerializeInto(*this, &out, true);
  return out;
}

absl::StatusOr<std::unique_ptr<XmlElement>> ParseXml(std::string_view text, const std::string& source_name,
                                                     const XmlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":1:1: document is ", text.size(),
                                                   " bytes; the limit is ", limits.max_bytes));
  }
  // Source lines, to find the column of each start tag (the reader gives
  // only the line reliably).
  std::vector<absl::string_view> lines = absl::StrSplit(absl::string_view(text.data(), text.size()), '\n');
  std::map<int, size_t> line_cursor;
  auto column_of = [&](int line, const std::string& qname) {
    if (line <= 0 || static_cast<size_t>(line) > lines.size()) return 1;
    std::string_view l(lines[line - 1].data(), lines[line - 1].size());
    size_t from = line_cursor[line];
    size_t pos = l.find("<" + qname, from);
    if (pos == std::string_view::npos) return 1;
    line_cursor[line] = pos + 1;
    return static_cast<int>(pos) + 1;
  };

  xmlTextReaderPtr reader = xmlReaderForMemory(text.data(), static_cast<int>(text.size()), source_name.c_str(),
                                               nullptr, XML_PARSE_NONET | XML_PARSE_NOCDATA * 0);
  if (reader == nullptr) return absl::InternalError("cannot create an XML reader");
  ErrorCollector errors;
  xmlTextReaderSetErrorHandler(reader, &OnReaderError, &errors);

  std::unique_ptr<XmlElement> root;
  std::vector<XmlElement*> stack;
  auto fail = [&](int line, int column, const std::string& msg) {
    xmlFreeTextReader(reader);
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", line, ":", column, ": ", msg));
  };

  int rc;
  while ((rc = xmlTextReaderRead(reader)) == 1) {
    const int type = xmlTextReaderNodeType(reader);
    if (type == XML_READER_TYPE_ELEMENT) {
      auto e = std::make_unique<XmlElement>();
      e->ns = Str(xmlTextReaderConstNamespaceUri(reader));
      e->name = Str(xmlTextReaderConstLocalName(reader));
      e->qname = Str(xmlTextReaderConstName(reader));
      xmlNodePtr node = xmlTextReaderCurrentNode(reader);
      e->line = node != nullptr ? static_cast<int>(xmlGetLineNo(node)) : xmlTextReaderGetParserLineNumber(reader);
      e->column = column_of(e->line, e->qname);
      if (static_cast<int>(stack.size()) >= limits.max_depth) {
        return fail(e->line, e->column, absl::StrCat("<", e->qname, "> nests deeper than ", limits.max_depth, " elements"));
      }
      const bool empty = xmlTextReaderIsEmptyElement(reader) == 1;
      if (node != nullptr && stack.empty()) {
        // The root carries every namespace in scope, for Serialize().
        for (xmlNsPtr ns = node->nsDef; ns != nullptr; ns = ns->next) {
          e->ns_decls.emplace_back(Str(ns->prefix), Str(ns->href));
        }
      } else if (node != nullptr) {
        for (xmlNsPtr ns = node->nsDef; ns != nullptr; ns = ns->next) {
          e->ns_decls.emplace_back(Str(ns->prefix), Str(ns->href));
        }
      }
      while (xmlTextReaderMoveToNextAttribute(reader) == 1) {
        if (xmlTextReaderIsNamespaceDecl(reader) == 1) continue;
        e->attributes.push_back({Str(xmlTextReaderConstNamespaceUri(reader)),
                                 Str(xmlTextReaderConstLocalName(reader)), Str(xmlTextReaderConstValue(reader))});
      }
      xmlTextReaderMoveToElement(reader);
      XmlElement* raw = e.get();
      if (stack.empty()) {
        if (root) return fail(raw->line, raw->column, "more than one root element");
        root = std::move(e);
      } else {
        stack.back()->children.push_back({std::move(e), {}});
      }
      if (!empty) stack.push_back(raw);
    } else if (type == XML_READER_TYPE_END_ELEMENT) {
      if (!stack.empty()) stack.pop_back();
    } else if (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
               type == XML_READER_TYPE_WHITESPACE || type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE) {
      if (!stack.empty()) {
        auto& kids = stack.back()->children;
        std::string value = Str(xmlTextReaderConstValue(reader));
        if (!kids.empty() && !kids.back().element) {
          kids.back().text += value;
        } else {
          kids.push_back({nullptr, std::move(value)});
        }
      }
    } else if (type == XML_READER_TYPE_ENTITY_REFERENCE) {
      return fail(xmlTextReaderGetParserLineNumber(reader), xmlTextReaderGetParserColumnNumber(reader),
                  "entity references are not allowed");
    }
  }
  if (rc != 0 || !errors.first.empty()) {
    int line = errors.line > 0 ? errors.line : xmlTextReaderGetParserLineNumber(reader);
    int column = xmlTextReaderGetParserColumnNumber(reader);
    std::string msg = errors.first.empty() ? "malformed XML" : "malformed XML: " + errors.first;
    return fail(line, column > 0 ? column : 1, msg);
  }
  xmlFreeTextReader(reader);
  if (!root) return absl::InvalidArgumentError(absl::StrCat(source_name, ":1:1: no root element"));
  return root;
}

}  // namespace orch::scxml
