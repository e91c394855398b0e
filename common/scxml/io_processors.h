#pragma once

// The Event I/O Processor type URIs of W3C SCXML 1.0 (Appendix C): the
// values of <send type>, _event.origintype and the keys of _ioprocessors.

namespace orch::scxml {

// C.1: events between SCXML sessions (the default <send> type).
inline constexpr char kScxmlEventProcessor[] = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor";
// C.2: events over HTTP POST (common/scxml/basic_http.h).
inline constexpr char kBasicHttpEventProcessor[] = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor";
// <invoke type> of an SCXML session (6.4.1); "scxml" and the URI without
// the trailing slash are accepted too.
inline constexpr char kScxmlInvokeType[] = "http://www.w3.org/TR/scxml/";

}  // namespace orch::scxml
