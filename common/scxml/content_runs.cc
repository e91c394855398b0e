#include "common/scxml/content_runs.h"

#include <utility>
#include <vector>

namespace orch::scxml {
namespace {

// Whether `n` can be part of a run: only data-model operations, down to
// its nested content.
bool Runnable(const ExecNode& n) {
  switch (n.kind) {
    case ExecKind::kAssign:
      return n.location != kNoCode && n.expr != kNoCode;
    case ExecKind::kIf:
      for (const ExecNode::Branch& b : n.branches) {
        for (const ExecNode& c : b.body) {
          if (!Runnable(c)) return false;
        }
      }
      return !n.branches.empty() && n.branches[0].cond != kNoCode;
    case ExecKind::kForeach:
      for (const ExecNode& c : n.body) {
        if (!Runnable(c)) return false;
      }
      return n.expr != kNoCode && n.item != kNoCode;
    default:
      return false;
  }
}

class RunBuilder {
 public:
  explicit RunBuilder(Document* doc) : doc_(doc) {}

  void Mark(Block& block) {
    for (size_t i = 0; i < block.size();) {
      size_t j = i;
      while (j < block.size() && Runnable(block[j])) ++j;
      const bool worth = j - i >= 2 || (j - i == 1 && block[i].kind != ExecKind::kAssign);
      if (worth) {
        ContentRun run;
        for (size_t k = i; k < j; ++k) run.nodes.push_back(Convert(block[k], &run));
        block[i].run = static_cast<uint32_t>(doc_->content_runs.size());
        block[i].run_length = static_cast<uint32_t>(j - i);
        doc_->content_runs.push_back(std::move(run));
      }
      for (size_t k = i; k < j; ++k) MarkNested(block[k]);
      if (j == i) {
        MarkNested(block[i]);
        ++j;
      }
      i = j;
    }
  }

 private:
  void MarkNested(ExecNode& n) {
    for (ExecNode::Branch& b : n.branches) Mark(b.body);
    Mark(n.body);
  }

  static uint32_t AddOp(ContentRun* run, const ExecNode& n, const char* tag) {
    run->ops.push_back({n.where, tag});
    return static_cast<uint32_t>(run->ops.size() - 1);
  }

  // Op numbers follow the order of evaluation.
  ContentNode Convert(const ExecNode& n, ContentRun* run) {
    ContentNode c;
    switch (n.kind) {
      case ExecKind::kAssign:
        c.kind = ContentNode::Kind::kAssign;
        c.op = AddOp(run, n, "<assign>");
        c.location = n.location;
        c.expr = n.expr;
        break;
      case ExecKind::kIf:
        c.kind = ContentNode::Kind::kIf;
        for (const ExecNode::Branch& b : n.branches) {
          ContentNode::Branch& out = c.branches.emplace_back();
          out.cond = b.cond;
          if (b.cond != kNoCode) out.op = AddOp(run, n, "<if>");
          for (const ExecNode& e : b.body) out.body.push_back(Convert(e, run));
        }
        break;
      default:  // kForeach (Runnable admits nothing else)
        c.kind = ContentNode::Kind::kForeach;
        c.op = AddOp(run, n, "<foreach>");
        c.step_op = AddOp(run, n, "<foreach>");
        c.expr = n.expr;
        c.item = n.item;
        c.index = n.index;
        for (const ExecNode& e : n.body) c.body.push_back(Convert(e, run));
        break;
    }
    return c;
  }

  Document* doc_;
};

}  // namespace

void BuildContentRuns(Document* doc) {
  doc->content_runs.clear();
  RunBuilder builder(doc);
  for (State& s : doc->states) {
    for (Block& b : s.onentry) builder.Mark(b);
    for (Block& b : s.onexit) builder.Mark(b);
  }
  for (Transition& t : doc->transitions) builder.Mark(t.actions);
  for (Invoke& inv : doc->invokes) builder.Mark(inv.finalize);
  builder.Mark(doc->root_scripts);
}

}  // namespace orch::scxml
