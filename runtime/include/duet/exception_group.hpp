// duet::exception_group: several exceptions raised together (Python's BaseExceptionGroup),
// as task_group reports the failures of its children. C++ has no `except*`; split<E>(),
// subgroup<E>(), contains<E>() and for_each<E>() are its counterpart:
//
//     try {
//         co_await duet::with_task_group(body);
//     } catch (const duet::exception_group& eg) {
//         auto [io, rest] = eg.split<std::ios_base::failure>();
//         if (io) io->for_each<std::ios_base::failure>([](const auto& e) { log(e.what()); });
//         if (rest) throw *rest;    // what `except* OSError:` leaves unhandled
//     }
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace duet {

class exception_group;
// What exception_group::split<E>() returns: the matching part and the rest, each a group
// with the original message and nesting, or nullopt when empty.
struct exception_group_split;

class exception_group : public std::exception {
public:
    // std::invalid_argument if `exceptions` is empty or holds a null exception_ptr (as
    // Python refuses an empty group).
    exception_group(std::string message, std::vector<std::exception_ptr> exceptions);

    // "MESSAGE (N sub-exceptions)", as Python prints a group ("sub-exception" when N is 1).
    const char* what() const noexcept override { return what_.c_str(); }
    // The message without the count.
    const std::string& message() const noexcept { return message_; }
    // The direct members, in order; nested groups stay nested.
    const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }
    std::size_t size() const noexcept { return exceptions_.size(); }

    // The members (recursively, keeping the nesting) whose exception is an E; nullopt if
    // none is. If the group itself is an E (E is exception_group or one of its bases), the
    // whole group matches, as in Python.
    template <class E>
    std::optional<exception_group> subgroup() const;
    // Splits into (what matches E, the rest), each a group with this group's message and
    // nesting or nullopt when empty: `except* E` in C++.
    template <class E>
    exception_group_split split() const;
    // Whether any leaf exception (looking inside nested groups) is an E.
    template <class E>
    bool contains() const;
    // Calls f(const E&) for every leaf (nested groups are looked into, never passed to f)
    // that is an E, depth first in order.
    template <class E, class F>
    void for_each(F&& f) const;

    // Whether the exception in `p` is an E (false for a null pointer).
    template <class E>
    static bool holds(const std::exception_ptr& p) {
        if (!p) return false;
        try {
            std::rethrow_exception(p);
        } catch (const E&) {
            return true;
        } catch (...) {
            return false;
        }
    }

private:
    // (A copy of) the group in `p`, or nullopt if it holds something else.
    static std::optional<exception_group> as_group(const std::exception_ptr& p);

    std::string message_;
    std::vector<std::exception_ptr> exceptions_;
    std::string what_;
};

struct exception_group_split {
    std::optional<exception_group> match;
    std::optional<exception_group> rest;
};

template <class E>
exception_group_split exception_group::split() const {
    if constexpr (std::is_base_of_v<E, exception_group> || std::is_same_v<E, exception_group>) {
        return {*this, std::nullopt};
    } else {
        std::vector<std::exception_ptr> match, rest;
        for (const auto& p : exceptions_) {
            if (auto g = as_group(p)) {
                auto s = g->split<E>();
                if (s.match) match.push_back(std::make_exception_ptr(std::move(*s.match)));
                if (s.rest) rest.push_back(std::make_exception_ptr(std::move(*s.rest)));
            } else if (holds<E>(p)) {
                match.push_back(p);
            } else {
                rest.push_back(p);
            }
        }
        exception_group_split r;
        if (!match.empty()) r.match.emplace(message_, std::move(match));
        if (!rest.empty()) r.rest.emplace(message_, std::move(rest));
        return r;
    }
}

template <class E>
std::optional<exception_group> exception_group::subgroup() const {
    return split<E>().match;
}

template <class E>
bool exception_group::contains() const {
    return split<E>().match.has_value();
}

template <class E, class F>
void exception_group::for_each(F&& f) const {
    for (const auto& p : exceptions_) {
        if (auto g = as_group(p)) {
            g->for_each<E>(f);
            continue;
        }
        try {
            std::rethrow_exception(p);
        } catch (const E& e) {
            f(e);
        } catch (...) {
        }
    }
}

}  // namespace duet
