#include "funnel/spool/file_ops.hpp"

#include <unistd.h>

namespace funnel::spool {

ssize_t file_ops::writev(int fd, const iovec* iov, int count) {
    return ::writev(fd, iov, count);
}

int file_ops::fdatasync(int fd) {
    return ::fdatasync(fd);
}

file_ops& file_ops::system() {
    static file_ops ops;
    return ops;
}

} // namespace funnel::spool
