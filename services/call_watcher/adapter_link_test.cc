#include "services/call_watcher/adapter_link.h"

#include "gtest/gtest.h"

namespace orch::call_watcher {
namespace {

using V = AdapterSequence::Verdict;

TEST(AdapterSequenceTest, AcksTheContiguousProcessedRun) {
  AdapterSequence s;
  EXPECT_EQ(s.Receive(1), V::kNew);
  EXPECT_EQ(s.Receive(2), V::kNew);
  EXPECT_EQ(s.Receive(3), V::kNew);
  EXPECT_EQ(s.processed(), 0u);
  EXPECT_FALSE(s.Done(2));   // 1 still in flight holds 2 back
  EXPECT_EQ(s.processed(), 0u);
  EXPECT_TRUE(s.Done(1));
  EXPECT_EQ(s.processed(), 2u);
  EXPECT_TRUE(s.Done(3));
  EXPECT_EQ(s.processed(), 3u);
  EXPECT_FALSE(s.Done(3));   // twice: no change
}

TEST(AdapterSequenceTest, DuplicatesAndGaps) {
  AdapterSequence s;
  EXPECT_EQ(s.Receive(1), V::kNew);
  EXPECT_EQ(s.Receive(1), V::kDuplicate);
  EXPECT_EQ(s.Receive(0), V::kDuplicate);
  EXPECT_EQ(s.Receive(3), V::kGap);
  EXPECT_EQ(s.highest(), 1u);
  // Received but in flight: a resend of it is a duplicate, and the resume
  // point stays before it.
  EXPECT_EQ(s.processed(), 0u);
  EXPECT_EQ(s.Receive(2), V::kNew);
}

// A replica that never heard from the adapter (another replica acknowledged
// its earlier events, or this one restarted) starts at its first event.
TEST(AdapterSequenceTest, AReplicaNewToTheAdapterStartsAtItsFirstEvent) {
  AdapterSequence s;
  EXPECT_EQ(s.Receive(101), V::kNew);
  EXPECT_EQ(s.processed(), 100u);   // those were acknowledged elsewhere
  EXPECT_EQ(s.Receive(100), V::kDuplicate);
  EXPECT_EQ(s.Receive(103), V::kGap);
  EXPECT_EQ(s.Receive(102), V::kNew);
  EXPECT_TRUE(s.Done(101));
  EXPECT_EQ(s.processed(), 101u);
}

TEST(ValidateHelloTest, AdapterIdRules) {
  cv1::Hello h;
  EXPECT_FALSE(ValidateHello(h).ok());
  h.set_adapter_id("sim-1.a_b");
  EXPECT_TRUE(ValidateHello(h).ok());
  h.set_adapter_id("bad id");
  EXPECT_FALSE(ValidateHello(h).ok());
  h.set_adapter_id(std::string(65, 'a'));
  EXPECT_FALSE(ValidateHello(h).ok());
}

}  // namespace
}  // namespace orch::call_watcher
