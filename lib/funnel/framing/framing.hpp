#pragma once
// The message framings funnel understands, and what to do with a message that is too large.

namespace funnel {

enum class framing { line, length };        // '\n'-terminated, or a u32 big-endian length prefix
enum class oversize_policy { skip, close }; // drop that message, or close its client

const char* to_string(framing f);
const char* to_string(oversize_policy p);

} // namespace funnel
