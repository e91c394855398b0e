#include "common/js/xml_dom.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>
#include <string>

namespace orch::js {
namespace {

constexpr char kStashDom[] = "orch_dom";  // [Document, Element, CharacterData] prototypes
enum DomProto : int { kDocumentProto = 0, kElementProto = 1, kCharacterDataProto = 2 };

// The methods and accessors, in JavaScript. Evaluated once per worker heap in
// its template global; the functions only touch their `this` and arguments.
constexpr char kDomSource[] = R"JS((function (global) {
  'use strict';
  function illegal() { throw new TypeError('Illegal constructor'); }
  function hidden(obj, name, value) {
    Object.defineProperty(obj, name, {value: value, writable: true, configurable: true, enumerable: false});
  }
  function getter(obj, name, get) {
    Object.defineProperty(obj, name, {get: get, configurable: true, enumerable: false});
  }
  function Node() { illegal(); }
  function Document() { illegal(); }
  function Element() { illegal(); }
  function CharacterData() { illegal(); }
  Document.prototype = Object.create(Node.prototype);
  Element.prototype = Object.create(Node.prototype);
  CharacterData.prototype = Object.create(Node.prototype);
  hidden(Document.prototype, 'constructor', Document);
  hidden(Element.prototype, 'constructor', Element);
  hidden(CharacterData.prototype, 'constructor', CharacterData);

  // Descendant elements in document order, without recursion.
  hidden(Node.prototype, 'getElementsByTagName', function (name) {
    name = String(name);
    var out = [];
    var stack = [this.childNodes || []];
    var pos = [0];
    while (stack.length) {
      var top = stack.length - 1;
      var list = stack[top];
      if (pos[top] >= list.length) { stack.pop(); pos.pop(); continue; }
      var n = list[pos[top]++];
      if (n && n.nodeType === 1) {
        if (name === '*' || n.tagName === name) out.push(n);
        stack.push(n.childNodes || []);
        pos.push(0);
      }
    }
    return out;
  });
  hidden(Node.prototype, 'hasChildNodes', function () {
    return !!(this.childNodes && this.childNodes.length);
  });
  getter(Node.prototype, 'firstChild', function () {
    var c = this.childNodes;
    return c && c.length ? c[0] : null;
  });
  getter(Node.prototype, 'lastChild', function () {
    var c = this.childNodes;
    return c && c.length ? c[c.length - 1] : null;
  });
  getter(Node.prototype, 'textContent', function () {
    if (this.nodeType === 3 || this.nodeType === 4 || this.nodeType === 8) return this.data;
    if (this.nodeType === 9) return null;
    var out = '';
    var stack = [this.childNodes || []];
    var pos = [0];
    while (stack.length) {
      var top = stack.length - 1;
      var list = stack[top];
      if (pos[top] >= list.length) { stack.pop(); pos.pop(); continue; }
      var n = list[pos[top]++];
      if (!n) continue;
      if (n.nodeType === 3 || n.nodeType === 4) out += n.data;
      else if (n.nodeType === 1) { stack.push(n.childNodes || []); pos.push(0); }
    }
    return out;
  });
  function escape(s, attr) {
    s = String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return attr ? s.replace(/"/g, '&quot;') : s;
  }
  function serialize(n) {
    switch (n && n.nodeType) {
      case 9: return (n.childNodes || []).map(serialize).join('');
      case 3: return escape(n.data, false);
      case 4: return '<![CDATA[' + n.data + ']]>';
      case 8: return '<!--' + n.data + '-->';
      case 1:
        var s = '<' + n.tagName;
        var a = n.attributes || [];
        for (var i = 0; i < a.length; i++) s += ' ' + a[i].name + '="' + escape(a[i].value, true) + '"';
        var c = n.childNodes || [];
        if (!c.length) return s + '/>';
        return s + '>' + c.map(serialize).join('') + '</' + n.tagName + '>';
      default: return '';
    }
  }
  hidden(Node.prototype, 'toJSON', function () { return serialize(this); });
  hidden(Node.prototype, 'toString', function () { return serialize(this); });

  function attribute(el, name) {
    var a = el.attributes || [];
    name = String(name);
    for (var i = 0; i < a.length; i++) if (a[i].name === name) return a[i];
    return null;
  }
  hidden(Element.prototype, 'getAttribute', function (name) {
    var a = attribute(this, name);
    return a ? a.value : null;
  });
  hidden(Element.prototype, 'hasAttribute', function (name) { return attribute(this, name) !== null; });
  getter(Element.prototype, 'children', function () {
    return (this.childNodes || []).filter(function (n) { return n && n.nodeType === 1; });
  });

  hidden(global, 'Node', Node);
  hidden(global, 'Document', Document);
  hidden(global, 'Element', Element);
  hidden(global, 'CharacterData', CharacterData);
  return [Document.prototype, Element.prototype, CharacterData.prototype];
})(this)
)JS";

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

