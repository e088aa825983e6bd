#include "funnel/loadtest/output_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

namespace funnel::loadtest {

void write_file_atomically(const std::string& path, std::string_view content) {
    const std::string temp = path + ".tmp." + std::to_string(::getpid());
    const auto fail = [&](const char* what) {
        const int err = errno;
        ::unlink(temp.c_str());
        throw std::runtime_error("cannot write " + path + ": " + what + ": " + std::strerror(err));
    };
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail("open");
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ::close(fd);
            fail("write");
        }
        done += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0)
        fail("close");
    if (std::rename(temp.c_str(), path.c_str()) != 0)
        fail("rename");
}

} // namespace funnel::loadtest
