#pragma once
// A spdlog sink that keeps every line, for tests that check what funnel logged.

#include <spdlog/sinks/base_sink.h>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace funnel::test {

class log_capture : public spdlog::sinks::base_sink<std::mutex> {
public:
    bool contains(std::string_view text) {
        std::lock_guard lock(mutex_);
        for (const auto& line : lines_)
            if (line.find(text) != std::string::npos)
                return true;
        return false;
    }
    std::string all() {
        std::lock_guard lock(mutex_);
        std::string out;
        for (const auto& line : lines_)
            out += line;
        return out;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(msg, formatted);
        lines_.emplace_back(formatted.data(), formatted.size());
    }
    void flush_() override {}

private:
    std::vector<std::string> lines_;
};

} // namespace funnel::test
