// The native subprocess transport (asyncio's base_subprocess.py + _UnixSubprocessTransport)
// and the spawner behind abstract_event_loop::subprocess_exec / subprocess_shell, registered
// at static-init time (as default_loop.cpp registers the loop factory).
//
// Order, as asyncio's: the protocol's calls made before connection_made are queued and
// delivered after it; process_exited when the watcher reports the exit; connection_lost
// (then wait() returns) once the child has exited and every pipe is closed.
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <duet/child_watchers.hpp>
#include <duet/child_watchers_native.hpp>
#include <duet/contextvars.hpp>
#include <duet/detail/stream_waiter.hpp>
#include <duet/events.hpp>
#include <duet/sockets.hpp>
#include <duet/subprocess_options.hpp>

#include "spawn.hpp"

namespace duet::native {

namespace {

class process_transport;

// A pipe's protocol: forwards the pipe's events to the process transport (asyncio's
// ReadSubprocessPipeProto / WriteSubprocessPipeProto).
class pipe_protocol final : public protocol {
public:
    pipe_protocol(std::shared_ptr<process_transport> proc, int fd) : proc_(std::move(proc)), fd_(fd) {}
    ~pipe_protocol() override;
    pipe_protocol(const pipe_protocol&) = delete;
    pipe_protocol& operator=(const pipe_protocol&) = delete;
    void data_received(std::string_view data) override;
    void connection_lost(std::exception_ptr error) override;
    void pause_writing() override;
    void resume_writing() override;

private:
    std::shared_ptr<process_transport> proc_;
    int fd_;
};

class process_transport final : public subprocess_transport, public std::enable_shared_from_this<process_transport> {
public:
    process_transport(abstract_event_loop& loop, int pid, int pidfd, std::string program,
                      std::shared_ptr<subprocess_protocol> p)
        : loop_(loop), pid_(pid), pidfd_(pidfd), program_(std::move(program)), protocol_(std::move(p)) {}
    ~process_transport() override { close_pidfd(); }
    process_transport(const process_transport&) = delete;
    process_transport& operator=(const process_transport&) = delete;

    // ---- the spawner's side
    void set_pipe(int fd, std::shared_ptr<transport> t) {
        pipes_[fd] = std::move(t);
        pipe_open_[fd] = true;
    }
    // Queues connection_made (and the calls held back until it) for the next iteration.
    void schedule_connection_made() {
        loop_.call_soon([self = shared_from_this()] { self->deliver_connection_made(); });
    }
    // Waits until connection_made has run (or was dropped by close()).
    coro<void> connected() {
        auto self = shared_from_this();
        if (!made_done_) co_await detail::stream_waiter(made_waiters_);
    }

    // ---- the watcher's side (on the loop thread), in the spawner's context whatever the
    // watcher's (the pipes' callbacks run in it too: their transports were made there)
    void process_exited(int rc) {
        if (returncode_) return;
        const detail::context_scope in_ctx(&ctx_);
        returncode_ = rc;
        close_pidfd();
        call([this] { protocol_->process_exited(); }, "process_exited");
        try_finish();
    }

    // ---- the pipes' side
    void pipe_data_received(int fd, std::string_view data) {
        if (made_) {
            protocol_->pipe_data_received(fd, data);
        } else {
            call([this, fd, d = std::string(data)] { protocol_->pipe_data_received(fd, d); }, "pipe_data_received");
        }
    }
    // The pipe's transport let its protocol go without connection_lost: the loop closed
    // under an open pipe. Nothing will come from the pipes or the loop any more, so the
    // cycle through the protocol (which holds this transport) ends here.
    void pipe_abandoned(int fd) noexcept {
        pipe_open_[fd] = false;
        if (!loop_.is_closed()) return;
        // The protocol hears nothing more (as for a spawn closed before connection_made).
        made_ = false;
        dropped_ = true;
        finished_ = finished_done_ = true;
        pending_.clear();
        auto p = std::move(protocol_);
    }
    void pipe_connection_lost(int fd, std::exception_ptr error) {
        pipe_open_[fd] = false;
        call([this, fd, error] { protocol_->pipe_connection_lost(fd, error); }, "pipe_connection_lost");
        try_finish();
    }
    void pause_writing() {
        call([this] { protocol_->pause_writing(); }, "pause_writing");
    }
    void resume_writing() {
        call([this] { protocol_->resume_writing(); }, "resume_writing");
    }

