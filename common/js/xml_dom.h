#pragma once

// A small XML DOM for the ECMAScript data model (W3C SCXML B.2: XML in
// <data>, <data src> or an event's <content> becomes a DOM object; W3C tests
// 557 and 561). See
// docs/design/js-data-model.md ("XML values").
//
// Nodes are plain objects whose [[Prototype]]s are shared, frozen built-ins
// of the worker heap (globals Node, Document, Element, CharacterData, whose
// constructors throw), so that nodes are ordinary data for snapshots:
//
//   Document       nodeType 9, nodeName "#document", documentElement,
//                  childNodes [root], parentNode null
//   Element        nodeType 1, nodeName = tagName (qualified name), localName,
//                  namespaceURI (or null), attributes [{name, value, ...}],
//                  childNodes, parentNode
//   CharacterData  text (3), CDATA section (4) or comment (8): data,
//                  nodeValue, nodeName "#text"/"#cdata-section"/"#comment"
//   Node.prototype getElementsByTagName(name | "*") (descendants in document
//                  order), firstChild, lastChild, textContent, hasChildNodes(),
//                  toJSON() and toString(): the markup (so JSON.stringify
//                  gives a string, and String(node) — EvalString, e.g.
//                  <invoke><content expr> — gives the document text)
//   Element.prototype getAttribute(name) (null if absent), hasAttribute(name),
//                  children (element children)

#include <string_view>

#include "duktape.h"

namespace orch::js {

// Defines the DOM globals in the calling thread's global object and keeps the
// prototypes in the heap stash. Runs once per worker heap, before its
// built-ins are frozen. Throws (a Duktape error) if something fails.
void DefineXmlDom(duk_context* ctx);

// When `text` (after leading whitespace) starts with '<' and is a
// well-formed XML document, pushes its Document and returns true. Otherwise
// pushes nothing and returns false. Throws only on allocation failure.
bool PushXmlDocument(duk_context* ctx, std::string_view text);

// Whether `text` looks like XML markup (first non-space character '<').
bool LooksLikeXml(std::string_view text);

}  // namespace orch::js
