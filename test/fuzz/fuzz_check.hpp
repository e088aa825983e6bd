#pragma once
// FUZZ_CHECK(condition): an invariant of a fuzz target. When it does not hold, the target says
// which one on stderr and traps, so libFuzzer keeps the input as a crash and the replay test
// (no sanitizer, no libFuzzer) fails on it too. An assert() would vanish with NDEBUG.

#include <cstdio>

namespace funnel::fuzz {

[[noreturn]] inline void invariant_failed(const char* condition, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, condition);
    __builtin_trap();
}

} // namespace funnel::fuzz

#define FUZZ_CHECK(condition)                                                                      \
    ((condition) ? static_cast<void>(0)                                                            \
                 : ::funnel::fuzz::invariant_failed(#condition, __FILE__, __LINE__))