    // ---- base_transport
    void close() override {
        if (closed_) return;
        closed_ = true;
        for (auto& p : pipes_) {
            if (p) p->close();
        }
        // A child the watcher has not reported is still ours to kill (a reaped one never is).
        if (!returncode_) signal(SIGKILL, false);
        try_finish();
    }
    bool is_closing() const noexcept override { return closed_; }
    std::any get_extra_info(std::string_view name) const override {
        if (name == "pid") return pid_;
        return {};
    }
    std::shared_ptr<base_protocol> get_protocol() const override { return protocol_; }
    void set_protocol(std::shared_ptr<base_protocol> p) override {
        auto sp = std::dynamic_pointer_cast<subprocess_protocol>(std::move(p));
        if (!sp)
            throw std::invalid_argument("set_protocol: process " + std::to_string(pid_) +
                                        " needs a subprocess_protocol");
        protocol_ = std::move(sp);
    }

    // ---- subprocess_transport
    int get_pid() const noexcept override { return pid_; }
    std::optional<int> get_returncode() const noexcept override { return returncode_; }
    std::shared_ptr<transport> get_pipe_transport(int fd) const override {
        if (fd < 0 || fd > 2) return nullptr;
        return pipes_[fd];
    }
    void send_signal(int sig) override { signal(sig, true); }
    void terminate() override { signal(SIGTERM, true); }
    void kill() override { signal(SIGKILL, true); }
    coro<int> wait() override {
        auto self = shared_from_this();
        if (!finished_done_) co_await detail::stream_waiter(exit_waiters_);
        co_return *returncode_;
    }

private:
    // Runs a protocol call now, or after connection_made if it has not run yet; an exception
    // goes to the loop's exception handler.
    template <class F>
    void call(F&& f, const char* what) {
        if (!made_) {
            if (!dropped_) pending_.emplace_back(std::forward<F>(f));
            return;
        }
        run_reported(f, what);
    }
    template <class F>
    void run_reported(F& f, const char* what) noexcept {
        try {
            f();
        } catch (...) {
            exception_context ctx;
            ctx.message = std::string("Exception in subprocess_protocol::") + what + " (process " +
                          std::to_string(pid_) + ", " + program_ + ")";
            ctx.exception = std::current_exception();
            loop_.call_exception_handler(ctx);
        }
    }

    void deliver_connection_made() {
        if (closed_) {
            // Closed before the protocol heard of it (a cancelled spawn): it never will.
            dropped_ = true;
            pending_.clear();
        } else {
            made_ = true;
            auto made = [this] { protocol_->connection_made(shared_from_this()); };
            run_reported(made, "connection_made");
            auto pending = std::move(pending_);
            for (auto& f : pending) run_reported(f, "pipe call");
        }
        made_done_ = true;
        made_waiters_.wake_all();
        // The child may have finished before connection_made went out: connection_lost
        // follows it.
        try_finish();
    }
    // asyncio's _try_finish: the child exited and every pipe is closed.
    void try_finish() {
        if (!returncode_ || lost_scheduled_) return;
        for (int fd = 0; fd < 3; ++fd) {
            if (pipe_open_[fd]) return;
        }
        // A closed loop runs nothing more: then only the cycle with the protocol is ended.
        if (loop_.is_closed()) {
            if (!std::exchange(finished_, true)) protocol_.reset();
            return;
        }
        finished_ = true;
        // Never before connection_made (as asyncio's _call queues it behind): a child can exit
        // while its start is still being confirmed. A transport closed before it heard
        // nothing, and hears nothing now (close() calls this again).
        if (made_done_ || closed_) schedule_connection_lost();
    }
    void schedule_connection_lost() {
        if (std::exchange(lost_scheduled_, true)) return;
        loop_.call_soon([self = shared_from_this()] { self->call_connection_lost(); });
    }
    void call_connection_lost() {
        if (made_) {
            auto lost = [this] { protocol_->connection_lost(nullptr); };
            run_reported(lost, "connection_lost");
        }
        finished_done_ = true;
        exit_waiters_.wake_all();
        // The protocol usually holds this transport: end the cycle.
        protocol_.reset();
    }

