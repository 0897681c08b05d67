// Every target-neutral part of duet (the shared core); <duet/duet.hpp> adds the target's
// own parts on top.
#pragma once

#include <duet/base_events.hpp>
#include <duet/contextvars.hpp>
#include <duet/coro.hpp>
#include <duet/events.hpp>
#include <duet/exceptions.hpp>
#include <duet/executor.hpp>
#include <duet/fibers.hpp>
#include <duet/futures.hpp>
#include <duet/locks.hpp>
#include <duet/policies.hpp>
#include <duet/queues.hpp>
#include <duet/runners.hpp>
#include <duet/streams.hpp>
#include <duet/subprocess.hpp>
#include <duet/tasks.hpp>
#include <duet/version.hpp>
#include <duet/virtual_clock.hpp>
// combinators
#include <duet/exception_group.hpp>
#include <duet/gather.hpp>
#include <duet/shield.hpp>
#include <duet/task_group.hpp>
#include <duet/timeouts.hpp>
#include <duet/wait.hpp>
