#pragma once
// The real funnel binary run as a child process, for tests of what only the whole program does:
// exit statuses, signals, the environment, config files, file descriptor limits, log output.
//
// stdout and stderr come back through pipes that a background thread reads as the child writes,
// so the child never blocks on a full pipe and the test can wait for a line with a deadline.
// Every wait is bounded. The destructor kills (SIGKILL) and reaps a child that is still running,
// so a failing test never leaves a funnel behind.
//
// Thread-safety: one test thread drives the object; the reader thread only appends the output
// under the mutex.

#include "funnel/net.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <thread>
#include <vector>

#include "support/loopback.hpp"

namespace funnel::test {

// How a child ended: exited with a status, or killed by a signal.
struct exit_status {
    int code = -1;  // the exit status when it exited, else -1
    int signal = 0; // the signal that ended it, else 0

    static exit_status exited(int status) { return {status, 0}; }
    static exit_status killed(int signo) { return {-1, signo}; }
    friend bool operator==(const exit_status&, const exit_status&) = default;
};
std::ostream& operator<<(std::ostream& out, const exit_status& s); // "exit 2", "signal 9 (Killed)"

struct process_options {
    std::vector<std::string> args; // after argv[0]
    // "KEY=VALUE" entries for the child's environment; they replace inherited ones of that KEY.
    std::vector<std::string> environment;
    // Pass this process's environment on, minus any FUNNEL_* variable (those come only from
    // `environment`, so that a developer's shell cannot change what a test sees).
    bool inherit_environment = true;
    // When set, RLIMIT_NOFILE (soft and hard) is lowered to this in the child before exec.
    std::optional<std::uint64_t> max_open_files;
};

class funnel_process {
public:
    // Starts `binary` (an absolute path); throws std::runtime_error when it cannot be run.
    funnel_process(std::string binary, process_options options);
    ~funnel_process();
    funnel_process(const funnel_process&) = delete;
    funnel_process& operator=(const funnel_process&) = delete;

    pid_t pid() const { return pid_; }

    // Sends `signo`; throws std::logic_error once the child has been reaped.
    void send_signal(int signo);

    // The first complete stderr line at index `from_line` or later that contains `text`, waiting
    // up to `timeout` for it; nullopt on timeout or when stderr ends without one.
    std::optional<std::string> wait_for_stderr(std::string_view text,
                                               duration timeout = default_timeout,
                                               std::size_t from_line = 0);

    // The address of the first "listening on ADDRESS, forwarding to ..." line (text or JSON
    // log format), waiting up to `timeout` for it.
    std::optional<tcp::endpoint> wait_for_listening(duration timeout = default_timeout);

    // Reaps the child, waiting up to `timeout`; nullopt if it is still running then. Once it has
    // been reaped, this also waits (briefly) for the pipes to be read to the end, so the output
    // accessors below return everything the child wrote. Later calls return the same status.
    std::optional<exit_status> wait_for_exit(duration timeout = default_timeout);

    // Snapshots of the output so far. stderr_lines() holds complete lines without their '\n'
    // (plus a final unterminated line once stderr has ended).
    std::vector<std::string> stderr_lines() const;
    std::size_t stderr_line_count() const;
    std::string stderr_text() const;
    std::string stdout_text() const;

    // User plus system CPU time the child has used so far (/proc/PID/stat; tick resolution).
    std::chrono::duration<double> cpu_time() const;
    // How many file descriptors the child holds now (/proc/PID/fd).
    std::size_t open_fds() const;

private:
    void read_output(); // the reader thread
    void append(int fd, std::string_view data);
    void end_of_stream(int fd);

    pid_t pid_ = -1;
    std::optional<exit_status> status_;
    int stdout_fd_ = -1;
    int stderr_fd_ = -1;
    int wake_read_fd_ = -1; // the destructor writes to wake_write_fd_ to stop the reader early
    int wake_write_fd_ = -1;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::string stdout_;
    std::string stderr_;
    std::vector<std::string> stderr_lines_;
    std::string stderr_partial_;
    bool stdout_open_ = true;
    bool stderr_open_ = true;
    std::thread reader_;
};

} // namespace funnel::test
