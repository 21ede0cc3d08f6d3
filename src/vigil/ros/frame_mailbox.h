// A one-slot mailbox between a ROS callback (producer) and a worker thread (consumer).
// A live camera does not wait for the detector: when the worker is still busy with a frame,
// the next frame replaces the one waiting (the waiting one is dropped and counted), so the node
// always works on the newest frame and its latency stays bounded instead of growing with a queue.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>

namespace vigil::ros {

template <typename T>
class FrameMailbox {
 public:
  // Puts `item` in the slot; returns true when it replaced a waiting item (a dropped frame).
  bool Put(T item) {
    bool dropped = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      dropped = slot_.has_value();
      slot_ = std::move(item);
      if (dropped) ++dropped_;
    }
    cv_.notify_one();
    return dropped;
  }
  // Blocks until an item is there (returns it) or Close() was called (returns nullopt).
  std::optional<T> Take() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return slot_.has_value() || closed_; });
    if (!slot_) return std::nullopt;
    std::optional<T> item = std::move(slot_);
    slot_.reset();
    return item;
  }
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  uint64_t dropped() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<T> slot_;
  bool closed_ = false;
  uint64_t dropped_ = 0;
};

}  // namespace vigil::ros
