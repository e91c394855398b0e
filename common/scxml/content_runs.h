#pragma once

// Content runs: consecutive <assign location expr>, <if> and <foreach>
// elements (whose nested content is made of the same) that the data model
// may run in one call instead of one call per operation
// (DataModel::RunContent, data_model.h).
//
//   BuildContentRuns(&doc);  // once, by the compiler
//   // then, for an ExecNode n with n.run != kNoCode:
//   //   dm->RunContent(n.run, doc.content_runs[n.run].nodes) covers
//   //   n and the n.run_length - 1 elements after it in its block.
//
// A run has at least two elements, or is one <if> or <foreach>. Nested
// blocks get runs of their own too, for a data model that does not take
// the enclosing run. Not thread-safe: it modifies the document, before it
// is shared.

#include "common/scxml/document.h"

namespace orch::scxml {

// Fills doc->content_runs and the run/run_length of the first element of
// each run, in every block of the document (not in child documents, which
// are compiled on their own).
void BuildContentRuns(Document* doc);

}  // namespace orch::scxml
