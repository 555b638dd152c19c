// runtime/compute_thread: every task runs on one thread, in order, with exceptions carried back.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <string>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "harness.h"
#include "runtime/compute_thread.h"

using namespace facestyle;

TEST_CASE(tasks_from_many_threads_run_on_one_thread) {
  if (const char* v = std::getenv("FACESTYLE_COMPUTE_THREAD"); v && std::string(v) == "0") {
    SKIP_TEST("FACESTYLE_COMPUTE_THREAD=0 turns the compute thread off");
  }
  std::mutex m;
  std::set<std::thread::id> ran;
  std::atomic<int> inside{0}, overlaps{0}, count{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 6; ++t)
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        runOnComputeThread([&] {
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          {
            std::lock_guard<std::mutex> lock(m);
            ran.insert(std::this_thread::get_id());
          }
          count.fetch_add(1);
          inside.fetch_sub(1);
        });
    });
  for (auto& c : callers) c.join();
  CHECK(count.load() == 300);
  CHECK(ran.size() == 1);           // one compute thread
  CHECK(overlaps.load() == 0);      // one task at a time
  CHECK(ran.count(std::this_thread::get_id()) == 0);
}

TEST_CASE(a_task_sees_the_callers_writes_and_the_caller_sees_the_tasks) {
  int value = 41;
  runOnComputeThread([&] { value += 1; });
  CHECK(value == 42);
}

TEST_CASE(exceptions_come_back_to_the_caller_with_their_type) {
  bool caught = false;
  try {
    runOnComputeThread([] { throw Error(ErrorCode::Shape, "bad shape"); });
  } catch (const Error& e) {
    caught = e.code() == ErrorCode::Shape && std::string(e.what()).find("bad shape") != std::string::npos;
  }
  CHECK(caught);
  // The thread survives a throwing task.
  int after = 0;
  runOnComputeThread([&] { after = 1; });
  CHECK(after == 1);
}

TEST_CASE(a_task_may_queue_another_without_deadlock) {
  int inner = 0;
  runOnComputeThread([&] { runOnComputeThread([&] { inner = 7; }); });
  CHECK(inner == 7);
}

// postToComputeThread (the addon's runs and compiles): returns at once, runs the tasks in the order
// they were posted, on the compute thread, interleaved correctly with runOnComputeThread, and a task
// that throws does not stop the thread.
TEST_CASE(posted_tasks_run_in_order_on_the_compute_thread_without_blocking_the_caller) {
  if (const char* v = std::getenv("FACESTYLE_COMPUTE_THREAD"); v && std::string(v) == "0") {
    SKIP_TEST("FACESTYLE_COMPUTE_THREAD=0 turns the compute thread off");
  }
  std::mutex m;
  std::condition_variable cv;
  std::vector<int> order;
  std::thread::id computeId;
  runOnComputeThread([&] { computeId = std::this_thread::get_id(); });
  bool release = false;
  // The first task blocks until the caller lets it go: post() must return before it finishes.
  postToComputeThread([&] {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return release; });
    order.push_back(0);
  });
  postToComputeThread([] { throw std::runtime_error("a posted task that throws"); });
  bool sameThread = true;
  for (int i = 1; i <= 20; ++i)
    postToComputeThread([&, i] {
      std::lock_guard<std::mutex> lock(m);
      sameThread = sameThread && std::this_thread::get_id() == computeId;
      order.push_back(i);
    });
  {
    std::lock_guard<std::mutex> lock(m);
    CHECK(order.empty());  // still blocked: the posts did not wait
    release = true;
  }
  cv.notify_all();
  int size = 0;
  runOnComputeThread([&] {  // queued after the posts: they have all run when it does
    std::lock_guard<std::mutex> lock(m);
    size = static_cast<int>(order.size());
  });
  CHECK(size == 21);
  bool inOrder = true;
  for (int i = 0; i < size; ++i) inOrder = inOrder && order[i] == i;
  CHECK(inOrder);
  CHECK(sameThread);
}

TEST_MAIN()
