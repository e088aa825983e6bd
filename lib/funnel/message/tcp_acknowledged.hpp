#pragma once
// How many bytes written on a connected TCP socket its peer's kernel has acknowledged.
//
// Read from TCP_INFO's tcpi_bytes_acked (Linux 4.1+), which counts exactly what was
// acknowledged, survives a reset (it can still be read after the connection broke, which is
// when it matters most), and includes the SYN, which is subtracted here.

#include <cstdint>
#include <optional>

namespace funnel {

std::optional<std::uint64_t> tcp_bytes_acknowledged(int fd);

} // namespace funnel