void PutString(duk_context* ctx, duk_idx_t obj, const char* key, const xmlChar* value) {
  if (value == nullptr) {
    duk_push_null(ctx);
  } else {
    duk_push_string(ctx, reinterpret_cast<const char*>(value));
  }
  duk_put_prop_string(ctx, obj, key);
}

std::string QualifiedName(const xmlChar* prefix, const xmlChar* name) {
  std::string out;
  if (prefix != nullptr) {
    out = reinterpret_cast<const char*>(prefix);
    out += ':';
  }
  out += reinterpret_cast<const char*>(name);
  return out;
}

// Pushes the node object for `n`, or nothing (returns false) for node kinds
// the DOM does not offer (processing instructions, entity references, ...).
bool PushNode(duk_context* ctx, duk_idx_t protos, xmlNode* n, duk_idx_t parent);

void PushChildren(duk_context* ctx, duk_idx_t protos, xmlNode* first, duk_idx_t parent) {
  duk_push_array(ctx);
  duk_uarridx_t i = 0;
  for (xmlNode* k = first; k != nullptr; k = k->next) {
    if (PushNode(ctx, protos, k, parent)) duk_put_prop_index(ctx, -2, i++);
  }
}

bool PushNode(duk_context* ctx, duk_idx_t protos, xmlNode* n, duk_idx_t parent) {
  duk_require_stack(ctx, 8);
  switch (n->type) {
    case XML_ELEMENT_NODE: {
      duk_push_object(ctx);
      duk_idx_t obj = duk_normalize_index(ctx, -1);
      duk_get_prop_index(ctx, protos, kElementProto);
      duk_set_prototype(ctx, obj);
      duk_push_int(ctx, 1);
      duk_put_prop_string(ctx, obj, "nodeType");
      std::string qname = QualifiedName(n->ns != nullptr ? n->ns->prefix : nullptr, n->name);
      duk_push_lstring(ctx, qname.data(), qname.size());
      duk_put_prop_string(ctx, obj, "nodeName");
      duk_push_lstring(ctx, qname.data(), qname.size());
      duk_put_prop_string(ctx, obj, "tagName");
      PutString(ctx, obj, "localName", n->name);
      PutString(ctx, obj, "namespaceURI",
                n->ns != nullptr && n->ns->href != nullptr && n->ns->href[0] != 0 ? n->ns->href
                                                                                  : nullptr);
      duk_push_array(ctx);
      duk_uarridx_t i = 0;
      for (xmlAttr* a = n->properties; a != nullptr; a = a->next) {
        duk_push_object(ctx);
        std::string aname = QualifiedName(a->ns != nullptr ? a->ns->prefix : nullptr, a->name);
        duk_push_lstring(ctx, aname.data(), aname.size());
        duk_put_prop_string(ctx, -2, "name");
        duk_push_lstring(ctx, aname.data(), aname.size());
        duk_put_prop_string(ctx, -2, "nodeName");
        std::unique_ptr<xmlChar, decltype(xmlFree)> value(
            xmlNodeListGetString(n->doc, a->children, 1), xmlFree);
        PutString(ctx, -2, "value", value != nullptr ? value.get() : BAD_CAST "");
        duk_push_int(ctx, 2);
        duk_put_prop_string(ctx, -2, "nodeType");
        duk_put_prop_index(ctx, -2, i++);
      }
      // Namespace declarations are attributes in the DOM (and keep the
      // markup of toJSON() equivalent to the input).
      for (xmlNs* ns = n->nsDef; ns != nullptr; ns = ns->next) {
        duk_push_object(ctx);
        std::string aname = ns->prefix != nullptr
                                ? "xmlns:" + std::string(reinterpret_cast<const char*>(ns->prefix))
                                : std::string("xmlns");
        duk_push_lstring(ctx, aname.data(), aname.size());
        duk_put_prop_string(ctx, -2, "name");
        duk_push_lstring(ctx, aname.data(), aname.size());
        duk_put_prop_string(ctx, -2, "nodeName");
        PutString(ctx, -2, "value", ns->href != nullptr ? ns->href : BAD_CAST "");
        duk_push_int(ctx, 2);
        duk_put_prop_string(ctx, -2, "nodeType");
        duk_put_prop_index(ctx, -2, i++);
      }
      duk_put_prop_string(ctx, obj, "attributes");
      PushChildren(ctx, protos, n->children, obj);
      duk_put_prop_string(ctx, obj, "childNodes");
      break;
    }
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
    case XML_COMMENT_NODE: {
      duk_push_object(ctx);
      duk_idx_t obj = duk_normalize_index(ctx, -1);
      duk_get_prop_index(ctx, protos, kCharacterDataProto);
      duk_set_prototype(ctx, obj);
      int type = n->type == XML_TEXT_NODE ? 3 : n->type == XML_CDATA_SECTION_NODE ? 4 : 8;
      duk_push_int(ctx, type);
      duk_put_prop_string(ctx, obj, "nodeType");
      duk_push_string(ctx, type == 3 ? "#text" : type == 4 ? "#cdata-section" : "#comment");
      duk_put_prop_string(ctx, obj, "nodeName");
      const xmlChar* content = n->content != nullptr ? n->content : BAD_CAST "";
      PutString(ctx, obj, "data", content);
      PutString(ctx, obj, "nodeValue", content);
      duk_push_array(ctx);
      duk_put_prop_string(ctx, obj, "childNodes");
      break;
    }
    default:
      return false;
  }
  duk_dup(ctx, parent);
  duk_put_prop_string(ctx, -2, "parentNode");
  return true;
}

}  // namespace

