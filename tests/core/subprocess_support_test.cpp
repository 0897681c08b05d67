// Subprocesses on every loop: a loop without a network half (the browser loop, the virtual
// clock, the poll(2) example) has no processes, and loop.subprocess_exec / subprocess_shell
// and create_subprocess_exec / create_subprocess_shell raise not_supported_error naming the
// method and the loop; so does any loop when no spawner is registered (a program without
// duet::duet's native half). (Real children are tested in tests/native/subprocess_test.cpp.)
#include <memory>
#include <string>
#include <vector>

#include <duet/subprocess.hpp>

#include "test_loop.hpp"

namespace duet::test {
namespace {

template <class L>
class SubprocessSupport : public ::testing::Test {};
TYPED_TEST_SUITE(SubprocessSupport, contract_loops);

class quiet_protocol : public subprocess_protocol {};

// Runs `call` and expects not_supported_error whose message names `method` (and `loop`).
template <class F>
void expect_not_supported(const char* method, const std::string& loop, F&& call) {
    try {
        call();
        ADD_FAILURE() << method << " did not raise";
    } catch (const not_supported_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(method), std::string::npos) << m;
        if (!loop.empty()) {
            EXPECT_NE(m.find("\"" + loop + "\""), std::string::npos) << m;
        }
    } catch (const std::exception& e) {
        ADD_FAILURE() << method << " raised something else: " << e.what();
    }
}

template <class Loop>
void expect_no_processes(Loop& loop, const std::string& name) {
    auto factory = [] { return std::make_shared<quiet_protocol>(); };
    expect_not_supported("subprocess_exec", name, [&] {
        loop.run_until_complete(loop.subprocess_exec(factory, "/bin/true", std::vector<std::string>{}));
    });
    expect_not_supported("subprocess_shell", name,
                         [&] { loop.run_until_complete(loop.subprocess_shell(factory, "exit 0")); });
    expect_not_supported("subprocess_exec", name,
                         [&] { loop.run_until_complete(create_subprocess_exec(loop, "/bin/true", {}, {})); });
    expect_not_supported("subprocess_shell", name,
                         [&] { loop.run_until_complete(create_subprocess_shell(loop, "exit 0", {})); });
}

TYPED_TEST(SubprocessSupport, TheLoopHasProcessesOrEveryCallRaises) {
    TypeParam loop;
    if constexpr (TypeParam::has_network) {
        // Without a registered spawner even a loop with pipes has no processes.
        subprocess_spawner saved = set_subprocess_spawner(nullptr);
        expect_no_processes(loop, "");
        set_subprocess_spawner(saved);
    } else {
        expect_no_processes(loop, TypeParam::backend_type::name);
    }
    loop.close();
}

}  // namespace
}  // namespace duet::test
