// The loop's ready ring after a burst, and the timer heap's order among equal deadlines
// (issue 15: per-task memory).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>
#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)
#include <thread>
#endif

#include "test_loop.hpp"

#include <duet/detail/pool.hpp>
#include <duet/detail/ready_queue.hpp>

namespace duet::test {
namespace {

void no_op(void*, bool) noexcept {}

// The entry's argument is its number.
void* arg_of(std::size_t i) {
    return reinterpret_cast<void*>(i + 1);  // NOLINT(performance-no-int-to-ptr)
}
std::size_t number_of(const detail::ready_entry& e) {
    return reinterpret_cast<std::uintptr_t>(e.arg) - 1;
}

TEST(ReadyQueue, TrimAfterABurstKeepsTheLiveEntriesInOrder) {
    detail::ready_queue q;
    const std::size_t burst = 40000;
    for (std::size_t i = 0; i < burst; ++i) q.push(&no_op, arg_of(i));
    for (std::size_t i = 0; i < burst - 10; ++i) ASSERT_EQ(number_of(q.pop()), i);
    q.trim_after_burst();
    ASSERT_EQ(q.size(), 10u);
    for (std::size_t i = 0; i < 100; ++i) q.push(&no_op, arg_of(burst + i));
    // A batch begun after the trim covers exactly what was queued.
    q.begin_batch();
    std::size_t next = burst - 10;
    while (q.in_batch()) EXPECT_EQ(number_of(q.pop()), next++);
    EXPECT_EQ(next, burst + 100);
    EXPECT_TRUE(q.empty());
    // The ring is still usable at its full size: a second burst wraps around it.
    for (std::size_t i = 0; i < burst; ++i) q.push(&no_op, arg_of(i));
    for (std::size_t i = 0; i < burst; ++i) ASSERT_EQ(number_of(q.pop()), i);
}

TEST(ReadyQueue, TrimLeavesABusyRingAlone) {
    detail::ready_queue q;
    const std::size_t burst = 40000;
    for (std::size_t i = 0; i < burst; ++i) q.push(&no_op, arg_of(i));
    for (std::size_t i = 0; i < burst / 2; ++i) q.pop();
    q.trim_after_burst();  // half the burst is still queued: nothing moves
    ASSERT_EQ(q.size(), burst / 2);
    for (std::size_t i = burst / 2; i < burst; ++i) ASSERT_EQ(number_of(q.pop()), i);
}

#if defined(__linux__) && !defined(__EMSCRIPTEN__) && !defined(DUET_POOL_BYPASS)
long resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f) return -1;
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    std::fclose(f);
    return resident * 4096;
}

// A million tasks made at once grow the ring to 16 MiB; once they have run, the loop gives
// those pages back (natively, where the ring is a mapping of its own).
TEST(ReadyQueue, TrimGivesABurstsPagesBack) {
    detail::ready_queue q;
    const long before = resident_bytes();
    const std::size_t burst = std::size_t{1} << 20;
    for (std::size_t i = 0; i < burst; ++i) q.push(&no_op, arg_of(i));
    const long grown = resident_bytes();
    ASSERT_GT(grown - before, 12L << 20) << "the ring holds 16 MiB of entries";
    for (std::size_t i = 0; i < burst - 1; ++i) q.pop();
    q.trim_after_burst();
    const long trimmed = resident_bytes();
    EXPECT_GT(grown - trimmed, 12L << 20) << "grown " << grown << ", after the trim " << trimmed;
    EXPECT_EQ(number_of(q.pop()), burst - 1);
}
#endif

// The heap keeps equal deadlines in scheduling order across both kinds of timer: sleeping
// tasks (a timer inside the awaiter) and call_at handles, interleaved. When they fall due,
// a handle's callback runs in that turn and a sleeping task's step is queued behind (one
// hop, as asyncio's sleep wakes its task through call_soon): so the callbacks come first,
// in scheduling order, then the tasks, in theirs.
TEST(TimerHeap, EqualDeadlinesOfSleepsAndHandlesRunInSchedulingOrder) {
    test_loop loop;
    std::vector<int> order;
    auto sleeper = [&order](int n) -> coro<void> {
        co_await sleep(1.0);
        order.push_back(n);
    };
    auto main = [&]() -> coro<void> {
        std::vector<task<void>> tasks;
        std::vector<int> handles, sleepers;
        const double when = loop.time() + 1.0;
        for (int i = 0; i < 300; ++i) {
            if (i % 3 == 0) {
                loop.call_at(when, [&order, i] { order.push_back(i); });
                handles.push_back(i);
            } else {
                tasks.push_back(create_task(sleeper(i)));
                co_await sleep(0);  // the task arms its timer now, at this loop time
                sleepers.push_back(i);
            }
        }
        co_await gather(std::move(tasks));
        std::vector<int> expected = handles;
        expected.insert(expected.end(), sleepers.begin(), sleepers.end());
        EXPECT_EQ(order, expected);
    };
    loop.run_until_complete(main());
    loop.close();
}

// Objects of a known size take blocks rounded only to what operator new guarantees: 8
// bytes where that is its alignment (wasm32, where a task is 56 bytes), 16 elsewhere.
TEST(FramePool, FixedSizeObjectsRoundToTheAllocatorsAlignment) {
    struct alignas(8) fifty_six {
        unsigned char bytes[56];
    };
    struct alignas(16) needs_sixteen {
        unsigned char bytes[40];
    };
    const std::size_t step = __STDCPP_DEFAULT_NEW_ALIGNMENT__ <= 8 ? 8 : 16;
    EXPECT_EQ(detail::fixed_class_size<fifty_six>(), step == 8 ? 56u : 64u);
    EXPECT_EQ(detail::fixed_class_size<needs_sixteen>(), 48u) << "an over-aligned object keeps 16-byte steps";
    // Blocks of the class are aligned for their object and do not overlap.
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(detail::allocate_fixed<fifty_six>());
    std::sort(blocks.begin(), blocks.end());
    for (std::size_t i = 0; i < blocks.size(); ++i) {
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(blocks[i]) % alignof(fifty_six), 0u);
        if (i > 0) {
            EXPECT_GE(static_cast<unsigned char*>(blocks[i]) - static_cast<unsigned char*>(blocks[i - 1]), 56);
        }
        std::memset(blocks[i], 0xab, sizeof(fifty_six));
    }
    for (void* b : blocks) detail::deallocate_fixed<fifty_six>(b);
}

#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)
// The free blocks of an exited thread go to the next thread that needs blocks of that
// size: thread churn does not grow the pools. (A size class no other code uses here.)
TEST(FramePool, AnExitedThreadsBlocksAreReusedByTheNextThread) {
    if (!detail::pool_enabled) GTEST_SKIP() << "pools are bypassed under sanitizers";
    constexpr std::size_t size = 1000, count = 5000;  // more than one slab's worth
    std::set<void*> first;
    std::thread([&] {
        std::vector<void*> v;
        for (std::size_t i = 0; i < count; ++i) v.push_back(detail::allocate_frame(size));
        for (void* p : v) {
            first.insert(p);
            detail::deallocate_frame(p, size);
        }
    }).join();
    ASSERT_EQ(first.size(), count);
    std::size_t reused = 0;
    std::thread([&] {
        std::vector<void*> v;
        for (std::size_t i = 0; i < count; ++i) v.push_back(detail::allocate_frame(size));
        for (void* p : v) {
            reused += first.count(p);
            detail::deallocate_frame(p, size);
        }
    }).join();
    EXPECT_EQ(reused, count) << "the second thread took new memory instead of the first one's blocks";
}
#endif

}  // namespace
}  // namespace duet::test
