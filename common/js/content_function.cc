#include "common/js/content_function.h"

#include "absl/strings/str_cat.h"

namespace orch::js {
namespace {

using scxml::ContentNode;

class SourceBuilder {
 public:
  explicit SourceBuilder(const CodeLookup& lookup) : lookup_(lookup) {}

  // Collects every text (for FreshName) and checks that all are accepted.
  bool Collect(const std::vector<ContentNode>& nodes) {
    for (const ContentNode& n : nodes) {
      switch (n.kind) {
        case ContentNode::Kind::kAssign:
          if (!Take(n.expr, CodeUse::kValue) || !Take(n.location, CodeUse::kLocation)) return false;
          break;
        case ContentNode::Kind::kIf:
          for (const ContentNode::Branch& b : n.branches) {
            if (b.cond != scxml::DataModel::kNoCode && !Take(b.cond, CodeUse::kValue)) return false;
            if (!Collect(b.body)) return false;
          }
          break;
        case ContentNode::Kind::kForeach:
          if (!Take(n.expr, CodeUse::kValue) || !Take(n.item, CodeUse::kVariable)) return false;
          if (n.index != scxml::DataModel::kNoCode && !Take(n.index, CodeUse::kVariable)) return false;
          ++loops_;
          if (!Collect(n.body)) return false;
          break;
      }
    }
    return true;
  }

  std::string Build(const std::vector<ContentNode>& nodes) {
    p_ = FreshName(texts_);
    std::string out = absl::StrCat("function(", p_, "c,", p_, "d){\"use strict\";var ", p_, "k=0,", p_, "t");
    for (int i = 0; i < loops_; ++i) absl::StrAppend(&out, ",", p_, "a", i, ",", p_, "i", i, ",", p_, "n", i);
    absl::StrAppend(&out, ";try{");
    loops_ = 0;
    Emit(nodes, &out);
    absl::StrAppend(&out, "}catch(", p_, "e){return[", p_, "k,", p_, "e];}}");
    return out;
  }

 private:
  bool Take(uint32_t id, CodeUse use) {
    std::optional<std::string_view> text = lookup_(id, use);
    if (!text.has_value()) return false;
    texts_.push_back(*text);
    return true;
  }

  // The text of a code id accepted by Collect.
  std::string_view Text(uint32_t id, CodeUse use) const { return *lookup_(id, use); }

  // "(text\n)": the newline ends a trailing line comment, as in the
  // program form of the code.
  std::string Paren(uint32_t id, CodeUse use) const {
    std::string out = "(";
    out += Text(id, use);
    out += "\n)";
    return out;
  }

  void Emit(const std::vector<ContentNode>& nodes, std::string* out) {
    for (const ContentNode& n : nodes) {
      switch (n.kind) {
        case ContentNode::Kind::kAssign:
          // The value first, then the location (as the two-call form does).
          absl::StrAppend(out, p_, "k=", n.op, ";", p_, "t=", Paren(n.expr, CodeUse::kValue), ";",
                          Paren(n.location, CodeUse::kLocation), "=", p_, "t;");
          break;
        case ContentNode::Kind::kIf:
          for (size_t b = 0; b < n.branches.size(); ++b) {
            const ContentNode::Branch& br = n.branches[b];
            if (b > 0) absl::StrAppend(out, "else ");
            if (br.cond != scxml::DataModel::kNoCode) {
              absl::StrAppend(out, "if((", p_, "k=", br.op, ",", Paren(br.cond, CodeUse::kValue), ")){");
            } else {
              absl::StrAppend(out, "{");
            }
            Emit(br.body, out);
            absl::StrAppend(out, "}");
          }
          break;
        case ContentNode::Kind::kForeach: {
          const int l = loops_++;
          const std::string a = absl::StrCat(p_, "a", l);
          const std::string i = absl::StrCat(p_, "i", l);
          const std::string len = absl::StrCat(p_, "n", l);
          const std::string item(Text(n.item, CodeUse::kVariable));
          std::string declare = "\"" + item + "\"";
          std::string index_assign;
          if (n.index != scxml::DataModel::kNoCode) {
            const std::string index(Text(n.index, CodeUse::kVariable));
            declare += ",\"" + index + "\"";
            index_assign = index + "=" + i + ";";
          }
          absl::StrAppend(out, p_, "k=", n.op, ";", a, "=", p_, "c(", Paren(n.expr, CodeUse::kValue), ");if(",
                          a, "===void 0)return[", p_, "k];");
          absl::StrAppend(out, "for(", i, "=0,", len, "=", a, ".length;", i, "<", len, ";", i, "++){", p_,
                          "k=", n.step_op, ";if(", i, "===0)", p_, "d(", declare, ");", item, "=", a, "[", i,
                          "];", index_assign);
          Emit(n.body, out);
          absl::StrAppend(out, "}");
          break;
        }
      }
    }
  }

  const CodeLookup& lookup_;
  std::vector<std::string_view> texts_;
  int loops_ = 0;
  std::string p_;  // the prefix of every name of ours
};

}  // namespace

std::string FreshName(const std::vector<std::string_view>& texts) {
  std::string name = "$orch_v";
  for (;;) {
    bool clash = false;
    for (std::string_view t : texts) clash = clash || t.find(name) != std::string_view::npos;
    if (!clash) return name;
    name.push_back('_');
  }
}

uint32_t OperationCode(const std::vector<scxml::ContentNode>& nodes, uint32_t op) {
  constexpr uint32_t kNoCode = scxml::DataModel::kNoCode;
  for (const ContentNode& n : nodes) {
    uint32_t found = kNoCode;
    switch (n.kind) {
      case ContentNode::Kind::kAssign:
        if (n.op == op) return n.location;
        break;
      case ContentNode::Kind::kIf:
        for (const ContentNode::Branch& b : n.branches) {
          if (b.cond != kNoCode && b.op == op) return b.cond;
          if ((found = OperationCode(b.body, op)) != kNoCode) return found;
        }
        break;
      case ContentNode::Kind::kForeach:
        if (n.op == op) return n.expr;
        if (n.step_op == op) return n.item;
        if ((found = OperationCode(n.body, op)) != kNoCode) return found;
        break;
    }
  }
  return kNoCode;
}

std::optional<std::string> ContentFunctionSource(const std::vector<scxml::ContentNode>& nodes,
                                                 const CodeLookup& lookup) {
  SourceBuilder b(lookup);
  if (!b.Collect(nodes)) return std::nullopt;
  return b.Build(nodes);
}

}  // namespace orch::js
