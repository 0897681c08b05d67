// Task-local context variables (Python's contextvars). A context maps variables to values;
// each task runs in a copy of the context that was current when it was created (or in a
// context passed to create_task), so set() in one task is invisible to the others.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace duet {

namespace detail {

struct context_entry {
    const void* key;
    std::shared_ptr<const void> value;
};
// Copy-on-write: a set() builds a new map, so copying a context is one pointer copy.
using context_map = std::vector<context_entry>;

struct context_state {
    std::shared_ptr<const context_map> map;
    std::atomic<std::uint32_t> refs{1};  // a context may be shared across threads
    bool entered = false;
};

// An owning pointer to a context state: one word, as every task holds one.
class context_slot {
public:
    context_slot() noexcept = default;
    context_slot(std::nullptr_t) noexcept {}  // NOLINT: implicit, as a null pointer
    static context_slot make() { return context_slot(new context_state); }
    context_slot(const context_slot& o) noexcept : p_(o.p_) {
        if (p_) p_->refs.fetch_add(1, std::memory_order_relaxed);
    }
    context_slot(context_slot&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    context_slot& operator=(context_slot o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~context_slot() {
        if (p_ && p_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete p_;
    }
    context_state* get() const noexcept { return p_; }
    context_state* operator->() const noexcept { return p_; }
    context_state& operator*() const noexcept { return *p_; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    friend bool operator==(const context_slot& a, const context_slot& b) noexcept { return a.p_ == b.p_; }

private:
    explicit context_slot(context_state* p) noexcept : p_(p) {}
    context_state* p_ = nullptr;
};

// The thread's own slot (outside tasks and context::run).
context_slot* thread_context_slot() noexcept;
// Null until the thread first asks: constant-initialised, so reading it needs no guard
// (every task step swaps it twice).
inline thread_local context_slot* current_slot = nullptr;
// The slot of the context in force on this thread: the running task's, a context entered
// with context::run, or the thread's own.
inline context_slot*& current_context_slot() noexcept {
    if (!current_slot) [[unlikely]]
        current_slot = thread_context_slot();
    return current_slot;
}
context_slot copy_context_values(const context_slot& cur);
// A fresh context state holding the current values, or null when there are none (a task
// then gets its own state lazily, on its first set()). Inline: every create_task asks.
inline context_slot capture_context() {
    const context_slot& cur = *current_context_slot();
    if (!cur || !cur->map || cur->map->empty()) return nullptr;
    return copy_context_values(cur);
}
const void* lookup(const context_slot& s, const void* key) noexcept;

// Swaps the current slot for a scope (used by task steps and context::run).
class context_scope {
public:
    explicit context_scope(context_slot* s) noexcept : prev_(current_context_slot()) { current_context_slot() = s; }
    ~context_scope() { current_context_slot() = prev_; }
    context_scope(const context_scope&) = delete;
    context_scope& operator=(const context_scope&) = delete;

private:
    context_slot* prev_;
};

// For a registration made on the runtime's own behalf and shared by every task (a
// watcher's poller, its SIGCHLD handler): it runs in no task's context and keeps none alive.
class no_context_scope {
public:
    no_context_scope() noexcept = default;
    no_context_scope(const no_context_scope&) = delete;
    no_context_scope& operator=(const no_context_scope&) = delete;

private:
    context_slot none_;
    context_scope scope_{&none_};
};

}  // namespace detail

class context {
public:
    context() : st_(detail::context_slot::make()) {}

    // Runs f() with this context current (Context.run); std::runtime_error if this
    // context is already entered.
    template <class F>
    decltype(auto) run(F&& f) {
        if (st_->entered) throw std::runtime_error("cannot enter context: it is already entered");
        st_->entered = true;
        struct leave {
            detail::context_state* s;
            ~leave() { s->entered = false; }
        } l{st_.get()};
        detail::context_scope scope(&st_);
        return std::forward<F>(f)();
    }
    std::size_t size() const noexcept { return st_->map ? st_->map->size() : 0; }

    // Internal: the state a task runs in.
    detail::context_slot state() const noexcept { return st_; }

private:
    friend context copy_context();
    explicit context(detail::context_slot s) : st_(std::move(s)) {}
    detail::context_slot st_;
};

// A copy of the current context (contextvars.copy_context).
context copy_context();

template <class T>
class context_var;

template <class T>
class context_token {
public:
    const context_var<T>& var() const noexcept { return *var_; }
    // Whether the variable had a value before the set() that made this token.
    bool had_value() const noexcept { return static_cast<bool>(old_); }

private:
    friend class context_var<T>;
    context_token(const context_var<T>* v, detail::context_slot c, std::shared_ptr<const void> old)
        : var_(v), ctx_(std::move(c)), old_(std::move(old)) {}
    const context_var<T>* var_;
    detail::context_slot ctx_;
    std::shared_ptr<const void> old_;
    bool used_ = false;
};

// A variable whose value depends on the current context. Must outlive the contexts that
// hold a value for it (declare it at namespace scope, as in Python).
template <class T>
class context_var {
public:
    explicit context_var(std::string name) : name_(std::move(name)) {}
    context_var(std::string name, T default_value)
        : name_(std::move(name)), default_(std::make_shared<const T>(std::move(default_value))) {}
    context_var(const context_var&) = delete;
    context_var& operator=(const context_var&) = delete;

    const std::string& name() const noexcept { return name_; }

    // The value in the current context, else the default; std::out_of_range (Python's
    // LookupError) when there is neither.
    T get() const {
        if (auto* v = find()) return *v;
        if (default_) return *default_;
        throw std::out_of_range("context_var '" + name_ + "' has no value");
    }
    T get(T fallback) const {
        if (auto* v = find()) return *v;
        return fallback;
    }

    context_token<T> set(T value) {
        detail::context_slot& slot = *detail::current_context_slot();
        if (!slot) slot = detail::context_slot::make();
        auto old = replace(slot, std::make_shared<const T>(std::move(value)));
        return context_token<T>(this, slot, std::move(old));
    }
    // Restores the value the variable had before token's set(). std::runtime_error if the
    // token was used already; std::invalid_argument if it belongs to another variable or
    // was made in another context.
    void reset(context_token<T>& token) {
        if (token.used_) throw std::runtime_error("Token has already been used once");
        if (token.var_ != this) throw std::invalid_argument("Token was created by a different context_var");
        detail::context_slot& slot = *detail::current_context_slot();
        if (token.ctx_ != slot) throw std::invalid_argument("Token was created in a different Context");
        replace(slot, token.old_);
        token.used_ = true;
    }

private:
    const T* find() const { return static_cast<const T*>(detail::lookup(*detail::current_context_slot(), this)); }
    // Sets (or, with null, removes) this variable's value in slot; returns the old one.
    std::shared_ptr<const void> replace(detail::context_slot& slot, std::shared_ptr<const void> value) {
        auto next = std::make_shared<detail::context_map>();
        std::shared_ptr<const void> old;
        if (slot->map) {
            next->reserve(slot->map->size() + 1);
            for (auto& e : *slot->map) {
                if (e.key == this)
                    old = e.value;
                else
                    next->push_back(e);
            }
        }
        if (value) next->push_back({this, std::move(value)});
        slot->map = std::move(next);
        return old;
    }

    std::string name_;
    std::shared_ptr<const T> default_;
};

}  // namespace duet
