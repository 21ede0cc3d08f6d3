#include "vigil/ros/frame_mailbox.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace vigil::ros {
namespace {

TEST(FrameMailbox, NewerFrameReplacesTheWaitingOneAndCountsTheDrop) {
  FrameMailbox<int> mailbox;
  EXPECT_FALSE(mailbox.Put(1));
  EXPECT_TRUE(mailbox.Put(2));
  EXPECT_TRUE(mailbox.Put(3));
  EXPECT_EQ(mailbox.dropped(), 2u);
  EXPECT_EQ(mailbox.Take(), 3);  // the newest
  EXPECT_FALSE(mailbox.Put(4));  // the slot was empty again
  EXPECT_EQ(mailbox.Take(), 4);
  EXPECT_EQ(mailbox.dropped(), 2u);
}

TEST(FrameMailbox, CloseWakesAWaitingConsumer) {
  FrameMailbox<int> mailbox;
  std::optional<int> got = 7;
  std::thread consumer([&] { got = mailbox.Take(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  mailbox.Close();
  consumer.join();
  EXPECT_FALSE(got.has_value());
}

TEST(FrameMailbox, ConsumerSeesEveryFrameWhenItKeepsUp) {
  FrameMailbox<int> mailbox;
  std::vector<int> seen;         // written by the consumer only, read after join
  std::atomic<size_t> count{0};  // what the producer may look at
  std::thread consumer([&] {
    while (std::optional<int> v = mailbox.Take()) {
      seen.push_back(*v);
      ++count;
    }
  });
  for (int i = 0; i < 20; ++i) {
    // Wait until the consumer emptied the slot, so nothing is dropped.
    while (count.load() < static_cast<size_t>(i)) std::this_thread::yield();
    mailbox.Put(i);
  }
  while (count.load() < 20) std::this_thread::yield();
  mailbox.Close();
  consumer.join();
  EXPECT_EQ(mailbox.dropped(), 0u);
  ASSERT_EQ(seen.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(seen[i], i);
}

}  // namespace
}  // namespace vigil::ros
