// Subprocesses (asyncio's subprocess.py): create_subprocess_exec / create_subprocess_shell
// and the process they return, on the loop's subprocess_exec / subprocess_shell and the
// stream classes. Natively the child is started with posix_spawn and its exit observed by
// the policy's child watcher (child_watchers.hpp); under Emscripten there are no processes
// and every call raises not_supported_error.
//
//   duet::subprocess_options o;
//   o.std_out = duet::subprocess::pipe;
//   auto p = co_await duet::create_subprocess_exec("/bin/ls", "-l", o);
//   auto [out, err] = co_await p.communicate();
//   int rc = co_await p.wait();
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <duet/child_watchers.hpp>
#include <duet/coro.hpp>
#include <duet/events.hpp>
#include <duet/streams.hpp>
#include <duet/subprocess_options.hpp>
#include <duet/transports.hpp>

namespace duet {

// asyncio.subprocess.SubprocessStreamProtocol: feeds the stdout/stderr readers from the
// child's pipes and gives the stdin writer its flow control; closes the transport once the
// child has exited and every pipe is closed.
class subprocess_stream_protocol : public subprocess_protocol,
                                   public std::enable_shared_from_this<subprocess_stream_protocol> {
public:
    subprocess_stream_protocol(abstract_event_loop& loop, std::size_t limit);
    ~subprocess_stream_protocol() override;

    void connection_made(std::shared_ptr<subprocess_transport> t) override;
    void pipe_data_received(int fd, std::string_view data) override;
    void pipe_connection_lost(int fd, std::exception_ptr error) override;
    void process_exited() override;
    void pause_writing() override;
    void resume_writing() override;
    void connection_lost(std::exception_ptr error) override;

    const stream_writer& std_in() const noexcept { return stdin_; }
    const stream_reader& std_out() const noexcept { return stdout_; }
    const stream_reader& std_err() const noexcept { return stderr_; }

private:
    void maybe_close_transport();
    abstract_event_loop* loop_;
    std::size_t limit_;
    std::shared_ptr<subprocess_transport> transport_;
    // The stdin writer's flow control (drain); fed from the stdin pipe's events.
    std::shared_ptr<stream_reader_protocol> stdin_proto_;
    stream_writer stdin_;
    stream_reader stdout_;
    stream_reader stderr_;
    unsigned pipes_open_ = 0;  // bit fd: that pipe is still open
    bool exited_ = false;
};

// asyncio.subprocess.Process: a cheap copyable handle to a child started by
// create_subprocess_exec / create_subprocess_shell.
class process {
public:
    process() noexcept = default;
    process(std::shared_ptr<subprocess_transport> t, std::shared_ptr<subprocess_stream_protocol> p);

    int pid() const noexcept;
    // Empty until the child is reaped; then its exit status, or -N for signal N.
    std::optional<int> returncode() const noexcept;
    // Waits for the child to exit (and its pipes to close); its returncode. Once the exit
    // is known (returncode() set) it returns at once, even with a pipe still open (asyncio's
    // _wait). Cancelling one wait leaves the child and other waiters as they were.
    coro<int> wait() const;
    // Writes `input` to stdin (if piped), closes stdin, reads stdout and stderr (if piped) to
    // EOF, waits for the exit; (stdout, stderr), empty for a stream not piped. A child that
    // exits without reading its input is not an error (broken pipe / reset are ignored).
    coro<std::pair<std::string, std::string>> communicate(std::string input) const;
    coro<std::pair<std::string, std::string>> communicate() const;
    // Signals the child unless it was reaped already (then nothing happens).
    void send_signal(int sig) const;
    void terminate() const;
    void kill() const;

    // The parent's ends of the pipes: empty handles for fds not set to subprocess::pipe.
    const stream_writer& std_in() const noexcept;
    const stream_reader& std_out() const noexcept;
    const stream_reader& std_err() const noexcept;
    const std::shared_ptr<subprocess_transport>& transport() const noexcept { return transport_; }

    explicit operator bool() const noexcept { return static_cast<bool>(transport_); }

private:
    std::shared_ptr<subprocess_transport> transport_;
    std::shared_ptr<subprocess_stream_protocol> protocol_;
};

// Starts `program` with `args` on the running loop (or `loop`); see
// abstract_event_loop::subprocess_exec for the errors. (Overloads, not default arguments:
// g++ 12 miscompiles a defaulted `= {}` argument evaluated inside a co_await.)
coro<process> create_subprocess_exec(abstract_event_loop& loop, std::string program, std::vector<std::string> args,
                                     subprocess_options opts);
coro<process> create_subprocess_exec(std::string program, std::vector<std::string> args, subprocess_options opts);
coro<process> create_subprocess_exec(std::string program, std::vector<std::string> args);
coro<process> create_subprocess_exec(std::string program);
namespace detail {
inline void add_exec_arg(std::vector<std::string>& args, subprocess_options&, std::string_view a) {
    args.emplace_back(a);
}
inline void add_exec_arg(std::vector<std::string>&, subprocess_options& opts, subprocess_options o) {
    opts = std::move(o);
}
template <class A>
concept exec_arg = std::is_convertible_v<A, std::string_view> || std::is_same_v<std::decay_t<A>, subprocess_options>;
}  // namespace detail

// asyncio's spelling, create_subprocess_exec(program, *args, **options): each argument a
// string, the options (if any) last. Needs no braced list, which g++ 12 cannot compile
// inside a co_await:
//   auto p = co_await duet::create_subprocess_exec("/bin/date", "-u", opts);
template <detail::exec_arg... A>
requires(sizeof...(A) > 0) coro<process> create_subprocess_exec(std::string program, A&&... a) {
    std::vector<std::string> args;
    subprocess_options opts;
    (detail::add_exec_arg(args, opts, std::forward<A>(a)), ...);
    return create_subprocess_exec(std::move(program), std::move(args), std::move(opts));
}

// Runs `cmd` through /bin/sh -c.
coro<process> create_subprocess_shell(abstract_event_loop& loop, std::string cmd, subprocess_options opts);
coro<process> create_subprocess_shell(std::string cmd, subprocess_options opts);
coro<process> create_subprocess_shell(std::string cmd);

}  // namespace duet
