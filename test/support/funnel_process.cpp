#include "support/funnel_process.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ; // POSIX: the process environment

namespace funnel::test {

namespace {

// The fd number the child reports an exec failure on (close-on-exec, so exec closes it).
constexpr int exec_error_fd = 3;

std::string errno_text(std::string_view what, int err) {
    return std::string(what) + ": " + std::strerror(err);
}

void close_fd(int& fd) {
    if (fd >= 0)
        ::close(fd);
    fd = -1;
}

std::string_view key_of(std::string_view entry) {
    return entry.substr(0, entry.find('='));
}

// The child's environment: the inherited one (if asked) without FUNNEL_* and without the keys
// that `extra` sets, then `extra`.
std::vector<std::string> child_environment(const process_options& options) {
    std::vector<std::string> out;
    if (options.inherit_environment) {
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            const std::string_view entry(*e);
            const std::string_view key = key_of(entry);
            if (key.starts_with("FUNNEL_"))
                continue;
            bool replaced = false;
            for (const auto& x : options.environment)
                replaced = replaced || key_of(x) == key;
            if (!replaced)
                out.emplace_back(entry);
        }
    }
    out.insert(out.end(), options.environment.begin(), options.environment.end());
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// In the child, between fork and exec: only async-signal-safe calls, no allocation.
[[noreturn]] void exec_child(const char* path, char* const* argv, char* const* envp, int out_fd,
                             int err_fd, int report_fd, const process_options& options,
                             pid_t parent) {
    const auto report = [&report_fd](int err) {
        // Best effort: the parent sees an exec failure either way, as exit 127.
        [[maybe_unused]] const auto n = ::write(report_fd, &err, sizeof err);
        ::_exit(127);
    };
    // If the test process dies, so does the child (rather than draining for 30s unattended).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent)
        ::_exit(127);

    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || ::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 ||
        ::dup2(err_fd, STDERR_FILENO) < 0 || ::dup2(report_fd, exec_error_fd) < 0 ||
        ::fcntl(exec_error_fd, F_SETFD, FD_CLOEXEC) < 0)
        report(errno);
    report_fd = exec_error_fd;
    // Nothing else of the test process leaks in: Asio opens its sockets without close-on-exec,
    // and every inherited descriptor would count against the child's RLIMIT_NOFILE.
    if (::close_range(exec_error_fd + 1, ~0U, 0) != 0) {
        for (int fd = exec_error_fd + 1; fd < 65536; ++fd)
            ::close(fd);
    }

    // Exec keeps the signal mask and ignored signals; funnel expects the defaults.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signo : {SIGINT, SIGTERM, SIGPIPE, SIGHUP})
        ::signal(signo, SIG_DFL);

    if (options.max_open_files) {
        const rlimit limit{static_cast<rlim_t>(*options.max_open_files),
                           static_cast<rlim_t>(*options.max_open_files)};
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
            report(errno);
    }
    ::execve(path, argv, envp);
    report(errno);
    ::_exit(127); // not reached; report() exits
}

std::optional<tcp::endpoint> parse_endpoint(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos)
            return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    error_code ec;
    const auto address = net::ip::make_address(std::string(host), ec);
    if (ec || port.empty() || port.size() > 5)
        return std::nullopt;
    unsigned value = 0;
    for (char c : port) {
        if (c < '0' || c > '9')
            return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535)
        return std::nullopt;
    return tcp::endpoint(address, static_cast<std::uint16_t>(value));
}

} // namespace

std::ostream& operator<<(std::ostream& out, const exit_status& s) {
    if (s.signal != 0)
        return out << "signal " << s.signal << " (" << ::strsignal(s.signal) << ")";
    return out << "exit " << s.code;
}