bool LooksLikeXml(std::string_view text) {
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    return c == '<';
  }
  return false;
}

void DefineXmlDom(duk_context* ctx) {
  duk_eval_string(ctx, kDomSource);  // -> [Document.prototype, Element.prototype, CharacterData.prototype]
  duk_push_heap_stash(ctx);
  duk_dup(ctx, -2);
  duk_put_prop_string(ctx, -2, kStashDom);
  duk_pop_2(ctx);
}

bool PushXmlDocument(duk_context* ctx, std::string_view text) {
  if (!LooksLikeXml(text) || text.size() > static_cast<size_t>(INT32_MAX)) return false;
  // No network, no external entities or DTD loading, no entity expansion
  // (predefined entities and character references are still decoded).
  std::unique_ptr<xmlDoc, DocFree> doc(
      xmlReadMemory(text.data(), static_cast<int>(text.size()), "data.xml", nullptr,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (doc == nullptr || xmlDocGetRootElement(doc.get()) == nullptr) return false;
  duk_push_heap_stash(ctx);
  duk_get_prop_string(ctx, -1, kStashDom);
  duk_remove(ctx, -2);
  duk_idx_t protos = duk_normalize_index(ctx, -1);
  duk_push_object(ctx);
  duk_idx_t obj = duk_normalize_index(ctx, -1);
  duk_get_prop_index(ctx, protos, kDocumentProto);
  duk_set_prototype(ctx, obj);
  duk_push_int(ctx, 9);
  duk_put_prop_string(ctx, obj, "nodeType");
  duk_push_string(ctx, "#document");
  duk_put_prop_string(ctx, obj, "nodeName");
  duk_push_null(ctx);
  duk_put_prop_string(ctx, obj, "parentNode");
  PushChildren(ctx, protos, doc->children, obj);
  // documentElement: the (only) element child.
  duk_size_t n = duk_get_length(ctx, -1);
  duk_push_null(ctx);
  for (duk_size_t i = 0; i < n; ++i) {
    duk_get_prop_index(ctx, -2, static_cast<duk_uarridx_t>(i));
    duk_get_prop_string(ctx, -1, "nodeType");
    bool element = duk_get_int(ctx, -1) == 1;
    duk_pop(ctx);
    if (element) {
      duk_replace(ctx, -2);
      break;
    }
    duk_pop(ctx);
  }
  duk_put_prop_string(ctx, obj, "documentElement");
  duk_put_prop_string(ctx, obj, "childNodes");
  duk_remove(ctx, protos);
  return true;
}

}  // namespace orch::js
