// A translation unit of its own: <linux/tcp.h> has the field, and it clashes with the
// <netinet/tcp.h> that Asio's headers include.
#include "funnel/message/tcp_acknowledged.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace funnel {

std::optional<std::uint64_t> tcp_bytes_acknowledged(int fd) {
    tcp_info info{};
    socklen_t size = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0 ||
        size < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
        return std::nullopt;
    return info.tcpi_bytes_acked > 0 ? info.tcpi_bytes_acked - 1 : 0; // the SYN counts one
}

} // namespace funnel
