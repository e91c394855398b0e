// The XML DOM of the ECMAScript data model (xml_dom.h), through the
// DataModel seam: XML values in DeclareData, AssignValue and event data.

#include <memory>
#include <string>
#include <vector>

#include "common/js/ecmascript_data_model.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace orch::js {
namespace {

using ::orch::testing::IsOk;
using ::orch::testing::IsOkAndHolds;
using scxml::CodeKind;
using scxml::CodeSpec;

class Host : public scxml::DataModelHost {
 public:
  bool In(std::string_view) override { return false; }
  int64_t NowMs() override { return 0; }
};

constexpr char kBooks[] = R"(
  <books xmlns="" kind="list">
    <book title="title1">First &amp; <b>bold</b></book>
    <!-- a comment -->
    <book title="title2"/>
    <shelf><book title="nested"/></shelf>
  </books>)";

class XmlDomTest : public ::testing::Test {
 protected:
  uint32_t Expr(std::string text) { return Add(CodeKind::kExpression, std::move(text)); }
  uint32_t Add(CodeKind kind, std::string text) {
    uint32_t id = static_cast<uint32_t>(specs_.size());
    specs_.push_back({id, kind, std::move(text), "dom:" + std::to_string(id)});
    return id;
  }
  std::unique_ptr<scxml::DataModel> Make() {
    auto code = factory_.Compile(specs_);
    EXPECT_THAT(code, IsOk());
    code_ = *code;
    return Fresh();
  }
  std::unique_ptr<scxml::DataModel> Fresh() {
    auto dm = factory_.Create(code_, &host_, {});
    EXPECT_THAT(dm, IsOk());
    EXPECT_THAT((*dm)->Init("s", "n", "{}", 1), IsOk());
    return std::move(*dm);
  }

  std::vector<CodeSpec> specs_;
  EcmascriptDataModelFactory factory_;
  std::shared_ptr<const scxml::CompiledCode> code_;
  Host host_;
};