funnel_process::funnel_process(std::string binary, process_options options) {
    // Everything the child needs is built here: after fork it may not allocate.
    std::vector<std::string> args{binary};
    args.insert(args.end(), options.args.begin(), options.args.end());
    std::vector<std::string> env = child_environment(options);
    const std::vector<char*> argv = c_strings(args);
    const std::vector<char*> envp = c_strings(env);

    std::array<int, 2> out{-1, -1};
    std::array<int, 2> err{-1, -1};
    std::array<int, 2> report{-1, -1};
    std::array<int, 2> wake{-1, -1};
    const auto close_all = [&] {
        for (auto* p : {&out, &err, &report, &wake})
            for (int& fd : *p)
                close_fd(fd);
    };
    for (auto* p : {&out, &err, &report, &wake}) {
        if (::pipe2(p->data(), O_CLOEXEC) != 0) {
            const int e = errno;
            close_all();
            throw std::runtime_error(errno_text("pipe2", e));
        }
    }

    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
        const int e = errno;
        close_all();
        throw std::runtime_error(errno_text("fork", e));
    }
    if (pid_ == 0)
        exec_child(binary.c_str(), argv.data(), envp.data(), out[1], err[1], report[1], options,
                   parent);

    close_fd(out[1]);
    close_fd(err[1]);
    close_fd(report[1]);
    // The report pipe reads EOF once exec has closed it, or the errno of what failed.
    int exec_errno = 0;
    ssize_t n = 0;
    do {
        n = ::read(report[0], &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    close_fd(report[0]);
    if (n > 0) {
        int ignored = 0;
        while (::waitpid(pid_, &ignored, 0) < 0 && errno == EINTR) {
        }
        for (int& fd : out)
            close_fd(fd);
        for (int& fd : err)
            close_fd(fd);
        for (int& fd : wake)
            close_fd(fd);
        throw std::runtime_error(errno_text("cannot run " + binary, exec_errno));
    }

    stdout_fd_ = out[0];
    stderr_fd_ = err[0];
    wake_read_fd_ = wake[0];
    wake_write_fd_ = wake[1];
    reader_ = std::thread([this] { read_output(); });
}

funnel_process::~funnel_process() {
    if (!status_) {
        ::kill(pid_, SIGKILL);
        int ignored = 0;
        while (::waitpid(pid_, &ignored, 0) < 0 && errno == EINTR) {
        }
    }
    const char byte = 0;
    [[maybe_unused]] const auto n = ::write(wake_write_fd_, &byte, 1);
    if (reader_.joinable())
        reader_.join();
    close_fd(stdout_fd_);
    close_fd(stderr_fd_);
    close_fd(wake_read_fd_);
    close_fd(wake_write_fd_);
}

void funnel_process::send_signal(int signo) {
    if (status_)
        throw std::logic_error("the child has already been reaped");
    if (::kill(pid_, signo) != 0)
        throw std::runtime_error(errno_text("kill", errno));
}

void funnel_process::read_output() {
    std::array<char, 65536> buf{};
    for (;;) {
        std::array<pollfd, 3> fds{pollfd{stdout_fd_, POLLIN, 0}, pollfd{stderr_fd_, POLLIN, 0},
                                  pollfd{wake_read_fd_, POLLIN, 0}};
        {
            const std::lock_guard lock(mutex_);
            if (!stdout_open_)
                fds[0].fd = -1; // poll ignores negative descriptors
            if (!stderr_open_)
                fds[1].fd = -1;
            if (!stdout_open_ && !stderr_open_)
                return;
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[2].revents != 0)
            break;
        for (std::size_t i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
            if (n > 0)
                append(fds[i].fd, std::string_view(buf.data(), static_cast<std::size_t>(n)));
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                end_of_stream(fds[i].fd);
        }
    }
    // Woken by the destructor, or poll failed: nothing more will be read.
    end_of_stream(stdout_fd_);
    end_of_stream(stderr_fd_);
}

void funnel_process::append(int fd, std::string_view data) {
    {
        const std::lock_guard lock(mutex_);
        if (fd == stdout_fd_) {
            stdout_.append(data);
        } else {
            stderr_.append(data);
            stderr_partial_.append(data);
            std::size_t start = 0;
            for (auto nl = stderr_partial_.find('\n'); nl != std::string::npos;
                 nl = stderr_partial_.find('\n', start)) {
                stderr_lines_.push_back(stderr_partial_.substr(start, nl - start));
                start = nl + 1;
            }
            stderr_partial_.erase(0, start);
        }
    }
    changed_.notify_all();
}

void funnel_process::end_of_stream(int fd) {
    {
        const std::lock_guard lock(mutex_);
        if (fd == stdout_fd_) {
            stdout_open_ = false;
        } else if (stderr_open_) {
            stderr_open_ = false;
            if (!stderr_partial_.empty())
                stderr_lines_.push_back(std::exchange(stderr_partial_, {}));
        }
    }
    changed_.notify_all();
}

std::optional<std::string> funnel_process::wait_for_stderr(std::string_view text, duration timeout,
                                                           std::size_t from_line) {
    std::unique_lock lock(mutex_);
    std::optional<std::string> found;
    std::size_t next = from_line;
    changed_.wait_for(lock, timeout, [&] {
        for (; next < stderr_lines_.size(); ++next) {
            if (stderr_lines_[next].find(text) != std::string::npos) {
                found = stderr_lines_[next];
                return true;
            }
        }
        return !stderr_open_;
    });
    return found;
}

std::optional<tcp::endpoint> funnel_process::wait_for_listening(duration timeout) {
    constexpr std::string_view prefix = "listening on ";
    const auto line = wait_for_stderr(prefix, timeout);
    if (!line)
        return std::nullopt;
    const auto start = line->find(prefix) + prefix.size();
    const auto end = line->find(", forwarding to", start);
    if (end == std::string::npos)
        return std::nullopt;
    return parse_endpoint(std::string_view(*line).substr(start, end - start));
}

std::optional<exit_status> funnel_process::wait_for_exit(duration timeout) {
    if (status_)
        return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int raw = 0;
    for (;;) {
        const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
        if (r == pid_)
            break;
        if (r < 0 && errno != EINTR)
            throw std::runtime_error(errno_text("waitpid", errno));
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        // Polling with a deadline: the pause only spaces the checks.
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (WIFEXITED(raw))
        status_ = exit_status::exited(WEXITSTATUS(raw));
    else
        status_ = exit_status::killed(WIFSIGNALED(raw) ? WTERMSIG(raw) : 0);

    // The pipes end when the child is gone (unless something it started still holds them).
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(5),
                      [this] { return !stdout_open_ && !stderr_open_; });
    return status_;
}

std::vector<std::string> funnel_process::stderr_lines() const {
    const std::lock_guard lock(mutex_);
    return stderr_lines_;
}

std::size_t funnel_process::stderr_line_count() const {
    const std::lock_guard lock(mutex_);
    return stderr_lines_.size();
}

std::string funnel_process::stderr_text() const {
    const std::lock_guard lock(mutex_);
    return stderr_;
}

std::string funnel_process::stdout_text() const {
    const std::lock_guard lock(mutex_);
    return stdout_;
}

std::chrono::duration<double> funnel_process::cpu_time() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so start after the last
    // ')'. Fields 14 and 15 (1-based) are utime and stime, in clock ticks.
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos)
        throw std::runtime_error("cannot read /proc/" + std::to_string(pid_) + "/stat");
    std::istringstream fields(stat.substr(paren + 1));
    std::string skip;
    for (int field = 3; field < 14; ++field)
        fields >> skip;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    fields >> utime >> stime;
    if (!fields)
        throw std::runtime_error("cannot parse /proc/" + std::to_string(pid_) + "/stat");
    const auto ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return std::chrono::duration<double>(static_cast<double>(utime + stime) / ticks_per_second);
}

std::size_t funnel_process::open_fds() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd"))
        ++n;
    return n;
}

} // namespace funnel::test