    // Signals the child only while it exists: through its pidfd (which cannot name another
    // process), else while waitid still sees it (running or a zombie not yet reaped).
    void signal(int sig, bool raise) {
        if (sig < 0 || sig >= NSIG)
            throw std::invalid_argument("send_signal: invalid signal " + std::to_string(sig) + " for process " +
                                        std::to_string(pid_));
        if (returncode_) return;
        int rc;
        if (pidfd_ >= 0) {
            rc = static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0));
        } else {
            siginfo_t si{};
            if (::waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOHANG | WNOWAIT) != 0) return;
            rc = ::kill(pid_, sig);
        }
        if (rc == 0 || errno == ESRCH || !raise) return;
        if (errno == EINVAL)
            throw std::invalid_argument("send_signal: invalid signal " + std::to_string(sig) + " for process " +
                                        std::to_string(pid_));
        throw os_error(errno, "send_signal " + std::to_string(sig) + " to process " + std::to_string(pid_));
    }
    void close_pidfd() noexcept {
        if (pidfd_ >= 0) ::close(std::exchange(pidfd_, -1));
    }

    abstract_event_loop& loop_;
    detail::context_slot ctx_ = detail::capture_context();
    int pid_;
    int pidfd_;
    std::string program_;
    std::shared_ptr<subprocess_protocol> protocol_;
    std::shared_ptr<transport> pipes_[3];
    bool pipe_open_[3] = {false, false, false};
    std::optional<int> returncode_;
    std::vector<std::function<void()>> pending_;
    detail::stream_waiter_list made_waiters_;
    detail::stream_waiter_list exit_waiters_;
    bool made_ = false;       // connection_made delivered
    bool made_done_ = false;  // connection_made delivered or dropped
    bool dropped_ = false;    // closed before connection_made: the protocol hears nothing
    bool closed_ = false;
    bool finished_ = false;       // exited and every pipe closed: connection_lost queued
    bool finished_done_ = false;  // connection_lost delivered: wait() returns
    bool lost_scheduled_ = false;
};

pipe_protocol::~pipe_protocol() {
    if (proc_) proc_->pipe_abandoned(fd_);
}
void pipe_protocol::data_received(std::string_view data) {
    proc_->pipe_data_received(fd_, data);
}
void pipe_protocol::connection_lost(std::exception_ptr error) {
    // The pipe transport lets this protocol go after this call: so does it the process.
    auto proc = std::move(proc_);
    proc->pipe_connection_lost(fd_, std::move(error));
}
void pipe_protocol::pause_writing() {
    if (proc_) proc_->pause_writing();
}
void pipe_protocol::resume_writing() {
    if (proc_) proc_->resume_writing();
}

// Whether a child started without waiting for its exec got there: 0, or the errno that
// stopped it. The loop watches the child's report pipe; if this coroutine is cancelled, the
// watch stays until the child has exec'd or died, and only then lets its plan go.
coro<int> exec_outcome(abstract_event_loop& loop, std::shared_ptr<pending_exec> p) {
    auto done = loop.create_future<int>();
    const int fd = p->fd();
    const detail::no_context_scope internal;
    loop.add_reader(fd, [&loop, fd, p, done]() mutable {
        auto pending = std::move(p);  // the callable goes with remove_reader
        auto result = std::move(done);
        loop.remove_reader(fd);
        const int e = pending->outcome();
        if (!result.done()) result.set_result(e);
    });
    co_return co_await done;
}