TEST_F(XmlDomTest, DocumentAndElements) {
  uint32_t doc = Expr(
      "[doc.nodeType, doc.nodeName, doc.documentElement.tagName, doc.childNodes.length,"
      " doc.documentElement.parentNode === doc, doc.parentNode, doc.textContent,"
      " doc instanceof Document, doc.documentElement instanceof Element]");
  uint32_t by_tag = Expr(
      "[doc.getElementsByTagName('book').map(function(b){ return b.getAttribute('title'); }),"
      " doc.getElementsByTagName('*').length, doc.documentElement.getElementsByTagName('books').length,"
      " doc.getElementsByTagName('books').length, doc.getElementsByTagName('none').length]");
  uint32_t attrs = Expr(
      "[doc.documentElement.getAttribute('kind'), doc.documentElement.getAttribute('nope'),"
      " doc.documentElement.hasAttribute('kind'), doc.documentElement.hasAttribute('nope'),"
      " doc.documentElement.attributes.length, doc.documentElement.attributes[0].name,"
      " doc.documentElement.attributes[0].value]");
  uint32_t text = Expr(
      "[doc.getElementsByTagName('book')[0].textContent, doc.documentElement.firstChild.nodeType,"
      " doc.documentElement.children.length, doc.documentElement.childNodes.filter("
      "   function(n){ return n.nodeType === 8; })[0].data, doc.documentElement.lastChild.nodeName,"
      " doc.getElementsByTagName('b')[0].firstChild.nodeValue, doc.hasChildNodes()]");
  auto dm = Make();
  ASSERT_THAT(dm->DeclareData("doc", kBooks), IsOk());
  EXPECT_THAT(dm->EvalValue(doc),
              IsOkAndHolds(R"([9,"#document","books",1,true,null,null,true,true])"));
  EXPECT_THAT(dm->EvalValue(by_tag), IsOkAndHolds(R"([["title1","title2","nested"],6,0,1,0])"));
  EXPECT_THAT(dm->EvalValue(attrs), IsOkAndHolds(R"(["list",null,true,false,2,"kind","list"])"));
  EXPECT_THAT(dm->EvalValue(text),
              IsOkAndHolds(R"(["First & bold",3,3," a comment ","#text","bold",true])"));
}

TEST_F(XmlDomTest, JsonOfANodeIsItsMarkup) {
  uint32_t json = Expr("doc.getElementsByTagName('book')[0]");
  uint32_t nested = Expr("({d: doc.getElementsByTagName('book')[1]})");
  uint32_t string = Expr("doc.getElementsByTagName('book')[1]");
  auto dm = Make();
  ASSERT_THAT(dm->DeclareData("doc", kBooks), IsOk());
  EXPECT_THAT(dm->EvalValue(json),
              IsOkAndHolds(R"("<book title=\"title1\">First &amp; <b>bold</b></book>")"));
  EXPECT_THAT(dm->EvalValue(nested), IsOkAndHolds(R"({"d":"<book title=\"title2\"/>"})"));
  EXPECT_THAT(dm->EvalString(string), IsOkAndHolds(R"(<book title="title2"/>)"));
}

TEST_F(XmlDomTest, NamespacesAndQualifiedNames) {
  uint32_t markup = Expr("doc");
  uint32_t probe = Expr(
      "[doc.documentElement.namespaceURI, doc.documentElement.localName,"
      " doc.getElementsByTagName('p:item')[0].namespaceURI, doc.getElementsByTagName('p:item').length,"
      " doc.getElementsByTagName('item').length]");
  auto dm = Make();
  ASSERT_THAT(dm->DeclareData("doc", R"(<root xmlns="urn:a" xmlns:p="urn:p"><p:item/></root>)"),
              IsOk());
  EXPECT_THAT(dm->EvalValue(probe), IsOkAndHolds(R"(["urn:a","root","urn:p",1,0])"));
  // Namespace declarations are attributes, so the markup keeps them.
  EXPECT_THAT(dm->EvalValue(markup),
              IsOkAndHolds(R"("<root xmlns=\"urn:a\" xmlns:p=\"urn:p\"><p:item/></root>")"));
}

TEST_F(XmlDomTest, EventDataAndAssignValue) {
  uint32_t loc = Add(CodeKind::kLocation, "x");
  uint32_t probe = Expr(
      "[_event.data.getElementsByTagName('book')[1].getAttribute('title'),"
      " x.documentElement.tagName]");
  auto dm = Make();
  ASSERT_THAT(dm->DeclareData("x", "undefined"), IsOk());
  ASSERT_THAT(dm->AssignValue(loc, "<a/>"), IsOk());
  ASSERT_THAT(dm->SetEvent({.name = "e", .type = "external", .data = kBooks}), IsOk());
  EXPECT_THAT(dm->EvalValue(probe), IsOkAndHolds(R"(["title2","a"])"));
}

TEST_F(XmlDomTest, MalformedMarkupIsAString) {
  uint32_t probe = Expr("[typeof doc, doc]");
  auto dm = Make();
  ASSERT_THAT(dm->DeclareData("doc", "<a><b></a>"), IsOk());
  EXPECT_THAT(dm->EvalValue(probe), IsOkAndHolds(R"(["string","<a><b></a>"])"));
}

TEST_F(XmlDomTest, DomSurvivesSnapshotAndIsShared) {
  uint32_t probe = Expr(
      "[doc.getElementsByTagName('book')[2].getAttribute('title'),"
      " doc.documentElement.parentNode === doc, Object.getPrototypeOf(doc) === Document.prototype,"
      " doc.getElementsByTagName('b')[0].textContent, Object.isFrozen(Element.prototype)]");
  uint32_t tamper = Add(CodeKind::kScript, "Element.prototype.getAttribute = null; Document = 1;");
  auto dm = Make();
  ASSERT_THAT(dm->DeclareData("doc", kBooks), IsOk());
  ASSERT_THAT(dm->Execute(tamper), IsOk());
  auto bytes = dm->Serialize();
  ASSERT_THAT(bytes, IsOk());
  auto restored = Fresh();
  ASSERT_THAT(restored->Restore(*bytes), IsOk());
  // `Document = 1` replaced this session's global only; the prototype is the
  // shared one and getAttribute was not changed.
  EXPECT_THAT(restored->EvalValue(probe), IsOkAndHolds(R"(["nested",true,false,"bold",true])"));
  EXPECT_THAT(restored->Serialize(), IsOkAndHolds(*bytes));
  auto other = Fresh();
  ASSERT_THAT(other->DeclareData("doc", kBooks), IsOk());
  EXPECT_THAT(other->EvalValue(probe), IsOkAndHolds(R"(["nested",true,true,"bold",true])"));
}

TEST_F(XmlDomTest, ConstructorsThrow) {
  uint32_t probe = Expr("(function(){ try { new Element(); return 'no'; } catch (e) { return e.name; } })()");
  auto dm = Make();
  EXPECT_THAT(dm->EvalValue(probe), IsOkAndHolds(R"("TypeError")"));
}

}  // namespace
}  // namespace orch::js