coro<transport_and_protocol<subprocess_transport, subprocess_protocol>> spawn_on(abstract_event_loop& loop,
                                                                                 subprocess_protocol_factory f,
                                                                                 std::vector<std::string> argv,
                                                                                 subprocess_options opts,
                                                                                 const char* method) {
    if (argv.empty() || argv[0].empty()) throw std::invalid_argument(std::string(method) + ": empty program name");
    abstract_child_watcher& watcher = get_child_watcher();
    if (!watcher.is_active())
        throw std::runtime_error(std::string(method) + ": the child watcher (" + watcher.name() +
                                 ") is not active (attach it to a loop); " + argv[0] + " was not started");
    std::shared_ptr<subprocess_protocol> proto = f();
    if (!proto) throw std::runtime_error(std::string(method) + ": the protocol factory returned null");

    spawned_child c = spawn_child(argv, opts, method);
    std::shared_ptr<process_transport> t;
    try {
        const int pidfd = c.pidfd;
        t = std::make_shared<process_transport>(loop, c.pid, pidfd, argv[0], proto);
        c.pidfd = -1;  // the transport's now
        auto on_exit = [t](int, int rc) { t->process_exited(rc); };
        // The pidfd watcher can watch a copy of the spawn's pidfd instead of opening one.
        if (auto* pw = dynamic_cast<pidfd_child_watcher*>(&watcher); pw && pidfd >= 0)
            pw->add_child_handler(c.pid, pidfd, std::move(on_exit));
        else
            watcher.add_child_handler(c.pid, std::move(on_exit));
    } catch (...) {
        // Nobody would reap it: kill and reap it here.
        close_child_fds(c);
        if (t) t->close();
        ::kill(c.pid, SIGKILL);
        while (::waitpid(c.pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        throw;
    }

    // From here the watcher reaps the child whatever happens; a failure or a cancellation
    // kills it, closes every pipe and waits for the exit before raising.
    std::exception_ptr err;
    try {
        // A child started without waiting for its exec: a failure raises here, before its
        // pipes become transports (the watcher reaps it; the pipes are closed below).
        if (c.exec) {
            const int e = co_await exec_outcome(loop, std::move(c.exec));
            if (e != 0) throw os_error(e, std::string(method) + ": cannot start " + argv[0]);
        }
        for (int fd = 0; fd < 3; ++fd) {
            if (c.pipes[fd] < 0) continue;
            const int pfd = std::exchange(c.pipes[fd], -1);
            auto factory = [t, fd] { return std::make_shared<pipe_protocol>(t, fd); };
            transport_and_protocol<transport, pipe_protocol> r;
            try {
                if (fd == 0)
                    r = co_await loop.connect_write_pipe(factory, pfd);
                else
                    r = co_await loop.connect_read_pipe(factory, pfd);
            } catch (...) {
                ::close(pfd);
                throw;
            }
            t->set_pipe(fd, std::move(r.first));
        }
        t->schedule_connection_made();
        co_await t->connected();
    } catch (...) {
        err = std::current_exception();
    }
    if (err) {
        close_child_fds(c);
        t->close();
        try {
            co_await t->wait();
        } catch (...) {
            // Cancelled again: the watcher still reaps the killed child.
        }
        std::rethrow_exception(err);
    }
    transport_and_protocol<subprocess_transport, subprocess_protocol> result{std::move(t), std::move(proto)};
    co_return result;
}

const bool registered = (set_subprocess_spawner(&spawn_on), true);

}  // namespace

}  // namespace duet::native
